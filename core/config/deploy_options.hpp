// SPDX-License-Identifier: Apache-2.0
// A pipeline's `deploy:` block: the options that shape one deploy (retries,
// timeouts, archive limits, signing, symlink targets). stretcher's
// command-line flags map here too, so the handler and the agent share one
// parser and one set of defaults.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config_errors.hpp"

namespace haul {

// Options that shape one deploy; stretcher's command-line flags map here.
struct DeployOptions {
  std::chrono::milliseconds random_delay{0};  // sleep [0, random_delay) before starting
  int retry = 0;                              // extra attempts for a failed fetch
  std::chrono::milliseconds retry_wait{3000};
  bool retry_missing = false;                 // retry 404/403/401 too (a publish may land after the event)
  std::chrono::milliseconds timeout{0};       // limit for fetching src; 0 = none
  uint64_t max_bandwidth_bytes_per_s = 0;     // 0 = unlimited
  std::string rsync_verbose = "-v";           // "" quiet, "-v" summary+files, "-vv" more
  int keep_releases = 5;                      // release strategy: releases kept
  std::chrono::milliseconds lock_timeout{300000};  // wait this long for another deploy to the same dest
  // Archive limits (decompression bombs) and setuid policy.
  uint64_t max_extract_bytes = 16ull << 30;
  uint64_t max_entries = 1'000'000;
  uint64_t max_compression_ratio = 1000;
  bool allow_setuid = false;
  // Absolute folders outside the release an archive's symlinks may point
  // into (stretcher's `log -> /var/log/app`); normalized, never "/".
  std::vector<std::string> allow_symlink_targets;
  // Signed releases: public key files (relative paths are taken from the
  // config file's folder). Non-empty: every manifest must carry a valid
  // signature by one of them, and may not be older than what dest runs.
  std::vector<std::string> trusted_keys;
  bool allow_downgrade = false;  // the operator's explicit rollback (--allow-downgrade)
  bool strict = false;  // every unknown manifest field is an error (deploy.strict, --strict)
};

// One entry of deploy.allow_symlink_targets (or --allow-symlink-target),
// normalized; an error naming `where` unless an absolute folder other than "/".
std::string symlink_target_prefix(const std::string& dir, const std::string& where);

// Parses a `deploy:` map; also used for flag defaults.
DeployOptions parse_deploy_options(const YAML::Node& node, const std::string& origin,
                                   const std::string& field_path);
// The same, every wrong field an error of its own (that field keeps its default).
DeployOptions parse_deploy_options(const YAML::Node& node, const std::string& origin,
                                   const std::string& field_path, ConfigErrors& errors);

}  // namespace haul
