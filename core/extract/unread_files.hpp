// SPDX-License-Identifier: Apache-2.0
// The files a chunked release's stream leaves out because dest's copy is
// known to hold them (delta/dest_stamps.hpp), handed from the thread that
// writes the stream to the extractor that reads it. A file is pushed before
// the header of any later entry is written, so when the extractor reads a
// header, every left-out file before it is here.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace haul {

struct UnreadFile {
  std::string path;
  uint64_t size = 0;
  int64_t mtime = 0;
  unsigned mode = 0;
  std::string hash;   // its content hash, for the content record
  struct stat have {};  // dest's copy as its stamp matched
};

class UnreadFiles {
 public:
  void push(UnreadFile f) {
    std::lock_guard<std::mutex> lock(mu_);
    files_.push_back(std::move(f));
  }
  // The next file when it comes before `name` in archive order (or at all,
  // without a name).
  std::optional<UnreadFile> pop_before(std::optional<std::string_view> name) {
    std::lock_guard<std::mutex> lock(mu_);
    if (files_.empty() || (name && !(files_.front().path < *name))) return std::nullopt;
    UnreadFile f = std::move(files_.front());
    files_.pop_front();
    return f;
  }

 private:
  std::mutex mu_;
  std::deque<UnreadFile> files_;
};

}  // namespace haul
