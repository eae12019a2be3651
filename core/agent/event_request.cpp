// SPDX-License-Identifier: Apache-2.0
#include "agent/event_request.hpp"

#include <haul/sdk.hpp>
#include <spdlog/spdlog.h>

#include "util/units.hpp"

namespace haul {
namespace {

constexpr size_t kMaxUrlBytes = 4096;

}  // namespace

std::string describe_event(const TriggerEvent& ev) {
  std::string d = ev.id.empty() ? "(no id)" : ev.id;
  if (ev.ltime) d += ", ltime " + std::to_string(ev.ltime);
  return d;
}

EventRequest request_for_event(const std::string& pipeline, const TriggerEvent& ev,
                               const std::string& expected_manifest_sha256, AppliedEvents* applied) {
  EventRequest out;
  const std::string url = sdk::trim(ev.payload);
  if (url.empty()) {
    spdlog::error("[{}] event {} has an empty payload; expected a manifest URL", pipeline, describe_event(ev));
    out.kind = EventRequest::malformed;
    return out;
  }
  // A URL is short (a Consul or Serf event holds 512 bytes in all); a
  // payload of megabytes is refused once, not echoed through every line.
  if (url.size() > kMaxUrlBytes || url.find('\n') != std::string::npos) {
    spdlog::error("[{}] event {} has a payload of {} that is not a manifest URL (one line of at most {} bytes "
                  "expected): {}...",
                  pipeline, describe_event(ev), format_bytes(url.size()), kMaxUrlBytes, url.substr(0, 200));
    out.kind = EventRequest::malformed;
    return out;
  }
  out.request = DeployRequest{url, ev.id, ev.ltime, expected_manifest_sha256, ""};
  if (!applied) return out;
  out.request.unless_dest_runs_it = !applied->last().has_value();
  const auto decision = applied->decide(ev.id, ev.ltime);
  if (decision.kind == AppliedEvents::Decision::skip) {
    spdlog::info("[{}] {}; not deploying it again", pipeline, decision.why);
    out.kind = EventRequest::already_applied;
  } else if (decision.kind == AppliedEvents::Decision::apply_unless_running) {
    spdlog::warn("[{}] {}; deploying it unless its manifest is the one already applied", pipeline, decision.why);
    out.request.unless_manifest_sha256 = decision.running_manifest_sha256;
  }
  return out;
}

}  // namespace haul
