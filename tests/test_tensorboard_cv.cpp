// TensorBoard event files: CRC-32C on published check values, and the writer's output parsed
// back by an independent decoder written here (bitwise CRC-32C, TFRecord framing, protobuf
// wire format), so a mistake in the writer's table-driven CRC or its encoder shows.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include <opencv2/imgcodecs.hpp>

#include "boundary/error.h"
#include "train/log/tensorboard.h"

using namespace sfm;
namespace fs = std::filesystem;

namespace {

// A fresh directory for one test case; unique per process, since several people and ctest
// jobs share /tmp.
std::string fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("sfm_test_tb_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}
// Removes a test case's directory, and the per-process parent once it is empty.
void cleanup(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::remove(fs::path(dir).parent_path(), ec);  // fails harmlessly while other cases' dirs exist
}

// ---- reference CRC-32C: bit by bit, straight from the definition ----
uint32_t ref_crc32c(const std::string& s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
  }
  return ~c;
}
uint32_t ref_masked(const std::string& s) {
  uint32_t c = ref_crc32c(s);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

uint64_t read_le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | (unsigned char)s[at + i];
  return v;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// TFRecord framing; every length and data CRC is checked.
std::vector<std::string> read_records(const std::string& path) {
  std::string b = read_file(path);
  std::vector<std::string> out;
  size_t at = 0;
  while (at < b.size()) {
    REQUIRE(at + 12 <= b.size());
    uint64_t len = read_le(b, at, 8);
    REQUIRE(read_le(b, at + 8, 4) == ref_masked(b.substr(at, 8)));
    REQUIRE(at + 12 + len + 4 <= b.size());
    std::string data = b.substr(at + 12, len);
    REQUIRE(read_le(b, at + 12 + len, 4) == ref_masked(data));
    out.push_back(data);
    at += 12 + len + 4;
  }
  return out;
}

// ---- protobuf wire format ----
struct Field {
  uint32_t num = 0, wire = 0;
  uint64_t u = 0;     // varint value, or the raw bits of a fixed32/fixed64
  std::string bytes;  // length-delimited payload
};

uint64_t read_varint(const std::string& s, size_t& at) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    REQUIRE(at < s.size());
    unsigned char c = (unsigned char)s[at++];
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
  FAIL("varint longer than 10 bytes");
  return 0;
}

std::vector<Field> parse_message(const std::string& s) {
  std::vector<Field> out;
  size_t at = 0;
  while (at < s.size()) {
    uint64_t key = read_varint(s, at);
    Field f;
    f.num = (uint32_t)(key >> 3);
    f.wire = (uint32_t)(key & 7);
    REQUIRE(f.num > 0);
    if (f.wire == 0) {
      f.u = read_varint(s, at);
    } else if (f.wire == 1 || f.wire == 5) {
      int n = f.wire == 1 ? 8 : 4;
      REQUIRE(at + n <= s.size());
      f.u = read_le(s, at, n);
      at += n;
    } else if (f.wire == 2) {
      uint64_t n = read_varint(s, at);
      REQUIRE(at + n <= s.size());
      f.bytes = s.substr(at, n);
      at += n;
    } else {
      FAIL("unexpected wire type " << f.wire << " for field " << f.num);
    }
    out.push_back(f);
  }
  return out;
}

const Field* find_field(const std::vector<Field>& fs, uint32_t num, uint32_t wire) {
  for (const Field& f : fs)
    if (f.num == num) {
      REQUIRE(f.wire == wire);
      return &f;
    }
  return nullptr;
}

struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  // Summary.Value contents (one value per event, as the writer writes them)
  std::string tag;
  bool has_scalar = false;
  float scalar = 0;
  bool has_image = false;
  int64_t height = 0, width = 0, colorspace = 0;
  std::string png;
};

Event decode_event(const std::string& data) {
  Event e;
  auto fs = parse_message(data);
  const Field* wt = find_field(fs, 1, 1);  // double wall_time = 1
  REQUIRE(wt != nullptr);
  std::memcpy(&e.wall_time, &wt->u, 8);
  if (const Field* st = find_field(fs, 2, 0)) e.step = (int64_t)st->u;  // int64 step = 2
  if (const Field* fv = find_field(fs, 3, 2)) e.file_version = fv->bytes;  // string file_version = 3
  if (const Field* sm = find_field(fs, 5, 2)) {  // Summary summary = 5
    auto sfs = parse_message(sm->bytes);
    REQUIRE(sfs.size() == 1);
    REQUIRE(sfs[0].num == 1);  // repeated Value value = 1
    REQUIRE(sfs[0].wire == 2);
    auto vfs = parse_message(sfs[0].bytes);
    const Field* tag = find_field(vfs, 1, 2);  // string tag = 1
    REQUIRE(tag != nullptr);
    e.tag = tag->bytes;
    if (const Field* sv = find_field(vfs, 2, 5)) {  // float simple_value = 2
      e.has_scalar = true;
      uint32_t bits = (uint32_t)sv->u;
      std::memcpy(&e.scalar, &bits, 4);
    }
    if (const Field* im = find_field(vfs, 4, 2)) {  // Image image = 4
      e.has_image = true;
      auto ifs = parse_message(im->bytes);
      e.height = (int64_t)find_field(ifs, 1, 0)->u;      // int32 height = 1
      e.width = (int64_t)find_field(ifs, 2, 0)->u;       // int32 width = 2
      e.colorspace = (int64_t)find_field(ifs, 3, 0)->u;  // int32 colorspace = 3
      e.png = find_field(ifs, 4, 2)->bytes;              // bytes encoded_image_string = 4
    }
  }
  return e;
}

std::vector<Event> read_events(const std::string& path) {
  std::vector<Event> out;
  for (const auto& r : read_records(path)) out.push_back(decode_event(r));
  return out;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("crc32c: published check values and chaining", "[tensorboard]") {
  // The CRC catalogue's check value for CRC-32C, and the four 32-byte vectors of RFC 3720 B.4.
  REQUIRE(crc32c("123456789", 9) == 0xE3069283u);
  std::string zeros(32, '\0'), ones(32, '\xff'), inc, dec;
  for (int i = 0; i < 32; ++i) {
    inc.push_back((char)i);
    dec.push_back((char)(31 - i));
  }
  REQUIRE(crc32c(zeros.data(), 32) == 0x8A9136AAu);
  REQUIRE(crc32c(ones.data(), 32) == 0x62A8AB43u);
  REQUIRE(crc32c(inc.data(), 32) == 0x46DD794Eu);
  REQUIRE(crc32c(dec.data(), 32) == 0x113FDB5Cu);
  REQUIRE(crc32c("", 0) == 0u);
  // Continuing a CRC over a split buffer equals the CRC of the whole.
  REQUIRE(crc32c("6789", 4, crc32c("12345", 5)) == 0xE3069283u);
  // Masking: ((c >> 15) | (c << 17)) + 0xa282ead8, worked out by hand for the check string.
  REQUIRE(masked_crc32c("123456789", 9) == 0xC78AB0E5u);
  std::string any = "brain.Event:2 and some bytes \x01\x02\xff";
  REQUIRE(masked_crc32c(any.data(), any.size()) == ref_masked(any));
}

TEST_CASE("tensorboard: event file parses back (framing, CRCs, scalars, images)", "[tensorboard]") {
  std::string dir = fresh_dir("roundtrip");
  const double t0 = (double)std::time(nullptr);
  cv::Mat bgr(48, 64, CV_8UC3), gray(20, 30, CV_8UC1);
  cv::randu(bgr, 0, 256);
  cv::randu(gray, 0, 256);
  std::string path;
  {
    TensorBoardWriter w(dir);
    path = w.path();
    w.add_scalar("loss/total", 0.125, 10);
    w.add_scalar("loss/photometric", -3.5, 20);
    w.add_scalar("lr", 2e-4, int64_t(1) << 40);  // step needing a long varint
    w.add_scalar("odd", 1.0, -7);                 // negative step: 10-byte two's-complement varint
    w.add_image("depth/0", bgr, 30);
    w.add_image("mask/0", gray, 31);
  }  // destruction flushes
  const double t1 = (double)std::time(nullptr);

  // One file, named events.out.tfevents.<unix-seconds>.<hostname>.
  auto files = files_in(dir);
  REQUIRE(files.size() == 1);
  REQUIRE(files[0] == path);
  std::string name = fs::path(path).filename().string();
  const std::string prefix = "events.out.tfevents.";
  REQUIRE(name.rfind(prefix, 0) == 0);
  size_t dot = name.find('.', prefix.size());
  REQUIRE(dot != std::string::npos);
  double secs = std::stod(name.substr(prefix.size(), dot - prefix.size()));
  REQUIRE(secs >= t0);
  REQUIRE(secs <= t1);
  char host[256] = {0};
  REQUIRE(gethostname(host, sizeof(host) - 1) == 0);
  REQUIRE(name.substr(dot + 1) == std::string(host));

  auto ev = read_events(path);
  REQUIRE(ev.size() == 7);
  // First: the file version, no summary.
  REQUIRE(ev[0].file_version == "brain.Event:2");
  REQUIRE(ev[0].tag.empty());
  for (const Event& e : ev) {  // wall time in seconds since the epoch, within the test's run (1 s slack)
    REQUIRE(e.wall_time >= t0 - 1);
    REQUIRE(e.wall_time <= t1 + 1);
  }
  // Scalars are float32: 0.125, -3.5 and 1 are exact; 2e-4 is compared as a float.
  REQUIRE(ev[1].tag == "loss/total");
  REQUIRE(ev[1].has_scalar);
  REQUIRE(ev[1].scalar == 0.125f);
  REQUIRE(ev[1].step == 10);
  REQUIRE(ev[2].tag == "loss/photometric");
  REQUIRE(ev[2].scalar == -3.5f);
  REQUIRE(ev[2].step == 20);
  REQUIRE(ev[3].tag == "lr");
  REQUIRE(ev[3].scalar == 2e-4f);
  REQUIRE(ev[3].step == (int64_t(1) << 40));
  REQUIRE(ev[4].step == -7);
  REQUIRE(ev[4].scalar == 1.0f);
  REQUIRE_FALSE(ev[1].has_image);

  // Images: size and colorspace fields, and the PNG decodes to the very pixels given (lossless).
  REQUIRE(ev[5].tag == "depth/0");
  REQUIRE(ev[5].step == 30);
  REQUIRE(ev[5].has_image);
  REQUIRE_FALSE(ev[5].has_scalar);
  REQUIRE(ev[5].height == 48);
  REQUIRE(ev[5].width == 64);
  REQUIRE(ev[5].colorspace == 3);
  REQUIRE(ev[5].png.substr(1, 3) == "PNG");
  cv::Mat dec = cv::imdecode(std::vector<uchar>(ev[5].png.begin(), ev[5].png.end()), cv::IMREAD_UNCHANGED);
  REQUIRE(dec.type() == CV_8UC3);
  REQUIRE(dec.size() == bgr.size());
  REQUIRE(cv::norm(dec, bgr, cv::NORM_INF) == 0);
  REQUIRE(ev[6].tag == "mask/0");
  REQUIRE(ev[6].height == 20);
  REQUIRE(ev[6].width == 30);
  REQUIRE(ev[6].colorspace == 1);
  dec = cv::imdecode(std::vector<uchar>(ev[6].png.begin(), ev[6].png.end()), cv::IMREAD_UNCHANGED);
  REQUIRE(dec.type() == CV_8UC1);
  REQUIRE(cv::norm(dec, gray, cv::NORM_INF) == 0);
  cleanup(dir);
}

TEST_CASE("tensorboard: buffering, flush() and periodic flushing", "[tensorboard]") {
  std::string dir = fresh_dir("flush");
  {
    TensorBoardWriter w(dir, /*flush_seconds=*/1e9);
    // The version record is on disk from the start, so TensorBoard sees a valid file at once.
    REQUIRE(read_records(w.path()).size() == 1);
    w.add_scalar("a", 1.0, 1);
    w.add_scalar("a", 2.0, 2);
    REQUIRE(read_records(w.path()).size() == 1);  // still buffered
    w.flush();
    auto ev = read_events(w.path());
    REQUIRE(ev.size() == 3);
    REQUIRE(ev[2].scalar == 2.0f);
    // A buffer past 1 MiB is written without waiting: a noise image does not compress.
    cv::Mat big(640, 640, CV_8UC3);
    cv::randu(big, 0, 256);
    w.add_image("big", big, 3);
    REQUIRE(read_records(w.path()).size() == 4);
  }
  {
    TensorBoardWriter w(dir, /*flush_seconds=*/0);  // every add_* reaches the file
    w.add_scalar("b", 3.0, 7);
    auto ev = read_events(w.path());
    REQUIRE(ev.size() == 2);
    REQUIRE(ev[1].tag == "b");
    REQUIRE(ev[1].step == 7);
  }
  cleanup(dir);
}

TEST_CASE("tensorboard: concurrent writers and threads", "[tensorboard]") {
  std::string dir = fresh_dir("many");
  {
    // Two writers opened in the same second get distinct files, each complete.
    TensorBoardWriter a(dir), b(dir);
    REQUIRE(a.path() != b.path());
    // Four threads on one writer: every record whole and CRC-valid, none lost.
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&a, t] {
        for (int i = 0; i < 100; ++i) a.add_scalar("t" + std::to_string(t), i, i);
      });
    for (auto& t : ts) t.join();
    b.add_scalar("x", 1, 1);
  }
  auto files = files_in(dir);
  REQUIRE(files.size() == 2);
  size_t total = read_events(files[0]).size() + read_events(files[1]).size();
  REQUIRE(total == 1 + 400 + 1 + 1);
  cleanup(dir);
}

TEST_CASE("tensorboard: errors name the path or the tag", "[tensorboard]") {
  std::string dir = fresh_dir("errors");
  std::string blocker = dir + "/not_a_dir";
  std::ofstream(blocker) << "x";
  REQUIRE_THROWS_AS(TensorBoardWriter(blocker + "/run"), sfm::Error);
  REQUIRE_THROWS_WITH(TensorBoardWriter(blocker + "/run"), Catch::Contains(blocker + "/run"));
  REQUIRE_THROWS_WITH(TensorBoardWriter(blocker), Catch::Contains(blocker));

  TensorBoardWriter w(dir + "/run");
  cv::Mat f32(4, 4, CV_32FC1, cv::Scalar(0.5));
  REQUIRE_THROWS_WITH(w.add_image("disp/0", f32, 1), Catch::Contains("disp/0") && Catch::Contains("32F"));
  REQUIRE_THROWS_WITH(w.add_image("empty", cv::Mat(), 1), Catch::Contains("empty image"));
  cv::Mat two(4, 4, CV_8UC2, cv::Scalar(1, 2));
  REQUIRE_THROWS_WITH(w.add_image("two", two, 1), Catch::Contains("two"));
  w.flush();
  REQUIRE(read_records(w.path()).size() == 1);  // rejected images wrote nothing
  cleanup(dir);
}
