// SPDX-License-Identifier: Apache-2.0
#include "sync/dest_file_compare.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/error.hpp"

namespace haul {

namespace {

// Reads exactly len bytes at offset unless the file ends first; the count read.
size_t pread_full(int fd, char* buf, size_t len, uint64_t offset) {
  size_t got = 0;
  while (got < len) {
    const ssize_t n = pread(fd, buf + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

}  // namespace

DestFileCompare::DestFileCompare(int dir_fd, const std::string& name) : name_(name) {
  if (dir_fd >= 0 || dir_fd == AT_FDCWD) {
    // O_NOATIME: a deploy's files carry the archive's old atime, so under
    // relatime every first read would dirty the inode — a metadata write per
    // file for a comparison. Only the owner (or root) may ask for it.
    const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
    fd_ = openat(dir_fd, name.c_str(), flags | O_NOATIME);
    if (fd_ < 0 && errno == EPERM) fd_ = openat(dir_fd, name.c_str(), flags);
  }
  differs_ = fd_ < 0;
}

DestFileCompare::~DestFileCompare() {
  if (fd_ >= 0) close(fd_);
}

bool DestFileCompare::feed(const void* data, size_t len, int64_t offset) {
  if (differs_) return false;
  // A hole in a sparse entry arrives as a jump in offset: treat as changed.
  if (offset < 0 || static_cast<uint64_t>(offset) != matched_) return !(differs_ = true);
  if (buf_.size() < len) buf_.resize(len);
  if (pread_full(fd_, buf_.data(), len, matched_) != len || std::memcmp(buf_.data(), data, len) != 0)
    return !(differs_ = true);
  matched_ += len;
  return true;
}

bool DestFileCompare::same(uint64_t size) {
  if (differs_ || matched_ != size) return false;
  char extra;
  return pread_full(fd_, &extra, 1, size) == 0;  // dest's copy grew since it was stat'ed
}

void DestFileCompare::replay_matched(const std::function<void(const void*, size_t, int64_t)>& write) const {
  std::vector<char> chunk(std::min<uint64_t>(matched_, 256 << 10));
  for (uint64_t at = 0; at < matched_;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), matched_ - at));
    errno = 0;
    if (pread_full(fd_, chunk.data(), want, at) != want)
      throw Error("cannot read " + name_ + " in dest again while writing its new content: " +
                  (errno ? std::strerror(errno) : "the file shrank"));
    write(chunk.data(), want, static_cast<int64_t>(at));
    at += want;
  }
}

}  // namespace haul
