// TensorBoard event-file writer: TFRecord framing with CRC-32C and hand-encoded Event
// protobufs (see tensorboard.h for the layout).
#include "train/log/tensorboard.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "boundary/error.h"

namespace sfm {

namespace {

// ---- CRC-32C ------------------------------------------------------------------------------
constexpr uint32_t kCastagnoliReflected = 0x82F63B78u;

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ kCastagnoliReflected : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

// ---- protobuf wire format -------------------------------------------------------------------
enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back((char)((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back((char)v);
}
void put_key(std::string& out, uint32_t field, Wire wire) { put_varint(out, ((uint64_t)field << 3) | wire); }
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back((char)((v >> (8 * i)) & 0xff));
}
// int32/int64 fields are varints of the two's-complement value (10 bytes when negative).
void put_int_field(std::string& out, uint32_t field, int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, (uint64_t)v);
}
void put_bytes_field(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}
void put_double_field(std::string& out, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  put_key(out, field, kFixed64);
  put_le(out, bits, 8);
}
void put_float_field(std::string& out, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  put_key(out, field, kFixed32);
  put_le(out, bits, 4);
}

// Summary { value { tag, <value_field> } } with one Value.
std::string summary_with_value(const std::string& tag, const std::string& value_fields) {
  std::string value;
  put_bytes_field(value, 1, tag);  // Value.tag
  value += value_fields;
  std::string summary;
  put_bytes_field(summary, 1, value);  // Summary.value
  return summary;
}

double unix_time_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string h(buf);
  for (char& c : h)
    if (c == '/' || c == '\\') c = '_';
  return h;
}

constexpr size_t kFlushBytes = 1u << 20;

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  for (size_t i = 0; i < n; ++i) c = kCrc32cTable[(c ^ p[i]) & 0xffu] ^ (c >> 8);
  return ~c;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& log_dir, double flush_seconds)
    : flush_seconds_(flush_seconds), last_flush_(std::chrono::steady_clock::now()) {
  namespace fs = std::filesystem;
  SFM_CHECK(!log_dir.empty(), "TensorBoardWriter: empty log directory");
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  SFM_CHECK(!ec && fs::is_directory(log_dir), "TensorBoardWriter: cannot create log directory '", log_dir,
            "'", ec ? ": " + ec.message() : std::string(": not a directory"));

  const std::string base = (fs::path(log_dir) / ("events.out.tfevents." + std::to_string((long long)std::time(nullptr)) +
                                                 "." + host_name()))
                               .string();
  // "x": fail instead of truncating when the name exists (another writer in the same second).
  for (int n = 0; n < 1000 && !file_; ++n) {
    path_ = n == 0 ? base : base + "." + std::to_string(n);
    file_ = std::fopen(path_.c_str(), "wbx");
    if (!file_ && errno != EEXIST) break;
  }
  SFM_CHECK(file_ != nullptr, "TensorBoardWriter: cannot create event file '", path_, "': ", std::strerror(errno));

  try {
    std::lock_guard<std::mutex> lock(mu_);
    append_event_locked("brain.Event:2", /*is_version=*/true, 0);
    flush_locked();  // the file is valid (and visible to TensorBoard) from the start
  } catch (...) {
    std::fclose(file_);
    throw;
  }
}

TensorBoardWriter::~TensorBoardWriter() {
  try {
    std::lock_guard<std::mutex> lock(mu_);
    flush_locked();
  } catch (const std::exception& e) {
    std::cerr << "warning: " << e.what() << "\n";
  }
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::append_event_locked(const std::string& payload, bool is_version, int64_t step) {
  std::string event;
  put_double_field(event, 1, unix_time_now());  // Event.wall_time
  if (is_version) {
    put_bytes_field(event, 3, payload);  // Event.file_version
  } else {
    if (step != 0) put_int_field(event, 2, step);  // Event.step (proto3 leaves out a zero)
    put_bytes_field(event, session_log_ ? 6 : 5, payload);  // Event.session_log or Event.summary
  }
  std::string len;
  put_le(len, event.size(), 8);
  buffer_ += len;
  put_le(buffer_, masked_crc32c(len.data(), len.size()), 4);
  buffer_ += event;
  put_le(buffer_, masked_crc32c(event.data(), event.size()), 4);

  double since = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_flush_).count();
  if (buffer_.size() >= kFlushBytes || since >= flush_seconds_) flush_locked();
}

void TensorBoardWriter::flush_locked() {
  last_flush_ = std::chrono::steady_clock::now();
  if (!file_) return;
  if (!buffer_.empty()) {
    size_t written = std::fwrite(buffer_.data(), 1, buffer_.size(), file_);
    // Drop what was written either way, so a failing disk does not grow the buffer forever.
    bool ok = written == buffer_.size();
    buffer_.clear();
    SFM_CHECK(ok, "TensorBoardWriter: write to '", path_, "' failed (disk full?)");
  }
  SFM_CHECK(std::fflush(file_) == 0, "TensorBoardWriter: flush of '", path_, "' failed: ", std::strerror(errno));
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  std::string v;
  put_float_field(v, 2, (float)value);  // Value.simple_value
  std::string summary = summary_with_value(tag, v);
  std::lock_guard<std::mutex> lock(mu_);
  append_event_locked(summary, false, step);
}

void TensorBoardWriter::add_session_start(int64_t step) {
  // SessionLog { status = START (1) }: TensorBoard drops the events of steps >= `step` read before it.
  std::string sl;
  put_int_field(sl, 1, 1);
  std::lock_guard<std::mutex> lock(mu_);
  session_log_ = true;
  append_event_locked(sl, false, step);
  session_log_ = false;
}

void TensorBoardWriter::add_image(const std::string& tag, const cv::Mat& img, int64_t step) {
  SFM_CHECK(!img.empty(), "TensorBoardWriter::add_image '", tag, "': empty image");
  SFM_CHECK(img.depth() == CV_8U && (img.channels() == 1 || img.channels() == 3 || img.channels() == 4),
            "TensorBoardWriter::add_image '", tag, "': expected an 8-bit gray, BGR or BGRA image, got type ",
            cv::typeToString(img.type()), " (", img.cols, "x", img.rows, ")");
  std::vector<uchar> png;
  SFM_CHECK(cv::imencode(".png", img, png), "TensorBoardWriter::add_image '", tag, "': PNG encoding failed");
  // colorspace: 1 grayscale, 3 RGB, 4 RGBA (PNG stores RGB order; imencode converts from BGR).
  const int colorspace = img.channels() == 1 ? 1 : img.channels() == 3 ? 3 : 4;
  std::string image;
  put_int_field(image, 1, img.rows);
  put_int_field(image, 2, img.cols);
  put_int_field(image, 3, colorspace);
  put_bytes_field(image, 4, std::string(png.begin(), png.end()));
  std::string v;
  put_bytes_field(v, 4, image);  // Value.image
  std::string summary = summary_with_value(tag, v);
  std::lock_guard<std::mutex> lock(mu_);
  append_event_locked(summary, false, step);
}

void TensorBoardWriter::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  flush_locked();
}

}  // namespace sfm
