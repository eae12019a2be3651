// SPDX-License-Identifier: Apache-2.0
// A chunked deploy's side of dest's stamps (dest_stamps.hpp): the feed's
// workers ask it which files to leave unread, the stream's thread hands
// those to the extractor (unread_files.hpp), and it tells the stamps writer
// what this deploy verified, for the next one.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delta/release_index.hpp"
#include "delta/dest_stamps.hpp"
#include "extract/extractor.hpp"
#include "extract/unread_files.hpp"

namespace haul {

class StampedFiles final : public EntrySink {
 public:
  // Loads the stamps beside options.quick_check_dest, when the deploy keeps
  // stamps (writer), has a dest and has not found one untrue; writer is
  // told what to stamp once dest holds the release.
  StampedFiles(const delta::ReleaseIndex& index, const ExtractOptions& options, DestStampsWriter* writer);
  StampedFiles(const StampedFiles&) = delete;
  StampedFiles& operator=(const StampedFiles&) = delete;

  // For the feed (FeedOptions::leave_out): empty when nothing is stamped.
  std::function<bool(size_t entry)> leave_out();
  // For the stream's thread (write_index_as_tar): the file the feed left out.
  void left_out(size_t entry);
  // For the extractor: the files it keeps unread...
  UnreadFiles* unread() { return &unread_; }
  // ...and, as one of its sinks, each file it placed: stamped for the next
  // deploy (the unread ones were stamped as the feed left them out).
  void file(const PlacedFile& f) override;
  void dir(std::string_view, unsigned) override {}
  void symlink(std::string_view, std::string_view) override {}
  void hardlink(std::string_view, std::string_view) override {}
  void restart() override {}

  uint64_t unread_count() const { return unread_count_; }
  // Why dest's stamps file was not used (delta/dest_stamps.hpp); empty when it was or there is none.
  const std::string& stamps_unusable() const { return stamps_.unusable(); }
  // The extraction failed: if a stamp did not hold up, the fresh start the
  // deploy then makes reads every file.
  void extraction_failed(const std::exception_ptr& error);

 private:
  struct Unchanged {  // by entry, written by the feed's worker that asked
    std::optional<FileStamp> stamp;
    mode_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
  };
  bool check(size_t entry);

  const delta::ReleaseIndex& index_;
  const ExtractOptions& options_;
  DestStampsWriter* const writer_;
  DestStamps stamps_;
  std::vector<Unchanged> unchanged_;
  UnreadFiles unread_;
  std::atomic<uint64_t> unread_count_{0};
};

}  // namespace haul
