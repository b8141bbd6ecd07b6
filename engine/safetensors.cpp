#include "engine/safetensors.h"

#include "engine/file_io.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

namespace sfm {

using json = nlohmann::json;

SafeTensors load_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SFM_CHECK(f.good(), path, ": cannot open safetensors file");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  SFM_CHECK(!f.bad(), path, ": read failed");
  return parse_safetensors(bytes, path);
}

SafeTensors parse_safetensors(const std::string& bytes, const std::string& path) {
  const uint64_t file_size = bytes.size();
  SFM_CHECK(file_size >= 8, path, ": truncated safetensors file (", file_size, " bytes, no header length)");
  const auto* len_bytes = reinterpret_cast<const unsigned char*>(bytes.data());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  SFM_CHECK(n <= kMaxSafetensorsHeader, path, ": safetensors header of ", n, " bytes exceeds the ",
            kMaxSafetensorsHeader, "-byte limit");
  SFM_CHECK(8 + n <= file_size, path, ": truncated safetensors file: header says ", n, " bytes but the file has ",
            file_size - 8, " after the length");
  const std::string header = bytes.substr(8, n);
  json h;
  try {
    h = json::parse(header);
  } catch (const std::exception& e) {
    fail(path, ": safetensors header is not valid JSON: ", e.what());
  }
  SFM_CHECK(h.is_object(), path, ": safetensors header is not a JSON object");
  uint64_t data_size = file_size - 8 - n;
  SafeTensors out;
  struct Span {
    uint64_t b, e;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      SFM_CHECK(it->is_object(), path, ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        SFM_CHECK(m->is_string(), path, ": __metadata__ value '", m.key(), "' is not a string");
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const json& e = *it;
    SFM_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), path,
              ": tensor '", name, "' lacks dtype, shape or data_offsets");
    SFM_CHECK(e["dtype"].is_string(), path, ": tensor '", name, "': dtype is not a string");
    std::string dt = e["dtype"].get<std::string>();
    DType dtype;
    if (dt == "F32")
      dtype = DType::F32;
    else if (dt == "F64")
      dtype = DType::F64;
    else
      fail(path, ": tensor '", name, "' has dtype ", dt, "; only F32 and F64 are supported");
    SFM_CHECK(e["shape"].is_array() && e["shape"].size() <= (size_t)Shape::kMaxDims, path, ": tensor '", name,
              "': shape must be an array of at most ", Shape::kMaxDims, " dims");
    std::vector<int64_t> dims;
    uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      SFM_CHECK(d.is_number_unsigned(), path, ": tensor '", name, "': shape entries must be non-negative integers");
      uint64_t v = d.get<uint64_t>();
      SFM_CHECK(v < (1ull << 40) && numel * std::max<uint64_t>(v, 1) < (1ull << 40), path, ": tensor '", name,
                "': shape too large");
      numel *= v;
      dims.push_back((int64_t)v);
    }
    const json& off = e["data_offsets"];
    SFM_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), path,
              ": tensor '", name, "': data_offsets must be two non-negative integers");
    uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    SFM_CHECK(b <= en && en <= data_size, path, ": tensor '", name, "': data_offsets [", b, ", ", en,
              "] fall outside the ", data_size, "-byte data section");
    SFM_CHECK(en - b == numel * dtype_size(dtype), path, ": tensor '", name, "': ", en - b, " bytes for shape ",
              Shape(dims).str(), " of ", dt, " (expected ", numel * dtype_size(dtype), ")");
    spans.push_back({b, en, name});
    Tensor t = Tensor::empty(Shape(dims), dtype, Device::CPU);
    if (en > b) std::memcpy(t.raw_data(), bytes.data() + 8 + n + b, en - b);
    out.tensors[name] = t;
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& c) { return a.b < c.b; });
  for (size_t i = 1; i < spans.size(); ++i)
    SFM_CHECK(spans[i].b >= spans[i - 1].e || spans[i].b == spans[i].e || spans[i - 1].b == spans[i - 1].e, path,
              ": tensors '", spans[i - 1].name, "' and '", spans[i].name, "' overlap");
  return out;
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  for (const auto& [name, t] : tensors) {
    SFM_CHECK(t.defined(), "save_safetensors ", path, ": tensor '", name, "' is undefined");
    h[name] = {{"dtype", t.dtype() == DType::F32 ? "F32" : "F64"},
               {"shape", t.shape().vec()},
               {"data_offsets", {off, off + t.nbytes()}}};
    off += t.nbytes();
  }
  std::string header = h.dump();
  while ((8 + header.size()) % 8) header.push_back(' ');  // align the data section
  std::string bytes;
  bytes.reserve(8 + header.size() + off);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes.push_back((char)((n >> (8 * i)) & 0xff));
  bytes += header;
  for (const auto& [name, t] : tensors) {
    Tensor c = t.to(Device::CPU);
    bytes.append(static_cast<const char*>(c.raw_data()), c.nbytes());
  }
  write_file_atomic(path, bytes);
}

}  // namespace sfm
