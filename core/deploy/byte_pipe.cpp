#include "deploy/byte_pipe.hpp"

#include <cstring>

namespace haul {

bool BytePipe::push(const void* data, size_t len) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return read_closed_ || queued_ < capacity_; });
  if (read_closed_) return false;
  const char* p = static_cast<const char*>(data);
  // Small writes (libcurl hands over 16 KiB at a time) join the last queued
  // chunk, so the reader wakes and libarchive is called per 256 KiB, not per
  // network read.
  if (!chunks_.empty() && chunks_.back().size() + len <= kCoalesceBytes)
    chunks_.back().insert(chunks_.back().end(), p, p + len);
  else
    chunks_.emplace_back(p, p + len);
  queued_ += len;
  cv_.notify_all();
  return true;
}

void BytePipe::close_write(std::optional<std::string> error) {
  std::lock_guard<std::mutex> lock(mu_);
  write_closed_ = true;
  if (error && !error_) error_ = std::move(error);
  cv_.notify_all();
}

const std::vector<char>& BytePipe::pop() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !chunks_.empty() || write_closed_; });
  current_.clear();
  if (!chunks_.empty()) {
    current_.swap(chunks_.front());
    chunks_.pop_front();
    queued_ -= current_.size();
    cv_.notify_all();
  }
  return current_;
}

std::optional<std::string> BytePipe::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void BytePipe::close_read() {
  std::lock_guard<std::mutex> lock(mu_);
  read_closed_ = true;
  chunks_.clear();
  queued_ = 0;
  cv_.notify_all();
}

}  // namespace haul
