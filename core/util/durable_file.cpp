// SPDX-License-Identifier: Apache-2.0
#include "util/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "util/error.hpp"

namespace haul {
namespace fs = std::filesystem;

namespace {

std::string failure(const std::string& what, const fs::path& path, int err) {
  return "cannot " + what + " " + path.string() + ": " + std::strerror(err);
}

// Writes all of content to fd; false with errno set on failure.
bool write_all(int fd, const std::string& content, off_t offset = -1) {
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = offset < 0 ? ::write(fd, content.data() + done, content.size() - done)
                                 : pwrite(fd, content.data() + done, content.size() - done,
                                          offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

void fsync_dir(const fs::path& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

namespace {

void replace_file(const fs::path& path, const std::string& content, bool durable) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) throw Error("cannot create " + path.parent_path().string() + ": " + ec.message());
  // A temporary of this writer's own: two processes replacing the same file
  // (two handlers, two packs writing the same chunk) never write into one.
  static std::atomic<uint64_t> serial{0};
  const fs::path tmp = path.string() + ".tmp." + std::to_string(getpid()) + "." + std::to_string(++serial);
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(failure("write", tmp, errno));
  if (!write_all(fd, content) || (durable && fsync(fd) != 0)) {
    const int err = errno;
    close(fd);
    unlink(tmp.c_str());  // a half-written temporary must not hold the space
    throw Error(failure("write", tmp, err));
  }
  if (close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    throw Error(failure("replace", path, err));
  }
  if (durable) fsync_dir(path.parent_path());
}

}  // namespace

void write_file_durably(const fs::path& path, const std::string& content) { replace_file(path, content, true); }

void write_file_atomically(const fs::path& path, const std::string& content) { replace_file(path, content, false); }

std::string InPlaceRecord::padded(const std::string& value) const {
  if (value.size() >= kSize) throw Error("internal: record value '" + value + "' is too long for " + path_.string());
  std::string out = value;
  out.resize(kSize - 1, ' ');
  return out + "\n";
}

void InPlaceRecord::create(const std::string& value) const { write_file_durably(path_, padded(value)); }

void InPlaceRecord::set(const std::string& value) const {
  const std::string bytes = padded(value);
  const int fd = open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw Error(failure("update", path_, errno));
  const bool ok = write_all(fd, bytes, 0) && fdatasync(fd) == 0;
  const int err = errno;
  close(fd);
  if (!ok) throw Error(failure("update", path_, err));
}

std::string InPlaceRecord::get() const {
  const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[kSize];
  const ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  const size_t end = s.find_last_not_of(" \n");
  return end == std::string::npos ? "" : s.substr(0, end + 1);
}

}  // namespace haul
