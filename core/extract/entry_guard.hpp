// SPDX-License-Identifier: Apache-2.0
// The extractor's safety policy: what an archive entry may be, decided
// before anything is written. Names are relative, without '..'; nothing is
// written through a symlink the archive made (also one made earlier in the
// same archive); symlinks and hard links stay inside the release; devices,
// FIFOs and sockets are refused; setuid/setgid bits are dropped unless
// allowed; limits on entries, bytes and compression ratio stop
// decompression bombs. Each refusal names the archive and the entry.
#pragma once

#include <archive_entry.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "extract/disk_writer.hpp"

namespace haul {

// Limits that stop decompression bombs, and what else is allowed.
struct ExtractLimits {
  uint64_t max_bytes = 16ull << 30;   // total file contents
  uint64_t max_entries = 1'000'000;
  uint64_t max_ratio = 1000;          // extracted bytes per compressed byte read
  bool allow_setuid = false;          // keep setuid/setgid bits (dropped otherwise)
  // Absolute, normalized folders an absolute symlink may point into
  // (deploy.allow_symlink_targets): the link is placed, nothing is written through it.
  std::vector<std::string> symlink_target_prefixes;
};

// One entry the guard let through.
struct AdmittedEntry {
  std::string raw;                 // the name as the archive spells it, for messages
  std::optional<std::string> rel;  // relative to the root; nullopt for the root entry "./"
  mode_t type = 0;                 // AE_IFREG, AE_IFDIR, AE_IFLNK
  const char* symlink_target = nullptr;  // a symlink's (valid until the next header)
  std::string hardlink_to;               // a hard link's target, relative
  uint64_t declared = 0;                 // the size the header declares
  EntryAttrs attrs;                      // mode and times; the owner is the writer's to resolve
  bool dropped_setuid = false;

  bool plain_file() const { return type == AE_IFREG && hardlink_to.empty(); }
};

class EntryGuard {
 public:
  EntryGuard(std::string origin, const ExtractLimits& limits) : origin_(std::move(origin)), limits_(limits) {}

  // out_bytes: what was extracted so far. Throws haul::Error naming the
  // entry when it is refused.
  AdmittedEntry admit(struct archive_entry* entry, uint64_t out_bytes);
  // A bomb shows as far more output than input: judged once past 64 MiB.
  void check_ratio(uint64_t out_bytes, uint64_t in_bytes) const;

 private:
  std::optional<std::string> relative_name(const std::string& raw) const;
  const std::string* through_symlink(const std::string& rel) const;

  const std::string origin_;
  const ExtractLimits limits_;
  uint64_t entries_ = 0;
  // Relative paths of the symlinks extracted so far: the root is fresh, so
  // these are the only ones under it.
  std::set<std::string> symlinks_;
};

}  // namespace haul
