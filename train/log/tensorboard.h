#pragma once
// TensorBoard event files written without TensorFlow or a protobuf library.
//
// File: <log_dir>/events.out.tfevents.<unix-seconds>.<hostname> (".1", ".2", ... appended when
// that name is taken, e.g. two writers started in the same second). TensorBoard reads every
// file whose name contains "tfevents", so the suffix does not hide it.
//
// Framing (TFRecord), one record per Event:
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
//   mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8
// Event (tensorflow/core/util/event.proto), encoded by hand in protobuf wire format:
//   double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5; }
// Summary (tensorflow/core/framework/summary.proto):
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; oneof { float simple_value = 2; Image image = 4; } }
//   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
// The first record is the Event with file_version "brain.Event:2".
//
// Writes are buffered in memory and reach the file as whole records on flush(), on
// destruction, when the buffer passes 1 MiB, and when `flush_seconds` have passed since the
// last flush (checked at each add_*). The file is an append-only log, so it is not written
// through a temporary name: a crash can at most cut the last record short, which TensorBoard's
// reader detects by the framing CRCs and skips. The writer is thread-safe.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

#include <opencv2/core.hpp>

namespace sfm {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven. `crc` continues an
// earlier result: crc32c(b, nb, crc32c(a, na)) == crc32c(a + b). crc32c("123456789") = 0xE3069283.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
// The TFRecord form: ((c >> 15) | (c << 17)) + 0xa282ead8 with c = crc32c(data).
uint32_t masked_crc32c(const void* data, size_t n);

class TensorBoardWriter {
 public:
  // Creates log_dir (and parents) and the event file, and writes the file_version record at
  // once. Throws sfm::Error naming the directory or file that cannot be created.
  explicit TensorBoardWriter(const std::string& log_dir, double flush_seconds = 10.0);
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;
  // Flushes; never throws (a failed final write is reported on stderr).
  ~TensorBoardWriter();

  // One scalar point (stored as float32, as TensorBoard's simple_value is).
  void add_scalar(const std::string& tag, double value, int64_t step);
  // An 8-bit image, CV_8UC1 (gray), CV_8UC3 (BGR, OpenCV's order) or CV_8UC4 (BGRA); stored as
  // PNG. Throws sfm::Error naming the tag for an empty image or another type.
  void add_image(const std::string& tag, const cv::Mat& bgr_or_gray_u8, int64_t step);
  // A SessionLog START event at `step` (Event field 6): TensorBoard then discards the points of
  // steps >= `step` that it read earlier (from this run folder's older event files), which is
  // how a resumed run hides the steps it repeats after its checkpoint.
  void add_session_start(int64_t step);
  // Writes everything buffered to the file and flushes it to the OS. Throws sfm::Error naming
  // the file when the write fails.
  void flush();

  // The event file's path.
  const std::string& path() const { return path_; }

 private:
  void append_event_locked(const std::string& summary_or_version, bool is_version, int64_t step);
  void flush_locked();

  std::string path_;
  std::FILE* file_ = nullptr;
  std::string buffer_;  // whole framed records not yet written
  double flush_seconds_;
  std::chrono::steady_clock::time_point last_flush_;
  std::mutex mu_;
  bool session_log_ = false;
};

}  // namespace sfm
