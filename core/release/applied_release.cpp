// SPDX-License-Identifier: Apache-2.0
#include "release/applied_release.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "util/durable_file.hpp"
#include "util/error.hpp"
#include "util/beside_dest.hpp"

namespace fs = std::filesystem;

namespace haul {

fs::path applied_release_path(const fs::path& dest) {
  return beside_dest(fs::absolute(dest), "applied.json");
}

std::optional<AppliedRelease> read_applied_release(const fs::path& dest) {
  std::ifstream in(applied_release_path(dest));
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  AppliedRelease r;
  r.release = j.value("release", "");
  r.created_at = j.value("created_at", int64_t{0});
  r.manifest_url = j.value("manifest_url", "");
  r.manifest_sha256 = j.value("manifest_sha256", "");
  r.applied_at = j.value("applied_at", int64_t{0});
  r.pinned_from = j.value("pinned_from", "");
  r.pipeline = j.value("pipeline", "");
  r.config = j.value("config", "");
  r.node = j.value("node", "");
  return r;
}

void write_applied_release(const fs::path& dest, const AppliedRelease& r) {
  const fs::path path = applied_release_path(dest);
  nlohmann::json j = {{"release", r.release},
                      {"created_at", r.created_at},
                      {"manifest_url", r.manifest_url},
                      {"manifest_sha256", r.manifest_sha256},
                      {"applied_at", r.applied_at}};
  if (!r.pinned_from.empty()) j["pinned_from"] = r.pinned_from;
  if (!r.pipeline.empty()) j["pipeline"] = r.pipeline;
  if (!r.config.empty()) j["config"] = r.config;
  if (!r.node.empty()) j["node"] = r.node;
  write_file_durably(path, j.dump(2) + "\n");
}

}  // namespace haul
