#include "engine/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "engine/safetensors.h"

namespace sfm {

NpyArray load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  SFM_CHECK(f.good(), path, ": cannot open .npy file");
  uint64_t size = (uint64_t)f.tellg();
  f.seekg(0);
  SFM_CHECK(size >= 10, path, ": not a .npy file (", size, " bytes)");
  char magic[8];
  f.read(magic, 8);
  SFM_CHECK(std::memcmp(magic, "\x93NUMPY", 6) == 0, path, ": not a .npy file (bad magic)");
  int major = (unsigned char)magic[6];
  uint64_t hlen = 0;
  if (major == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    SFM_CHECK(major == 2 || major == 3, path, ": unsupported .npy version ", major);
    unsigned char b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | ((uint64_t)b[3] << 24);
  }
  SFM_CHECK(hlen < 65536 && (uint64_t)f.tellg() + hlen <= size, path, ": truncated .npy header");
  std::string h(hlen, '\0');
  f.read(h.data(), (std::streamsize)hlen);
  auto field = [&](const std::string& key) -> std::string {
    auto p = h.find("'" + key + "'");
    SFM_CHECK(p != std::string::npos, path, ": .npy header lacks '", key, "': ", h);
    p = h.find(':', p);
    SFM_CHECK(p != std::string::npos, path, ": bad .npy header: ", h);
    return h.substr(p + 1);
  };
  std::string descr = field("descr");
  bool f4 = descr.find("'<f4'") != std::string::npos, f8 = descr.find("'<f8'") != std::string::npos;
  SFM_CHECK(f4 || f8, path, ": .npy dtype must be little-endian float32 or float64 ('<f4'/'<f8'), header: ", h);
  SFM_CHECK(field("fortran_order").find("False") != std::string::npos, path, ": Fortran-ordered .npy not supported");
  std::string sh = field("shape");
  auto a = sh.find('('), b = sh.find(')');
  SFM_CHECK(a != std::string::npos && b != std::string::npos && a < b, path, ": bad shape in .npy header: ", h);
  NpyArray out;
  std::stringstream ss(sh.substr(a + 1, b - a - 1));
  std::string item;
  uint64_t n = 1;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    int64_t v = std::stoll(item);
    SFM_CHECK(v >= 0, path, ": negative dimension in .npy shape");
    out.shape.push_back(v);
    n *= (uint64_t)v;
  }
  uint64_t esize = f4 ? 4 : 8;
  uint64_t data_off = (uint64_t)f.tellg();
  SFM_CHECK(data_off + n * esize <= size, path, ": .npy data truncated: shape needs ", n * esize, " bytes, file has ",
            size - data_off);
  out.data.resize(n);
  if (f4) {
    f.read(reinterpret_cast<char*>(out.data.data()), (std::streamsize)(n * 4));
  } else {
    std::vector<double> tmp(n);
    f.read(reinterpret_cast<char*>(tmp.data()), (std::streamsize)(n * 8));
    for (uint64_t i = 0; i < n; ++i) out.data[i] = (float)tmp[i];
  }
  SFM_CHECK(f.good(), path, ": read failed");
  return out;
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
