// File formats of the engine: safetensors and .npy, including their bad-input paths.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <filesystem>

#include "engine/npy.h"
#include "engine/rng.h"
#include "engine/safetensors.h"

using namespace sfm;
namespace fs = std::filesystem;

static std::string tmp_path(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_io";
  fs::create_directories(d);
  return (d / name).string();
}
static void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), (std::streamsize)bytes.size());
}
static std::string with_header(const std::string& json, const std::string& data) {
  std::string b;
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) b.push_back((char)((n >> (8 * i)) & 0xff));
  return b + json + data;
}

TEST_CASE("safetensors: round trip with metadata", "[io]") {
  Rng rng(5);
  std::map<std::string, Tensor> ts{{"a.weight", randn(Shape{2, 3, 3, 3}, rng)},
                                   {"b", randn(Shape{4}, rng, 1.0, DType::F64)}};
  std::string p = tmp_path("rt.safetensors");
  save_safetensors(p, ts, {{"format", "pt"}});
  REQUIRE_FALSE(fs::exists(p + ".tmp"));
  SafeTensors st = load_safetensors(p);
  REQUIRE(st.metadata.at("format") == "pt");
  REQUIRE(st.tensors.size() == 2);
  REQUIRE(st.tensors.at("a.weight").to_vector() == ts["a.weight"].to_vector());
  REQUIRE(st.tensors.at("b").dtype() == DType::F64);
  REQUIRE(st.tensors.at("b").to_vector_f64() == ts["b"].to_vector_f64());
}

TEST_CASE("safetensors: bad files give errors naming the file and tensor", "[io]") {
  std::string p = tmp_path("bad.safetensors");
  write_raw(p, "abc");
  REQUIRE_THROWS_WITH(load_safetensors(p), Catch::Contains(p) && Catch::Contains("truncated"));
  std::string big(8, '\0');
  big[7] = 0x10;  // header length 2^60
  write_raw(p, big);
  REQUIRE_THROWS_WITH(load_safetensors(p), Catch::Contains("exceeds"));
  write_raw(p, with_header("{\"x\":", ""));
  REQUIRE_THROWS_WITH(load_safetensors(p), Catch::Contains("not valid JSON"));
  write_raw(p, with_header(R"({"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", "ab"));
  REQUIRE_THROWS_WITH(load_safetensors(p), Catch::Contains("'x'") && Catch::Contains("F16"));
  write_raw(p, with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "abcd"));
  REQUIRE_THROWS_WITH(load_safetensors(p), Catch::Contains("'x'") && Catch::Contains("outside"));
  write_raw(p, with_header(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "abcdefgh"));
  REQUIRE_THROWS_WITH(load_safetensors(p), Catch::Contains("'x'") && Catch::Contains("expected 12"));
  write_raw(p, with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                           "abcdefgh"));
  REQUIRE_THROWS_WITH(load_safetensors(p), Catch::Contains("overlap"));
  REQUIRE_THROWS_WITH(load_safetensors(tmp_path("missing.safetensors")), Catch::Contains("cannot open"));
}

TEST_CASE("npy: round trip and bad files", "[io]") {
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  std::string p = tmp_path("a.npy");
  save_npy(p, v.data(), {2, 3});
  NpyArray a = load_npy(p);
  REQUIRE(a.shape == std::vector<int64_t>{2, 3});
  REQUIRE(a.data == v);
  write_raw(p, "\x93NUMPX\x01\x00");
  REQUIRE_THROWS_WITH(load_npy(p), Catch::Contains(p));
  std::string h = "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }";
  std::string b = std::string("\x93NUMPY\x01\x00", 8);
  b.push_back((char)h.size());
  b.push_back(0);
  write_raw(p, b + h + "abcd");
  REQUIRE_THROWS_WITH(load_npy(p), Catch::Contains("float32"));
}
