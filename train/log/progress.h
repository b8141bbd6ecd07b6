#pragma once
// A small progress reporter for long loops (data generation, preparation, training epochs).
//
// On a terminal it redraws one line in place:
//     synth  [##########..........]  150/300  61.2 frames/s  ETA 0:02
// When the stream is not a terminal (a log file, CI), it prints a plain line now and then
// (at most one per `plain_interval_s` seconds, plus the last one) so logs stay short:
//     synth: 150/300 (50%) 61.2 frames/s, ETA 2s
// Thread-safe: advance()/set() may be called from worker threads. The destructor calls
// finish() (which prints the final state once) when it has not been called.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace sfm {

class Progress {
 public:
  // total <= 0: unknown (no bar, no ETA). enabled = false: prints nothing at all.
  Progress(std::string label, int64_t total, std::string unit = "it", bool enabled = true, FILE* out = stderr);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(int64_t n = 1);  // done += n
  void set(int64_t done);       // done = n
  void finish();                // prints the final line (once)

  int64_t done() const;
  bool is_terminal() const { return tty_; }
  // Seconds between plain lines when not on a terminal (default 5).
  void set_plain_interval(double seconds) { plain_interval_s_ = seconds; }

  // The text of one report (exposed for tests): e.g. "label: 3/10 (30%) 1.5 it/s, ETA 5s".
  static std::string plain_line(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                                const std::string& unit);
  static std::string bar_line(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                              const std::string& unit, int bar_width = 24);
  static std::string format_duration(double seconds);  // "42s", "3:07", "1:02:03"

 private:
  void report_locked(bool final);
  double elapsed() const;

  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  FILE* out_;
  double plain_interval_s_ = 5.0, last_report_s_ = -1e9;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mu_;
};

}  // namespace sfm
