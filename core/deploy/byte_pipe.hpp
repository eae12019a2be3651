// A bounded, single-producer single-consumer queue of byte chunks between the
// fetch thread and the extractor. The bound keeps memory flat whatever the
// artifact size; either side can close it to stop the other.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace haul {

class BytePipe {
 public:
  // 2 MiB: enough to ride out jitter between the threads (the benchmark does
  // not move with larger buffers), small enough for a flat RSS.
  explicit BytePipe(size_t capacity_bytes = 2 << 20) : capacity_(capacity_bytes) {}

  // Producer. Blocks while full. Returns false once the reader has gone.
  bool push(const void* data, size_t len);
  // Producer: no more bytes. error set = the stream failed.
  void close_write(std::optional<std::string> error = std::nullopt);

  // Consumer. Returns the next chunk (valid until the next call); an empty
  // chunk means end of stream. Check error() after the end.
  const std::vector<char>& pop();
  std::optional<std::string> error() const;
  // Consumer: stop; wakes and fails a blocked producer.
  void close_read();

 private:
  static constexpr size_t kCoalesceBytes = 256 << 10;
  size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<char>> chunks_;
  size_t queued_ = 0;
  bool write_closed_ = false, read_closed_ = false;
  std::optional<std::string> error_;
  std::vector<char> current_;
};

}  // namespace haul
