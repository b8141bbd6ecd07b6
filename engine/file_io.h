#pragma once
// Checked file writes and run-folder locks: every writer of the project (checkpoints, generated
// data sets, reports, plots, benchmark JSON, metrics logs) goes through these, so that a full
// disk or a failed write is never silent and never leaves a temporary file behind.
#include <functional>
#include <string>

namespace sfm {

// Writes bytes to `path` through a temporary file beside it and a rename, so a reader (or a
// run interrupted mid-write) sees either the old file or the whole new one. Every write, the
// close and the rename are checked; on failure the temporary is removed and sfm::Error names
// the file and the system's reason (e.g. "No space left on device").
void write_file_atomic(const std::string& path, const std::string& bytes);

// How a failed append is retried (a disk that is full for a moment): `tries` attempts in all,
// waiting first_delay_s, then twice as long, ... between them. before_retry (tests) runs before
// each wait with the path and the attempt that failed (1-based).
struct WriteRetryPolicy {
  int tries = 4;
  double first_delay_s = 0.5;  // 0.5 + 1 + 2 s: 3.5 s in all before giving up
  std::function<void(const std::string& path, int failed_attempt)> before_retry;
};
// The policy AppendFile uses (process-wide; tests shorten it). Returns the previous one.
WriteRetryPolicy set_write_retry_policy(WriteRetryPolicy p);
const WriteRetryPolicy& write_retry_policy();

// A log file written line by line (metrics.jsonl): each append() writes the whole string or
// nothing. A failed write is undone (the file is cut back to its length before) and retried by
// the policy above; when every try fails it throws sfm::Error naming the file, the reason and
// the tries.
class AppendFile {
 public:
  AppendFile() = default;
  AppendFile(const std::string& path, bool truncate);  // throws naming the file
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  AppendFile(AppendFile&& o) noexcept;
  AppendFile& operator=(AppendFile&& o) noexcept;
  void append(const std::string& bytes);
  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// An advisory lock on a folder (flock on DIR/.sfm.lock, which is created and then kept): held
// while the object lives, released by the kernel when the process dies in any way. The file
// holds who took it (pid, host, start time, what), so a refusal can say who holds it.
class FolderLock {
 public:
  FolderLock() = default;
  // Takes the lock or throws sfm::Error: "<who>: DIR is in use by another process (pid P on host
  // H since TIME, <what>); ...". `what` describes the holder ("sfm train").
  FolderLock(const std::string& dir, const std::string& who, const std::string& what);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  FolderLock(FolderLock&& o) noexcept;
  FolderLock& operator=(FolderLock&& o) noexcept;
  bool held() const { return fd_ >= 0; }
  // Releases the lock and removes the lock file (e.g. before removing a folder this process
  // created and is giving up).
  void release_and_remove();
  static const char* file_name() { return ".sfm.lock"; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace sfm
