// SPDX-License-Identifier: Apache-2.0
#include "release/applied_events.hpp"

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/durable_file.hpp"
#include "util/error.hpp"

namespace haul {
namespace fs = std::filesystem;

namespace {

constexpr size_t kRecentIds = 256;  // Consul keeps 256 events; remember as many

}  // namespace

AppliedEvents::AppliedEvents(const fs::path& state_dir, const std::string& pipeline)
    : path_(state_dir / (pipeline + ".json")) {
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) throw Error("state_dir " + state_dir.string() + ": cannot create it: " + ec.message());
  std::ifstream in(path_);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error("state file " + path_.string() + " is not valid JSON; move it away to start afresh "
                "(haul would then apply the newest buffered event again)");
  if (j.contains("last") && j["last"].is_object()) {
    const auto& l = j["last"];
    AppliedEvent e;
    e.id = l.value("id", "");
    e.ltime = l.value("ltime", uint64_t{0});
    e.manifest_url = l.value("manifest_url", "");
    e.manifest_sha256 = l.value("manifest_sha256", "");
    e.result = l.value("result", "");
    e.error = l.value("error", "");
    e.finished_at_unix_ms = l.value("finished_at_unix_ms", uint64_t{0});
    last_ = e;
  }
  if (j.contains("recent_ids") && j["recent_ids"].is_array())
    for (const auto& id : j["recent_ids"])
      if (id.is_string()) recent_ids_.push_back(id.get<std::string>());
}

AppliedEvents::Decision AppliedEvents::decide(const std::string& id, uint64_t ltime) const {
  Decision d;
  if (id.empty()) return d;
  std::lock_guard<std::mutex> lock(mu_);
  if (std::find(recent_ids_.begin(), recent_ids_.end(), id) != recent_ids_.end()) {
    d.kind = Decision::skip;
    d.why = "event " + id + " was already applied";
  } else if (last_ && ltime > 0 && last_->ltime > 0 && ltime < last_->ltime) {
    d.kind = Decision::apply_unless_running;
    d.why = "event " + id + " has ltime " + std::to_string(ltime) + ", lower than the last applied event " + last_->id +
            " (ltime " + std::to_string(last_->ltime) +
            "): the event history was reset (a restarted Consul dev agent, a rebuilt cluster?)";
    if (last_->result == "success") d.running_manifest_sha256 = last_->manifest_sha256;
  }
  return d;
}

void AppliedEvents::record(const AppliedEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  last_ = e;
  if (!e.id.empty()) {
    recent_ids_.push_back(e.id);
    while (recent_ids_.size() > kRecentIds) recent_ids_.pop_front();
  }
  save();
}

std::optional<AppliedEvent> AppliedEvents::last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

void AppliedEvents::save() const {
  nlohmann::json j;
  j["version"] = 1;
  if (last_)
    j["last"] = {{"id", last_->id},
                 {"ltime", last_->ltime},
                 {"manifest_url", last_->manifest_url},
                 {"manifest_sha256", last_->manifest_sha256},
                 {"result", last_->result},
                 {"error", last_->error},
                 {"finished_at_unix_ms", last_->finished_at_unix_ms}};
  j["recent_ids"] = recent_ids_;
  write_file_durably(path_, j.dump(2) + "\n");
}

}  // namespace haul
