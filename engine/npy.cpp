#include "engine/npy.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "boundary/error.h"
#include "engine/file_io.h"

namespace sfm {

namespace {

// One dimension of the header's shape tuple: decimal digits only (Python 2 writers may add an
// 'L'), at most 2^40 (no real array comes near; it keeps every product below 2^64).
int64_t parse_dim(const std::string& name, const std::string& item, const std::string& header) {
  size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \tL");
  SFM_CHECK(a != std::string::npos && b != std::string::npos && a <= b, name, ": bad shape entry '", item,
            "' in .npy header: ", header);
  const std::string digits = item.substr(a, b - a + 1);
  SFM_CHECK(digits.find_first_not_of("0123456789") == std::string::npos, name, ": shape entry '", digits,
            "' in .npy header is not a non-negative integer: ", header);
  SFM_CHECK(digits.size() <= 13, name, ": shape entry ", digits, " in .npy header is too large");
  const uint64_t v = std::stoull(digits);
  SFM_CHECK(v <= (uint64_t(1) << 40), name, ": shape entry ", v, " in .npy header is too large (limit 2^40)");
  return (int64_t)v;
}

}  // namespace

NpyArray parse_npy(const std::string& bytes, const std::string& name) {
  const uint64_t size = bytes.size();
  SFM_CHECK(size >= 10, name, ": not a .npy file (", size, " bytes)");
  SFM_CHECK(std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0, name, ": not a .npy file (bad magic)");
  const int major = (unsigned char)bytes[6];
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  uint64_t hlen = 0, pos = 0;
  if (major == 1) {
    hlen = u[8] | (u[9] << 8);
    pos = 10;
  } else {
    SFM_CHECK(major == 2 || major == 3, name, ": unsupported .npy version ", major);
    SFM_CHECK(size >= 12, name, ": truncated .npy header");
    hlen = u[8] | (u[9] << 8) | (u[10] << 16) | ((uint64_t)u[11] << 24);
    pos = 12;
  }
  SFM_CHECK(hlen < 65536 && pos + hlen <= size, name, ": truncated .npy header");
  const std::string h = bytes.substr(pos, hlen);
  pos += hlen;
  auto field = [&](const std::string& key) -> std::string {
    auto p = h.find("'" + key + "'");
    SFM_CHECK(p != std::string::npos, name, ": .npy header lacks '", key, "': ", h);
    p = h.find(':', p);
    SFM_CHECK(p != std::string::npos, name, ": bad .npy header: ", h);
    return h.substr(p + 1);
  };
  const std::string descr = field("descr");
  const bool f4 = descr.find("'<f4'") != std::string::npos, f8 = descr.find("'<f8'") != std::string::npos;
  SFM_CHECK(f4 || f8, name, ": .npy dtype must be little-endian float32 or float64 ('<f4'/'<f8'), header: ", h);
  SFM_CHECK(field("fortran_order").find("False") != std::string::npos, name, ": Fortran-ordered .npy not supported");
  const std::string sh = field("shape");
  const auto a = sh.find('('), b = sh.find(')');
  SFM_CHECK(a != std::string::npos && b != std::string::npos && a < b, name, ": bad shape in .npy header: ", h);
  NpyArray out;
  std::stringstream ss(sh.substr(a + 1, b - a - 1));
  std::string item;
  uint64_t n = 1;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" \t") == std::string::npos) continue;  // the trailing comma of (n,)
    const int64_t v = parse_dim(name, item, h);
    out.shape.push_back(v);
    // Each dim <= 2^40 and the product checked against the bytes present, so no product wraps.
    SFM_CHECK(v == 0 || n <= (size / 4) / (uint64_t)v + 1, name, ": .npy shape ", sh.substr(a, b - a + 1),
              " needs more data than the file's ", size, " bytes");
    n *= (uint64_t)v;
  }
  SFM_CHECK(out.shape.size() <= 8, name, ": .npy shape has ", out.shape.size(), " dimensions (at most 8 supported)");
  const uint64_t esize = f4 ? 4 : 8;
  SFM_CHECK(n <= (size - pos) / esize && n * esize == size - pos, name, ": .npy data ",
            n * esize > size - pos ? "truncated" : "longer than its shape", ": shape needs ", n * esize,
            " bytes, file has ", size - pos);
  out.data.resize(n);
  if (f4) {
    if (n > 0) std::memcpy(out.data.data(), bytes.data() + pos, n * 4);  // data() may be null when n == 0
  } else {
    for (uint64_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, bytes.data() + pos + 8 * i, 8);
      out.data[i] = (float)d;
    }
  }
  return out;
}

NpyArray load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SFM_CHECK(f.good(), path, ": cannot open .npy file");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  SFM_CHECK(!f.bad(), path, ": read failed");
  return parse_npy(bytes, path);
}

void save_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  std::ostringstream sh;
  sh << "(";
  uint64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    sh << shape[i] << (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
    n *= (uint64_t)shape[i];
  }
  sh << ")";
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': " + sh.str() + ", }";
  while ((10 + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::string bytes = "\x93NUMPY";
  bytes.push_back(1);
  bytes.push_back(0);
  bytes.push_back((char)(h.size() & 0xff));
  bytes.push_back((char)(h.size() >> 8));
  bytes += h;
  bytes.append(reinterpret_cast<const char*>(data), n * 4);
  write_file_atomic(path, bytes);
}

}  // namespace sfm
