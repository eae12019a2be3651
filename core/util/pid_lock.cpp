// SPDX-License-Identifier: Apache-2.0
#include "util/pid_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.hpp"

namespace haul {

PidLock::PidLock(std::filesystem::path path) : path_(std::move(path)) {
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open lock file " + path_.string() + ": " + std::strerror(errno));
}

PidLock::~PidLock() {
  if (fd_ >= 0) close(fd_);  // closing releases the flock
}

bool PidLock::try_lock() {
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return false;
    throw Error("cannot lock " + path_.string() + ": " + std::strerror(errno));
  }
  // Written before the old content is cut, so a reader never finds it empty.
  const std::string pid = std::to_string(getpid()) + "\n";
  if (pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size())) (void)!ftruncate(fd_, static_cast<off_t>(pid.size()));
  return true;
}

std::string PidLock::holder() const {
  char buf[32] = {0};
  const ssize_t n = pread(fd_, buf, sizeof buf - 1, 0);
  std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  if (pid.empty()) return "a process that has not written its pid yet";
  if (pid == std::to_string(getpid())) return "this haul process (pid " + pid + ")";
  return "pid " + pid;
}

}  // namespace haul
