// SPDX-License-Identifier: Apache-2.0
// The deploy manifest: the YAML document an event points at. Field for field
// the same as fujiwara/stretcher's, so existing manifests work unchanged:
//   src, checksum, dest, dest_mode, commands.{pre,post,success,failure},
//   excludes, exclude_from, sync_strategy (rsync | mv)
// plus {{ env }} / {{ must_env }} templating, and for sync_strategy: release
// (releases/<id> + an atomic `current` symlink): release, linked_dirs,
// linked_files, keep_releases, commands.verify and commands.rollback; and
// created_at, which `haul publish` writes and the downgrade check reads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/env_template.hpp"

namespace haul {

enum class SyncStrategy { rsync = 1, mv = 2, release = 3 };

struct Commands {
  std::vector<std::string> pre, post, success, failure;
  std::vector<std::string> verify;    // release: health checks after the switch; failure rolls back
  std::vector<std::string> rollback;  // release: run by `haul rollback` and after an automatic rollback

  // The phases as manifests spell them, in the order a deploy reaches them.
  static const std::vector<std::string>& phases();
  // The list of a phase by its name; nullptr for a name that is none.
  std::vector<std::string>* of(const std::string& phase);
};

struct Manifest {
  std::string src;       // empty: a commands-only manifest
  std::string checksum;  // lower-case hex; md5/sha1/sha256/sha512 by length
  std::string dest;
  unsigned dest_mode = 0755;
  Commands commands;
  std::vector<std::string> excludes;
  std::string exclude_from;  // a file inside the archive
  SyncStrategy sync_strategy = SyncStrategy::rsync;
  std::string release;                    // release id; derived when empty (release strategy)
  int64_t created_at = 0;                 // unix seconds; 0 when absent (signed manifests carry it)
  std::vector<std::string> linked_dirs;   // release paths linked to dest/shared/
  std::vector<std::string> linked_files;
  int keep_releases = 0;                  // 0: the pipeline's default (5)
  std::chrono::milliseconds command_timeout{0};  // 0: the shell hook's own default
  std::vector<std::string> ignored_fields;  // unknown top-level keys, for a warning

  // "md5", "sha1", "sha256" or "sha512", from the checksum's length.
  std::string checksum_algorithm() const;
};

// What parse_manifest refuses beyond a broken manifest.
struct ManifestChecks {
  // Every unknown top-level key is an error. Without it, a key within a
  // typo's distance of a known one is an error naming the suggestion
  // ("exclude" — did you mean "excludes"?) and any other is only reported in
  // ignored_fields, as stretcher ignored it.
  bool strict = false;
  // dest must be absolute and not / or a top-level system folder (/usr,
  // /etc, /home, /var, /tmp, ...). Off only where dest is not final yet
  // (a template checked at publish time).
  bool dest_path = true;
};

// origin names the manifest (its URL) in error messages. Every problem of
// the manifest is reported at once, one per line.
Manifest parse_manifest(const std::string& text, const std::string& origin,
                        const EnvLookup& lookup = process_env, const ManifestChecks& checks = {});

// Why dest may not be deployed to ("" when it may): relative, /, or a
// top-level system folder.
std::string refused_dest(const std::string& dest);

const char* to_string(SyncStrategy s);
std::optional<SyncStrategy> parse_sync_strategy(const std::string& text);  // "" is rsync
std::optional<unsigned> parse_octal_mode(const std::string& text);         // "0755", "755", "0o755"

}  // namespace haul
