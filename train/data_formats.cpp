#include "train/data_formats.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <iterator>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace sfm {

std::vector<std::string> tokens(const std::string& s) {
  std::istringstream is(s);
  std::vector<std::string> t;
  std::string w;
  while (is >> w) t.push_back(w);
  return t;
}

namespace {
bool to_double(const std::string& tok, double& v) {
  errno = 0;
  char* end = nullptr;
  v = std::strtod(tok.c_str(), &end);
  return !tok.empty() && end == tok.c_str() + tok.size() && errno != ERANGE;
}
}  // namespace

std::vector<double> parse_numbers_text(const std::string& text, const std::string& where) {
  std::string s = text;
  for (char& c : s)
    if (c == ',') c = ' ';
  std::vector<double> out;
  for (const auto& tok : tokens(s)) {
    double v = 0;
    SFM_CHECK(to_double(tok, v), where, ": '", tok, "' is not a number");
    out.push_back(v);
  }
  return out;
}

std::string intrinsics_problem(const std::vector<double>& k) {
  if (k.size() != 9) return "expected 9 numbers (3x3 intrinsics), found " + std::to_string(k.size());
  for (double v : k)
    if (!std::isfinite(v)) return "the intrinsics hold a non-finite value (nan or inf)";
  if (!(k[0] > 0) || !(k[4] > 0))
    return "the focal lengths fx = " + std::to_string(k[0]) + ", fy = " + std::to_string(k[4]) +
           " must be positive";
  if (k[6] != 0 || k[7] != 0 || k[8] != 1) return "the last row of the intrinsics must be 0 0 1";
  return "";
}

std::vector<std::array<double, 12>> parse_poses_text(const std::string& text, const std::string& where) {
  std::istringstream is(text);
  std::string line;
  std::vector<std::array<double, 12>> out;
  int ln = 0;
  while (std::getline(is, line)) {
    ++ln;
    auto t = tokens(line);
    if (t.empty()) continue;
    SFM_CHECK(t.size() == 12, where, ": line ", ln, " has ", t.size(), " numbers, expected 12");
    std::array<double, 12> T{};
    for (int i = 0; i < 12; ++i) {
      SFM_CHECK(to_double(t[i], T[i]), where, ": line ", ln, ": '", t[i], "' is not a number");
      SFM_CHECK(std::isfinite(T[i]), where, ": line ", ln, ": '", t[i], "' is not a finite number");
    }
    out.push_back(T);
  }
  return out;
}

std::vector<std::string> split_list_lines(const std::string& text) {
  std::istringstream is(text);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(is, line)) {
    while (!line.empty() && std::isspace((unsigned char)line.back())) line.pop_back();
    size_t b = 0;
    while (b < line.size() && std::isspace((unsigned char)line[b])) ++b;
    out.push_back(line.substr(b));
  }
  return out;
}

}  // namespace sfm
