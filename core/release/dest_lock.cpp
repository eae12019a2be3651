#include "release/dest_lock.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {

DestLock::DestLock(const std::filesystem::path& path, std::chrono::milliseconds wait, StopSignal& stop) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open lock file " + path.string() + ": " + std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  bool announced = false;
  while (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throw Error("cannot lock " + path.string() + ": " + std::strerror(errno));
    char holder[64] = {0};
    (void)!pread(fd_, holder, sizeof holder - 1, 0);
    if (std::chrono::steady_clock::now() >= deadline) {
      close(fd_);
      fd_ = -1;
      throw Error("another deploy holds " + path.string() + " (pid " + std::string(holder) + "); gave up after " +
                  format_duration(wait));
    }
    if (!announced) spdlog::info("waiting for another deploy to release {} (pid {})", path.string(), holder);
    announced = true;
    if (!stop.sleep_for(std::chrono::milliseconds(50))) {
      close(fd_);
      fd_ = -1;
      throw Error("cancelled while waiting for the deploy lock " + path.string());
    }
  }
  const std::string pid = std::to_string(getpid());
  if (ftruncate(fd_, 0) == 0) (void)!pwrite(fd_, pid.data(), pid.size(), 0);
}

DestLock::~DestLock() {
  if (fd_ >= 0) close(fd_);  // closing releases the flock
}

}  // namespace haul
