// SPDX-License-Identifier: Apache-2.0
// Writes a deploy's content record as the extractor places each entry —
// streamed to `<record>.new` in archive order, so nothing is held in memory
// and the extraction thread spends only a line's formatting per entry. The
// deploy finishes it (names, exclude rules; flushed to disk) before dest
// changes — a full disk fails the deploy there, with dest as it was — and
// commits it (a rename, which needs no space) once dest holds the release.
// A deploy that fails in between leaves the old record, and `haul diff`
// then shows what the failed sync changed.
#pragma once

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "extract/entry_sink.hpp"

namespace haul {

struct TreeRecordMeta {
  std::string release, manifest_url;
  std::vector<std::string> rules;   // exclude-file lines: what the sync leaves alone
  std::vector<std::string> linked;  // shared paths linked into a release
};

class TreeRecordWriter final : public EntrySink {
 public:
  // Throws haul::Error naming the file when it cannot be created.
  explicit TreeRecordWriter(std::filesystem::path record);
  ~TreeRecordWriter();  // removes what was written and not committed
  TreeRecordWriter(const TreeRecordWriter&) = delete;
  TreeRecordWriter& operator=(const TreeRecordWriter&) = delete;

  void dir(std::string_view path, unsigned mode) override;
  void file(std::string_view path, unsigned mode, uint64_t size, const struct timespec& mtime, std::string_view hash);
  void file(const PlacedFile& f) override { file(f.path, f.mode, f.size, f.mtime, f.hash); }
  void symlink(std::string_view path, std::string_view target) override;
  void hardlink(std::string_view path, std::string_view to) override;
  // The fetch starts over: what was written goes.
  void restart() override;

  // Writes meta and flushes the record to disk. Throws naming the file.
  void finish(const TreeRecordMeta& meta);
  // Renames it over the record. Throws naming the file; the old record is
  // removed then, as it no longer describes dest.
  void commit();

 private:
  // Room for n bytes at the end of the buffer (flushing it first if need be).
  char* room(size_t n);
  void flush();
  std::filesystem::path record_, pending_;
  int fd_ = -1;
  std::string buffer_;  // capacity-sized; used_ bytes hold lines
  size_t used_ = 0;
};

}  // namespace haul
