#include "train/log/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace sfm {

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled, FILE* out)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled && out != nullptr),
      tty_(out != nullptr && isatty(fileno(out)) != 0),
      out_(out),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {
  }
}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

int64_t Progress::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

void Progress::advance(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ += n;
  report_locked(false);
}

void Progress::set(int64_t done) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ = done;
  report_locked(false);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  report_locked(true);
}

std::string Progress::format_duration(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  long t = std::lround(s);
  char buf[32];
  if (t < 60)
    std::snprintf(buf, sizeof buf, "%lds", t);
  else if (t < 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

static std::string rate_text(int64_t done, double elapsed_s, const std::string& unit) {
  char buf[64];
  double rate = elapsed_s > 0 ? done / elapsed_s : 0.0;
  std::snprintf(buf, sizeof buf, rate >= 100 ? "%.0f %s/s" : "%.1f %s/s", rate, unit.c_str());
  return buf;
}

std::string Progress::plain_line(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                                 const std::string& unit) {
  std::string s = label + ": " + std::to_string(done);
  if (total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%d%%)", (int)(100.0 * std::min(done, total) / total));
    s += "/" + std::to_string(total) + pct;
  }
  s += " " + rate_text(done, elapsed_s, unit);
  if (total > 0 && done < total && done > 0)
    s += ", ETA " + format_duration(elapsed_s / done * (total - done));
  else
    s += ", " + format_duration(elapsed_s);
  return s;
}

std::string Progress::bar_line(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                               const std::string& unit, int bar_width) {
  std::string s = label + " ";
  if (total > 0) {
    int filled = (int)((double)bar_width * std::min(done, total) / total);
    s += "[" + std::string(filled, '#') + std::string(bar_width - filled, '.') + "] ";
    s += std::to_string(done) + "/" + std::to_string(total);
  } else {
    s += std::to_string(done);
  }
  s += "  " + rate_text(done, elapsed_s, unit);
  if (total > 0 && done < total && done > 0)
    s += "  ETA " + format_duration(elapsed_s / done * (total - done));
  else
    s += "  " + format_duration(elapsed_s);
  return s;
}

void Progress::report_locked(bool final) {
  if (!enabled_) return;
  double t = elapsed();
  if (tty_) {
    if (!final && t - last_report_s_ < 0.1) return;  // at most 10 redraws a second
    last_report_s_ = t;
    std::string line = bar_line(label_, done_, total_, t, unit_);
    std::fprintf(out_, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
  } else {
    bool first = last_report_s_ < -1e8;
    if (!final && !first && t - last_report_s_ < plain_interval_s_) return;
    if (!final && first && done_ == 0) return;  // nothing to say yet
    last_report_s_ = t;
    std::fprintf(out_, "%s\n", plain_line(label_, done_, total_, t, unit_).c_str());
  }
  std::fflush(out_);
}

}  // namespace sfm
