#include "engine/file_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

#include "boundary/error.h"

namespace sfm {

namespace {

// Writes all of bytes at the file's position; false (errno set) when a write fails.
bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (w == 0) {
      errno = ENOSPC;
      return false;
    }
    p += w;
    n -= (size_t)w;
  }
  return true;
}

WriteRetryPolicy& policy() {
  static WriteRetryPolicy p;
  return p;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SFM_CHECK(fd >= 0, "cannot open '", tmp, "' for writing: ", std::strerror(errno));
  bool ok = write_all(fd, bytes.data(), bytes.size());
  int err = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());  // never leave a partial temporary behind (a full disk stays full)
    fail("write to '", tmp, "' failed: ", std::strerror(err), " (removed it; '", path, "' is unchanged)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    fail("cannot rename '", tmp, "' to '", path, "': ", std::strerror(err));
  }
}

WriteRetryPolicy set_write_retry_policy(WriteRetryPolicy p) {
  WriteRetryPolicy old = policy();
  policy() = std::move(p);
  return old;
}
const WriteRetryPolicy& write_retry_policy() { return policy(); }

AppendFile::AppendFile(const std::string& path, bool truncate) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
  SFM_CHECK(fd_ >= 0, path, ": cannot open for writing: ", std::strerror(errno));
}
AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}
AppendFile::AppendFile(AppendFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
AppendFile& AppendFile::operator=(AppendFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

void AppendFile::append(const std::string& bytes) {
  SFM_CHECK(fd_ >= 0, "AppendFile: ", path_, " is not open");
  const WriteRetryPolicy& p = policy();
  const int tries = p.tries < 1 ? 1 : p.tries;
  double delay = p.first_delay_s, waited = 0;
  int err = 0;
  for (int attempt = 1; attempt <= tries; ++attempt) {
    struct stat st {};
    const off_t before = ::fstat(fd_, &st) == 0 ? st.st_size : -1;
    if (write_all(fd_, bytes.data(), bytes.size())) return;
    err = errno;
    // Undo a partial line, so the file holds whole lines only (a reader, and --resume, parse it).
    if (before >= 0) {
      int rc = ::ftruncate(fd_, before);
      (void)rc;
    }
    if (attempt == tries) break;
    if (p.before_retry) p.before_retry(path_, attempt);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    waited += delay;
    delay *= 2;
  }
  fail("cannot write ", path_, ": ", std::strerror(err), " (tried ", tries, " times over ", waited, " s)");
}

FolderLock::FolderLock(const std::string& dir, const std::string& who, const std::string& what) {
  path_ = dir + "/" + file_name();
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SFM_CHECK(fd_ >= 0, who, ": cannot create the lock file ", path_, ": ", std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    char buf[512];
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    if (n > 0) holder.assign(buf, (size_t)n);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      fail(who, ": ", dir, " is in use by another process (", holder.empty() ? "holder unknown" : holder,
           "; lock file ", path_, "); wait for it to end or stop it, or use another --out");
    fail(who, ": cannot lock ", path_, ": ", std::strerror(err));
  }
  // Who holds it, for the message of the next one that tries.
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = 0;
  char when[64];
  std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::string info = "pid " + std::to_string(::getpid()) + " on host " + host + " since " + when + ", " + what + "\n";
  // Best effort: the lock is what matters; a full disk must not stop the lock from working.
  if (::ftruncate(fd_, 0) == 0) {
    ssize_t w = ::pwrite(fd_, info.data(), info.size(), 0);
    (void)w;
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}
FolderLock::FolderLock(FolderLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
FolderLock& FolderLock::operator=(FolderLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

void FolderLock::release_and_remove() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still held: no one else can be holding this inode
  ::close(fd_);
  fd_ = -1;
}

}  // namespace sfm
