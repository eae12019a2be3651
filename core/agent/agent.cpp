#include "agent/agent.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "deploy/deploy_engine.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

class PipelineRunner {
 public:
  PipelineRunner(Pipeline& p, StopSignal& stop, const AgentOptions& options) : p_(p), stop_(stop), options_(options) {}

  void trigger_loop() {
    int consecutive_errors = 0;
    while (!stop_.raised()) {
      TriggerEvent ev;
      haul_rc rc;
      try {
        rc = p_.trigger->next(1000, ev);
        consecutive_errors = 0;
      } catch (const Error& e) {
        spdlog::error("[{}] {}", p_.name, e.what());
        note_trigger_error();
        // The first error is retried at once (a handler trigger ends on the
        // next call); repeated errors back off up to 30 s.
        if (consecutive_errors++ > 0) {
          auto wait = std::chrono::milliseconds(std::min(30000, 500 << std::min(consecutive_errors, 6)));
          stop_.sleep_for(wait);
        }
        continue;
      }
      if (rc == HAUL_OK) offer(std::move(ev));
      if (rc == HAUL_END || rc == HAUL_CANCELLED) break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    trigger_done_ = true;
    cv_.notify_all();
  }

  void deploy_loop() {
    DeployEngine engine(p_.name, p_.sources, p_.hook_ptrs(), p_.deploy);
    while (true) {
      std::optional<TriggerEvent> ev;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return pending_ || trigger_done_ || stop_.raised(); });
        if (!pending_ || stop_.raised()) return;
        ev.swap(pending_);
      }
      std::string url = trim_payload(ev->payload);
      if (url.empty()) {
        spdlog::error("[{}] event {} has an empty payload; expected a manifest URL", p_.name, describe(*ev));
        note_trigger_error();
        continue;
      }
      if (p_.applied) {
        std::string why = p_.applied->skip_reason(ev->id, ev->ltime);
        if (!why.empty()) {
          spdlog::info("[{}] {}; not deploying it again", p_.name, why);
          continue;
        }
      }
      spdlog::info("[{}] deploying {} (event {})", p_.name, url, describe(*ev));
      DeployResult r = engine.run({url, ev->id, ev->ltime}, stop_);
      if (p_.applied) {
        try {
          p_.applied->record({ev->id, ev->ltime, url, r.manifest_sha256, r.ok ? "success" : "failure", r.error,
                              r.finished_at_unix_ms});
        } catch (const std::exception& e) {
          spdlog::error("[{}] {}", p_.name, e.what());
        }
      }
      if (options_.metrics) {
        options_.metrics->record_deploy(p_.name, r.ok, static_cast<double>(r.duration.count()) / 1000.0, r.bytes_fetched,
                                        r.release, static_cast<int64_t>(r.finished_at_unix_ms / 1000));
        if (!options_.metrics_textfile.empty()) {
          try {
            write_metrics_textfile(options_.metrics_textfile, *options_.metrics);
          } catch (const std::exception& e) {
            spdlog::warn("{}", e.what());
          }
        }
      }
      std::lock_guard<std::mutex> lock(mu_);
      ++summary_.deploys;
      if (!r.ok) ++summary_.failures;
      spdlog::log(r.ok ? spdlog::level::info : spdlog::level::err, "[{}] deploy of {} {} in {}", p_.name, url,
                  r.ok ? "succeeded" : "failed", format_duration(r.duration));
    }
  }

  void wake() {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }

  AgentSummary summary() {
    std::lock_guard<std::mutex> lock(mu_);
    return summary_;
  }

 private:
  static std::string trim_payload(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
  }
  static std::string describe(const TriggerEvent& ev) {
    std::string d = ev.id.empty() ? "(no id)" : ev.id;
    if (ev.ltime) d += ", ltime " + std::to_string(ev.ltime);
    return d;
  }

  void offer(TriggerEvent ev) {
    spdlog::info("[{}] event {} received", p_.name, describe(ev));
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_)
      spdlog::info("[{}] event {} superseded by newer event {} before it started", p_.name, describe(*pending_),
                   describe(ev));
    pending_ = std::move(ev);
    cv_.notify_all();
  }

  void note_trigger_error() {
    std::lock_guard<std::mutex> lock(mu_);
    ++summary_.trigger_errors;
  }

  Pipeline& p_;
  StopSignal& stop_;
  const AgentOptions& options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<TriggerEvent> pending_;
  bool trigger_done_ = false;
  AgentSummary summary_;
};

}  // namespace

AgentSummary run_agent(const std::vector<std::unique_ptr<Pipeline>>& pipelines, StopSignal& stop,
                       const AgentOptions& options) {
  std::vector<std::unique_ptr<PipelineRunner>> runners;
  std::vector<std::thread> threads;
  for (const auto& p : pipelines) runners.push_back(std::make_unique<PipelineRunner>(*p, stop, options));
  std::vector<std::thread> deployers;
  for (auto& r : runners) {
    threads.emplace_back([&r] { r->trigger_loop(); });
    deployers.emplace_back([&r] { r->deploy_loop(); });
  }
  // On stop: wake blocked triggers and idle deployers so every thread sees it.
  int listener = stop.listen([&] {
    for (const auto& p : pipelines) p->trigger->cancel();
    for (auto& r : runners) r->wake();
  });
  for (auto& t : threads) t.join();
  for (auto& t : deployers) t.join();
  stop.unlisten(listener);
  AgentSummary total;
  for (auto& r : runners) {
    AgentSummary s = r->summary();
    total.deploys += s.deploys;
    total.failures += s.failures;
    total.trigger_errors += s.trigger_errors;
  }
  return total;
}

}  // namespace haul
