#include "cli/rollout_report.hpp"

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

bool print_rollouts(std::ostream& out, const std::string& pipeline, const nlohmann::json& answer, bool nodes) {
  bool halted = false;
  const auto& rollouts = answer.value("rollouts", nlohmann::json::array());
  if (rollouts.empty()) out << "pipeline " << pipeline << ": no rollout yet (no node has reached the gate)\n";
  for (const auto& r : rollouts) {
    out << "pipeline " << pipeline << ", release " << r.value("release", "") << ": " << r.value("progress", "")
        << " (started " << ago(r.value("started_at_ms", uint64_t{0})) << ")\n";
    out << "  policy: " << policy_line(r.value("policy", nlohmann::json::object())) << "; " << r.value("slot_limit", 0u)
        << " at once now\n";
    const nlohmann::json nodes_of = r.value("nodes", nlohmann::json::object());
    std::map<std::string, int> counts = {{"done", 0}, {"deploying", 0}, {"waiting", 0}, {"failed", 0}, {"held", 0}};
    for (const auto& [name, n] : nodes_of.items()) ++counts[n.value("state", "")];
    out << "  nodes: " << counts["done"] << " done, " << counts["deploying"] << " deploying, " << counts["waiting"]
        << " waiting, " << counts["failed"] << " failed, " << counts["held"] << " held back\n";
    if (r.contains("halted") && !r["halted"].is_null()) {
      halted = true;
      const auto& h = r["halted"];
      out << "  HALTED by " << h.value("by", "") << " " << ago(h.value("at_ms", uint64_t{0})) << ": "
          << h.value("reason", "") << "\n  (haul rollout resume --pipeline " << pipeline << " --release "
          << r.value("release", "") << " lets it go on)\n";
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
