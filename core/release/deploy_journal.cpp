// SPDX-License-Identifier: Apache-2.0
#include "release/deploy_journal.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "util/durable_file.hpp"
#include "util/beside_dest.hpp"

namespace haul {

DeployJournal DeployJournal::beside(const std::filesystem::path& dest) {
  return DeployJournal(At{}, beside_dest(dest, "journal.json"));
}

std::optional<JournalEntry> DeployJournal::read() const {
  std::ifstream in(path_);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return JournalEntry{"unknown (unreadable journal)", "", "", "", "", 0, 0, {}};
  JournalEntry e{j.value("phase", ""), j.value("release", ""),      j.value("previous", ""),
                 j.value("event_id", ""), j.value("manifest_url", ""), j.value("pid", 0),
                 j.value("started_unix", int64_t{0}), {}};
  if (j.contains("hooks") && j["hooks"].is_array())
    for (const auto& h : j["hooks"])
      if (h.is_object())
        e.hooks.push_back({h.value("pgid", int64_t{0}), h.value("start_ticks", uint64_t{0}), h.value("boot_id", "")});
  return e;
}

void DeployJournal::write(const JournalEntry& e) const {
  nlohmann::json hooks = nlohmann::json::array();
  for (const auto& h : e.hooks) hooks.push_back({{"pgid", h.pgid}, {"start_ticks", h.start_ticks}, {"boot_id", h.boot_id}});
  nlohmann::json j = {{"phase", e.phase},       {"release", e.release},           {"previous", e.previous},
                      {"event_id", e.event_id}, {"manifest_url", e.manifest_url}, {"pid", e.pid},
                      {"started_unix", e.started_unix}, {"hooks", hooks}};
  write_file_durably(path_, j.dump());
}

void DeployJournal::clear() const {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

}  // namespace haul
