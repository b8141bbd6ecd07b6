#pragma once
// Errors: every failure is an sfm::Error whose message names what went wrong and where.
#include <sstream>
#include <stdexcept>
#include <string>

namespace sfm {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... R>
void append(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from pieces: fail("conv2d: weight ", shape.str(), " ...").
template <class... A>
[[noreturn]] void fail(const A&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw Error(os.str());
}

}  // namespace sfm

#define SFM_CHECK(cond, ...)                     \
  do {                                           \
    if (!(cond)) ::sfm::fail(__VA_ARGS__);       \
  } while (0)
