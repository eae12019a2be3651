// SPDX-License-Identifier: Apache-2.0
#include "cli/rollout_report.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iomanip>
#include <map>

#include "util/units.hpp"

namespace haul {
namespace {

std::string ago(uint64_t at_ms) {
  const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch()).count());
  if (!at_ms || now < at_ms + 1000) return "just now";
  return format_duration(std::chrono::seconds((now - at_ms) / 1000)) + " ago";
}

std::string policy_line(const nlohmann::json& p) {
  const uint32_t parallel = p.value("max_parallel", 0u);
  return "canary " + std::to_string(p.value("canary", 0u)) + ", soak " +
         format_duration(std::chrono::milliseconds(p.value("canary_soak_ms", uint64_t{0}))) + ", max_parallel " +
         (parallel ? std::to_string(parallel) : std::to_string(p.value("max_parallel_percent", 0u)) + "%") +
         ", max_failures " + std::to_string(p.value("max_failures", 1u)) + ", on_halt " + p.value("on_halt", "stay");
}

}  // namespace

std::string shell_quoted(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/' || c == ':';
  });
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool print_rollouts(std::ostream& out, const std::string& pipeline, const nlohmann::json& answer, bool nodes,
                    const std::string& where) {
  bool halted = false;
  const auto& rollouts = answer.value("rollouts", nlohmann::json::array());
  if (rollouts.empty()) out << "pipeline " << pipeline << ": no rollout yet (no node has reached the gate)\n";
  for (const auto& r : rollouts) {
    out << "pipeline " << pipeline << ", release " << r.value("release", "") << ": " << r.value("progress", "");
    if (const uint64_t soak = r.value("soak_left_ms", uint64_t{0}))
      out << " (" << format_duration(std::chrono::seconds((soak + 999) / 1000)) << " of the canary soak left)";
    out << " (started " << ago(r.value("started_at_ms", uint64_t{0})) << ")\n";
    out << "  policy: " << policy_line(r.value("policy", nlohmann::json::object())) << "; " << r.value("slot_limit", 0u)
        << " at once now\n";
    const nlohmann::json nodes_of = r.value("nodes", nlohmann::json::object());
    std::map<std::string, int> counts = {{"done", 0}, {"deploying", 0}, {"waiting", 0}, {"failed", 0}, {"held", 0}};
    for (const auto& [name, n] : nodes_of.items()) ++counts[n.value("state", "")];
    out << "  nodes: " << counts["done"] << " done, " << counts["deploying"] << " deploying, " << counts["waiting"]
        << " waiting, " << counts["failed"] << " failed, " << counts["held"] << " held back\n";
    if (r.value("progress", "") == "held")
      out << "  not done: the nodes held back by the halt deploy it at their next event or desired: check "
             "(fire the event again to bring them now)\n";
    if (r.contains("halted") && !r["halted"].is_null()) {
      halted = true;
      const auto& h = r["halted"];
      out << "  HALTED by " << h.value("by", "") << " " << ago(h.value("at_ms", uint64_t{0})) << ": "
          << h.value("reason", "") << "\n  (haul rollout resume --pipeline " << shell_quoted(pipeline) << " --release "
          << shell_quoted(r.value("release", "")) << where << " lets it go on)\n";
    }
    if (!nodes) continue;
    for (const auto& [name, n] : nodes_of.items()) {
      out << "    " << std::left << std::setw(20) << name << std::setw(10) << n.value("state", "")
          << std::setw(8) << (n.value("canary", false) ? "canary" : "") << ago(n.value("since_ms", uint64_t{0}));
      if (!n.value("error", "").empty()) out << "  " << n.value("error", "");
      out << "\n";
    }
  }
  return halted;
}

}  // namespace haul
