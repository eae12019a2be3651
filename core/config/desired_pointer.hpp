// SPDX-License-Identifier: Apache-2.0
// The desired-release pointer: a small YAML file `haul publish` writes beside
// each manifest (latest_<role>_<stage>.yml) and replaces atomically —
//   manifest: s3://bucket/app/manifests/manifest_web_production.yml
//   sha256: <of the manifest's bytes>
//   release: 20261126T101500Z
//   created_at: 2026-11-26T10:15:00Z
// An agent whose pipeline names it (desired:) deploys when the release it
// names is not the one dest runs: the safety net under best-effort events.
#pragma once

#include <cstdint>
#include <string>

namespace haul {

struct DesiredPointer {
  std::string manifest_url;
  std::string manifest_sha256;
  std::string release;
  int64_t created_at = 0;
};

std::string render_desired_pointer(const DesiredPointer& p);
// origin names the pointer (its URL) in errors.
DesiredPointer parse_desired_pointer(const std::string& text, const std::string& origin);

}  // namespace haul
