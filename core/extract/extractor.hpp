// SPDX-License-Identifier: Apache-2.0
// Unpacks a tar stream (plain, gzip, zstd, xz, bzip2 — whatever libarchive
// detects) into a folder, pulling bytes as they arrive. Each entry passes
// the safety policy first (entry_guard.hpp: names, links, devices, setuid,
// bomb limits — nothing is written outside dir), then lands one of three
// ways: left in dest when rsync's quick check and its bytes say it is
// unchanged (dest_quick_check.hpp), linked from the previous release when
// its content matches (release strategy), or written (disk_writer.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <map>
#include <string_view>
#include <sys/stat.h>
#include <utility>
#include <vector>

#include "extract/entry_guard.hpp"
#include "extract/entry_sink.hpp"
#include "extract/unread_files.hpp"
#include "sync/kept_files.hpp"
#include "release/release_store.hpp"
#include "transfer/chunk_reader.hpp"
#include "util/inode_stamp.hpp"

namespace haul {

struct ExtractStats {
  uint64_t entries = 0;
  uint64_t dropped_setuid = 0;  // files whose setuid/setgid bits were removed
  uint64_t bytes = 0;         // file contents written
  uint64_t linked_files = 0;  // unchanged files hard-linked from the previous release
  uint64_t linked_bytes = 0;
  uint64_t kept_files = 0;    // unchanged in dest (quick check and content): not written at all
  uint64_t rewritten_same_stamp = 0;  // dest's size and mtime, other bytes: written
};

// For releases: record what was extracted, and reuse unchanged files.
struct ExtractOptions {
  ExtractLimits limits;
  // Filled with every regular file's size, mode, mtime and sha256.
  std::map<std::string, FileRecord>* record = nullptr;
  // A file whose size, mode, mtime and content hash match an entry here is
  // hard-linked from reuse_dir instead of written again.
  const std::map<std::string, FileRecord>* reuse = nullptr;
  std::filesystem::path reuse_dir;
  // For the rsync strategy: a file dest already holds with the entry's size,
  // mtime and content (rsync's quick check, then a byte comparison as the
  // entry streams past) is not written to the folder; it is
  // listed in *kept (with the attributes dest's copy still needs, if any)
  // for the sync. Only what changed is decompressed to disk. always_extract
  // (exclude_from, which is read from the folder) is written regardless.
  std::filesystem::path quick_check_dest;
  KeptFiles* kept = nullptr;
  std::string always_extract;
  // Files whose bytes are already known to be dest's copy's (a chunked
  // release hashed dest's copy against the index before sending the entry):
  // with the quick check passed, they are kept without comparing again. The
  // answer is dest's copy as stat saw it before it was read; nullptr: not known.
  std::function<const InodeStamp*(std::string_view rel)> known_same_as_dest;
  // Files the stream leaves out because dest's copy is known to hold them
  // (with quick_check_dest). Each passes the guard as its header would have,
  // is found through dest's folders to be the inode its stamp named, and is
  // kept like a file whose bytes matched.
  UnreadFiles* kept_unread = nullptr;
  // Told of every entry as it lands in the tree (entry_sink.hpp); each
  // file's content hash is computed only when there is one.
  std::vector<EntrySink*> sinks;
};

// origin names the archive (its URL) in errors. dir must exist and be empty:
// the symlink checks rely on every symlink under it coming from this archive.
ExtractStats extract_archive(const ChunkReader& read, const std::filesystem::path& dir,
                             const std::string& origin, const ExtractOptions& options = {});

}  // namespace haul
