// SPDX-License-Identifier: Apache-2.0
#include "transfer/byte_pipe.hpp"

#include <algorithm>
#include <cstring>

#include "util/error.hpp"

namespace haul {

void BytePipe::Chunk::reserve(size_t n) {
  if (n <= capacity_) return;
  std::unique_ptr<char[]> bigger(new char[n]);
  if (size_) std::memcpy(bigger.get(), buf_.get(), size_);
  buf_ = std::move(bigger);
  capacity_ = n;
}

void BytePipe::Chunk::append(const void* data, size_t len) {
  reserve(size_ + len);  // a no-op in the pipe: chunks are made with room for what joins them
  std::memcpy(buf_.get() + size_, data, len);
  size_ += len;
}

bool BytePipe::wait_for_room(std::unique_lock<std::mutex>& lock) {
  cv_.wait(lock, [&] { return read_closed_ || queued_ < capacity_; });
  return !read_closed_;
}

BytePipe::Chunk BytePipe::buffer(size_t bytes) {
  Chunk chunk;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!spare_.empty()) {
      chunk = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  chunk.clear();
  chunk.reserve(bytes);
  return chunk;
}

bool BytePipe::push(Chunk&& chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!wait_for_room(lock)) return false;
  queued_ += chunk.size();
  chunks_.push_back(std::move(chunk));
  cv_.notify_all();
  return true;
}

bool BytePipe::push(const void* data, size_t len) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!wait_for_room(lock)) return false;
    // Small writes (libcurl's callbacks) join the last queued chunk, so the
    // reader wakes and libarchive is called per 256 KiB, not per network read.
    if (!chunks_.empty() && chunks_.back().size() + len <= kChunkBytes) {
      chunks_.back().append(data, len);
      queued_ += len;
      cv_.notify_all();
      return true;
    }
  }
  // A new chunk: copied outside the lock, so the reader is not held up.
  Chunk chunk = buffer(std::max(len, kChunkBytes));
  chunk.append(data, len);
  return push(std::move(chunk));
}

void BytePipe::close_write(std::optional<std::string> error) {
  std::lock_guard<std::mutex> lock(mu_);
  write_closed_ = true;
  if (error && !error_) error_ = std::move(error);
  cv_.notify_all();
}

const BytePipe::Chunk& BytePipe::pop() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !chunks_.empty() || write_closed_; });
  if (current_.capacity() && spare_.size() < kMaxSpare) spare_.push_back(std::move(current_));
  current_ = Chunk();
  if (!chunks_.empty()) {
    current_ = std::move(chunks_.front());
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
  spare_.clear();
  queued_ = 0;
  cv_.notify_all();
}

std::pair<const void*, size_t> BytePipe::read() {
  const Chunk& chunk = pop();
  if (chunk.empty()) {
    if (auto err = error()) throw Error(*err);
    return {nullptr, 0};
  }
  return {chunk.data(), chunk.size()};
}

}  // namespace haul
