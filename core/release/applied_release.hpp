// SPDX-License-Identifier: Apache-2.0
// What a dest runs, as far as signed releases go: the release id and
// created_at of the last manifest deployed there. Kept in one small JSON file
// beside dest (.haul-<name>.applied.json, next to the lock), so the check
// holds for every sync strategy and for the handler and the agent alike. An
// agent with trusted_keys refuses a manifest older than this (replay of an
// old signed manifest) unless the operator allows a downgrade; `haul
// rollback` rewrites it to the release it switched to and pins it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace haul {

struct AppliedRelease {
  std::string release;
  int64_t created_at = 0;
  std::string manifest_url;
  std::string manifest_sha256;
  int64_t applied_at = 0;
  // Set by `haul rollback`: the release it rolled back from. Reconciliation
  // leaves dest alone while the desired pointer still names that release.
  std::string pinned_from;
  // The pipeline that deployed it: another pipeline of the same config may
  // not deploy to this dest.
  std::string pipeline;
  std::string config;  // the file it came from; "" for the built-in default
  std::string node;    // the node name it deployed as (HAUL_NODE, else the hostname)
};

std::filesystem::path applied_release_path(const std::filesystem::path& dest);
// nullopt when there is none (or it cannot be read: logged by the caller's check).
std::optional<AppliedRelease> read_applied_release(const std::filesystem::path& dest);
// Atomic replace. Throws haul::Error naming the file.
void write_applied_release(const std::filesystem::path& dest, const AppliedRelease& r);

}  // namespace haul
