#include "eval/image_bytes.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>

#include "boundary/error.h"

namespace sfm {

namespace {
uint32_t be32(const unsigned char* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
// A header that claims more than kMaxImageSide pixels a side (a damaged or hostile file) is
// refused before any decoder allocates for it.
std::string size_problem(const char* format, uint64_t w, uint64_t h) {
  if (w <= kMaxImageSide && h <= kMaxImageSide) return "";
  return std::string(format) + " header claims " + std::to_string(w) + "x" + std::to_string(h) +
         " pixels (at most " + std::to_string(kMaxImageSide) + " a side)";
}
}  // namespace

std::string image_bytes_problem(const unsigned char* d, size_t n) {
  static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 8 && std::equal(png_sig, png_sig + 8, d)) {
    size_t p = 8;
    while (true) {
      if (n - p < 12) return "truncated PNG: the file ends before its IEND chunk";
      uint64_t len = be32(d + p);
      if (len > n - p - 12) return "truncated PNG: a chunk runs past the end of the file";
      if (std::equal(d + p + 4, d + p + 8, "IEND")) return "";
      if (std::equal(d + p + 4, d + p + 8, "IHDR") && len >= 8) {
        std::string why = size_problem("PNG", be32(d + p + 8), be32(d + p + 12));
        if (!why.empty()) return why;
      }
      p += 12 + (size_t)len;
    }
  }
  if (n >= 2 && d[0] == 0xFF && d[1] == 0xD8) {
    // Walk the marker segments to the first start-of-scan, then look for end-of-image after it
    // (inside entropy-coded data FF is always followed by 00 or a restart marker).
    size_t p = 2;
    while (true) {
      if (p + 2 > n) return "truncated JPEG: the file ends before the scan data";
      if (d[p] != 0xFF) return "damaged JPEG: no marker where one is expected";
      unsigned char m = d[p + 1];
      if (m == 0xFF) {
        ++p;  // fill byte
        continue;
      }
      if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
        p += 2;
        continue;
      }
      if (m == 0xD9) return "damaged JPEG: end-of-image before any scan data";
      if (p + 4 > n) return "truncated JPEG: the file ends inside a marker segment";
      size_t len = (size_t)d[p + 2] << 8 | d[p + 3];
      if (len < 2) return "damaged JPEG: a marker segment of length < 2";
      if (len > n - p - 2) return "truncated JPEG: a marker segment runs past the end of the file";
      // Start of frame (SOF0..SOF15 but DHT C4, JPG C8, DAC CC): P, height, width.
      if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && len >= 7) {
        std::string why = size_problem("JPEG", (uint64_t)d[p + 7] << 8 | d[p + 8], (uint64_t)d[p + 5] << 8 | d[p + 6]);
        if (!why.empty()) return why;
      }
      p += 2 + len;
      if (m == 0xDA) break;  // start of scan: the entropy-coded data follows
    }
    for (size_t q = p; q + 1 < n; ++q)
      if (d[q] == 0xFF && d[q + 1] == 0xD9) return "";
    return "truncated JPEG: no end-of-image marker after the scan data";
  }
  return "";
}

std::string read_image_file_checked(const std::string& path, const std::string& who) {
  std::ifstream f(path, std::ios::binary);
  SFM_CHECK(f.good(), who, ": cannot read image ", path, " (missing or unreadable)");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string why = image_bytes_problem(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  SFM_CHECK(why.empty(), who, ": cannot decode image ", path, ": the file is truncated or damaged (", why, ")");
  return bytes;
}

}  // namespace sfm
