// SPDX-License-Identifier: Apache-2.0
// A bounded, single-producer single-consumer queue of byte chunks between the
// fetch thread, the decompression thread and the extractor. The bound keeps
// memory flat whatever the artifact size; either side can close it to stop
// the other. Chunk buffers go back and forth between the two sides rather
// than being allocated per chunk: a fresh 256 KiB allocation is an mmap,
// page faults and zeroed pages each time, which cost a 500 MB artifact a
// third of its decompression thread's time.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace haul {

class BytePipe {
 public:
  // Bytes in a buffer that is never zero-filled (the producer writes it).
  class Chunk {
   public:
    Chunk() = default;
    Chunk(Chunk&& other) noexcept { *this = std::move(other); }
    Chunk& operator=(Chunk&& other) noexcept {
      buf_ = std::move(other.buf_);
      size_ = other.size_;
      capacity_ = other.capacity_;
      other.size_ = other.capacity_ = 0;
      return *this;
    }
    const char* data() const { return buf_.get(); }
    char* data() { return buf_.get(); }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    size_t capacity() const { return capacity_; }
    void reserve(size_t n);
    void resize(size_t n) { size_ = n; }  // n <= capacity()
    void append(const void* data, size_t len);
    void clear() { size_ = 0; }

   private:
    std::unique_ptr<char[]> buf_;
    size_t size_ = 0, capacity_ = 0;
  };

  static constexpr size_t kChunkBytes = 256 << 10;

  // 2 MiB: enough to ride out jitter between the threads (the benchmark does
  // not move with larger buffers), small enough for a flat RSS.
  explicit BytePipe(size_t capacity_bytes = 2 << 20) : capacity_(capacity_bytes) {}

  // Producer, copying. Blocks while full. Returns false once the reader has
  // gone.
  bool push(const void* data, size_t len);
  // Producer, without a copy: fill a buffer() (a recycled one when there is
  // one, with room for at least `bytes`), then hand it over.
  Chunk buffer(size_t bytes = kChunkBytes);
  bool push(Chunk&& chunk);
  // Producer: no more bytes. error set = the stream failed.
  void close_write(std::optional<std::string> error = std::nullopt);

  // Consumer. Returns the next chunk (valid until the next call); an empty
  // chunk means end of stream. Check error() after the end.
  const Chunk& pop();
  std::optional<std::string> error() const;
  // Consumer, as a ChunkReader reads: the next chunk's bytes (valid until the
  // next call), {nullptr, 0} at the end; throws haul::Error with the
  // producer's error when the stream failed.
  std::pair<const void*, size_t> read();
  // Consumer: stop; wakes and fails a blocked producer.
  void close_read();

 private:
  bool wait_for_room(std::unique_lock<std::mutex>& lock);
  static constexpr size_t kMaxSpare = 2;
  size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> chunks_;
  std::vector<Chunk> spare_;  // emptied buffers, back to the producer
  size_t queued_ = 0;
  bool write_closed_ = false, read_closed_ = false;
  std::optional<std::string> error_;
  Chunk current_;
};

}  // namespace haul
