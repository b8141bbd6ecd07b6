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

// A .npy file with the given header dict and data bytes (version 1.0).
static std::string npy_bytes(const std::string& dict, const std::string& data) {
  std::string b = std::string("\x93NUMPY\x01\x00", 8);
  b.push_back((char)(dict.size() & 0xff));
  b.push_back((char)(dict.size() >> 8));
  return b + dict + data;
}

TEST_CASE("npy: shapes that overflow, wrap or are not numbers are refused by name", "[io]") {
  const std::string p = tmp_path("bad_shape.npy");
  auto with_shape = [](const std::string& shape, size_t data_bytes) {
    return npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }", std::string(data_bytes, '\0'));
  };
  // 2^32 x 2^32 floats: the product wraps to 0 in 64 bits (a wrap once read an empty array).
  write_raw(p, with_shape("(4294967296, 4294967296)", 16));
  REQUIRE_THROWS_WITH(load_npy(p), Catch::Contains(p) && Catch::Contains("needs more data"));
  // A dimension beyond 64 bits (stoll threw "stoll" before).
  write_raw(p, with_shape("(99999999999999999999999,)", 16));
  REQUIRE_THROWS_WITH(load_npy(p), Catch::Contains(p) && Catch::Contains("too large"));
  // 2^62 elements of 4 bytes: 2^64 bytes, wraps to 0 (accepted as a smaller array before).
  write_raw(p, with_shape("(1073741824, 1073741824, 4)", 16));
  REQUIRE_THROWS_WITH(load_npy(p), Catch::Contains(p) && Catch::Contains("needs more data"));
  // Not a number.
  write_raw(p, with_shape("(2, x)", 8));
  REQUIRE_THROWS_WITH(load_npy(p), Catch::Contains(p) && Catch::Contains("'x'") && Catch::Contains("not a non-negative integer"));
  write_raw(p, with_shape("(-2,)", 8));
  REQUIRE_THROWS_WITH(load_npy(p), Catch::Contains(p) && Catch::Contains("'-2'"));
  // Data shorter or longer than the shape says.
  write_raw(p, with_shape("(3,)", 8));
  REQUIRE_THROWS_WITH(load_npy(p), Catch::Contains(p) && Catch::Contains("truncated"));
  write_raw(p, with_shape("(1,)", 8));
  REQUIRE_THROWS_WITH(load_npy(p), Catch::Contains(p) && Catch::Contains("longer than its shape"));
  // Still fine: an empty array, a 1-d array with the trailing comma, Python 2's 'L' suffix.
  write_raw(p, with_shape("(0, 5)", 0));
  REQUIRE(load_npy(p).data.empty());
  write_raw(p, with_shape("(2L, 1L)", 8));
  REQUIRE(load_npy(p).shape == std::vector<int64_t>{2, 1});
}
