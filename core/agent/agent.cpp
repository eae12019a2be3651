// SPDX-License-Identifier: Apache-2.0
#include "agent/agent.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <vector>

#include "agent/event_request.hpp"
#include "agent/reconciler.hpp"
#include "deploy/deploy_engine.hpp"
#include "deploy/hook_phase.hpp"
#include "deploy/release_rollback.hpp"
#include "util/error.hpp"
#include "util/joining_thread.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

// What the deploy thread takes next: a trigger's event, or a deploy the
// desired-release check asked for.
struct Pending {
  TriggerEvent event;
  std::string expected_manifest_sha256;  // set for the desired-release check
  // Set by the rollout watch: undo this switch (its rollout was halted). A
  // newer event supersedes it like any pending work: the new release
  // replaces the halted one anyway.
  std::optional<HaltedRelease> undo;
};

class PipelineRunner {
 public:
  PipelineRunner(Pipeline& p, StopSignal& stop, StopSignal& abort, const AgentOptions& options)
      : p_(p), stop_(stop), abort_(abort), options_(options) {
    if (!p_.desired.empty())
      reconciler_ = std::make_unique<Reconciler>(p_.name, p_.desired, p_.sources, fetch_policy_for(p_.deploy),
                                                 p_.reconcile_interval);
  }

  // A pipeline that reconciles keeps running after its trigger ends (the
  // stdin handler's one event).
  bool reconciles() const { return reconciler_ != nullptr; }

  // At start-up, then every reconcile_interval ±20% (so a fleet spreads its
  // reads of the store); an unreadable pointer is retried sooner, backing off
  // from 1 s up to the interval.
  void reconcile_loop() {
    std::mt19937_64 rng(std::random_device{}());
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    int errors = 0;
    std::string quiet_state;
    while (!stop_.raised()) {
      std::chrono::milliseconds wait{0};
      try {
        ReconcileDecision d = reconciler_->check(stop_);
        errors = 0;
        if (d.kind != ReconcileDecision::pinned && d.kind != ReconcileDecision::backing_off) quiet_state.clear();
        if (d.kind == ReconcileDecision::deploy && queued_or_running(d.request.expected_manifest_sha256)) {
          spdlog::debug("[{}] desired release {}: its deploy is already queued or running", p_.name, d.pointer.release);
        } else if (d.kind == ReconcileDecision::deploy) {
          spdlog::info("[{}] desired release: {}; deploying", p_.name, d.why);
          Pending pending;
          pending.event.name = "desired";
          pending.event.payload = d.request.manifest_url;
          pending.expected_manifest_sha256 = d.request.expected_manifest_sha256;
          offer(std::move(pending), "the desired release " + d.pointer.release);
        } else if (d.kind == ReconcileDecision::up_to_date) {
          spdlog::debug("[{}] desired release: {}", p_.name, d.why);
        } else {
          // Pinned, or backing off: said once, then at debug level while it lasts.
          const std::string state = std::to_string(d.kind) + " " + d.pointer.release;
          spdlog::log(state == quiet_state ? spdlog::level::debug : spdlog::level::info, "[{}] desired release: {}",
                      p_.name, d.why);
          quiet_state = state;
        }
        wait = std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(p_.reconcile_interval.count()) * jitter(rng)));
      } catch (const std::exception& e) {
        ++errors;
        wait = reconcile_backoff(std::chrono::seconds(1), errors, p_.reconcile_interval);
        spdlog::warn("[{}] desired release: cannot read {}: {}; retrying in {}", p_.name, p_.desired, e.what(),
                     format_duration(wait));
        std::lock_guard<std::mutex> lock(mu_);
        ++summary_.reconcile_errors;
      }
      if (!stop_.sleep_for(wait)) break;
    }
  }

  void trigger_loop() {
    int consecutive_errors = 0;
    while (!stop_.raised()) {
      TriggerEvent ev;
      haul_rc rc;
      try {
        rc = p_.trigger->next(1000, ev);
        consecutive_errors = 0;
      } catch (const Error& e) {
        log_plugin_error(e.what());
        note_trigger_error();
        // The first error is retried at once (a handler trigger ends on the
        // next call); repeated errors back off up to 30 s.
        if (consecutive_errors++ > 0) {
          auto wait = std::chrono::milliseconds(std::min(30000, 500 << std::min(consecutive_errors, 6)));
          stop_.sleep_for(wait);
        }
        continue;
      }
      if (rc == HAUL_OK) {
        Pending pending;
        pending.event = std::move(ev);
        offer(std::move(pending), "");
      }
      if (rc == HAUL_END || rc == HAUL_CANCELLED) break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    trigger_done_ = true;
    cv_.notify_all();
  }

  void deploy_loop() {
    while (true) {
      std::optional<Pending> next;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return pending_ || (trigger_done_ && !reconciles() && !watch_) || stop_.raised(); });
        if (!pending_ || stop_.raised()) {
          deployer_done_ = true;
          cv_.notify_all();
          return;
        }
        next.swap(pending_);
        running_sha_ = next->expected_manifest_sha256;
        if (!next->undo) supersede_watch();  // a newer deploy: the old rollout is not this node's concern
      }
      struct RunningDone {  // however this iteration ends
        PipelineRunner* r;
        ~RunningDone() {
          std::lock_guard<std::mutex> lock(r->mu_);
          r->running_sha_.clear();
        }
      } running_done{this};
      if (next->undo) {
        try {
          undo_halted_release(*next->undo, p_.hook_ptrs(), p_.deploy.lock_timeout, stop_);
        } catch (const std::exception& e) {
          spdlog::error("[{}] rolling back after the halted rollout of {}: {}", p_.name, next->undo->rollout_release,
                        e.what());
        }
        continue;
      }
      const TriggerEvent* ev = &next->event;
      const EventRequest asked = request_for_event(p_.name, *ev, next->expected_manifest_sha256, p_.applied.get());
      if (asked.kind == EventRequest::malformed) note_trigger_error();
      if (asked.kind != EventRequest::deploy) continue;
      const DeployRequest& request = asked.request;
      const std::string& url = request.manifest_url;
      spdlog::info("[{}] deploying {} (event {})", p_.name, url, describe_event(*ev));
      DeployResult r = p_.run_deploy(request, abort_, &stop_);
      if (r.interrupted) {
        // Not an outcome of the release: it is deployed again after a restart.
        spdlog::warn("[{}] deploy of {} was interrupted by the shutdown; not recorded as applied", p_.name, url);
        std::lock_guard<std::mutex> lock(mu_);
        ++summary_.interrupted;
        continue;
      }
      // Whatever brought it (an event too), a failed manifest is not tried
      // again by the desired-release check before its back-off.
      if (reconciler_ && !r.manifest_sha256.empty()) reconciler_->deployed(r.manifest_sha256, r.ok);
      if (r.ok && !r.rollout_release.empty() && p_.rollout.rollback_on_halt) watch_rollout(r);

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
      if (r.skipped)
        spdlog::info("[{}] {} is already applied; nothing deployed", p_.name, url);
      else
        spdlog::log(r.ok ? spdlog::level::info : spdlog::level::err, "[{}] deploy of {} {} in {}", p_.name, url,
                    r.ok ? "succeeded" : "failed", format_duration(r.duration));
    }
  }

  bool watches_rollouts() const { return p_.gate && p_.rollout.rollback_on_halt; }

  // on_halt: rollback — after this node switched, it watches the rollout
  // until it completes, is halted (then the deploy thread rolls back), or a
  // newer deploy supersedes it. In the stdin handler the process stays
  // until then, so that a halt after its deploy still reaches it.
  void watch_loop() {
    while (true) {
      HaltedRelease w;
      uint64_t generation = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return watch_ || deployer_done_ || stop_.raised(); });
        if (!watch_ || stop_.raised()) return;
        w = *watch_;
        generation = watch_generation_;
      }
      GateCall call;
      call.pipeline = p_.name;
      call.release = w.rollout_release;
      call.node = host_name();
      call.policy = p_.rollout;
      call.log = [this](haul_log_level level, const std::string& m) {
        spdlog::log(level >= HAUL_LOG_WARN ? spdlog::level::warn : spdlog::level::info, "[{}] {}", p_.name, m);
      };
      call.cancelled = [this, generation] { return stop_.raised() || watch_generation_ != generation; };
      std::optional<haul_gate_verdict> verdict;
      try {
        verdict = p_.gate->watch(call, std::chrono::minutes(1));
      } catch (const std::exception& e) {
        if (call.cancelled()) continue;
        spdlog::warn("[{}] watching the rollout of {}: {}; trying again in 5s", p_.name, w.rollout_release, e.what());
        stop_.sleep_for(std::chrono::seconds(5));
        continue;
      }
      if (!verdict) continue;  // still rolling out
      std::lock_guard<std::mutex> lock(mu_);
      if (watch_generation_ != generation) continue;
      watch_.reset();
      if (*verdict == HAUL_GATE_HALTED && pending_ && !pending_->undo) {
        spdlog::info("[{}] rollout of {} was halted; the release waiting to deploy replaces it", p_.name,
                     w.rollout_release);
      } else if (*verdict == HAUL_GATE_HALTED) {
        Pending undo;
        undo.undo = w;
        offer_locked(std::move(undo), "the rollback of " + w.rollout_release + " (its rollout was halted)");
      } else {
        spdlog::info("[{}] rollout of {} completed; no longer watching it", p_.name, w.rollout_release);
      }
      cv_.notify_all();
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
  // A plugin's error reads "<pipeline>/<plugin>: ..."; logged as
  // "[web/consul-http] ...", not "[web] web/consul-http: ...".
  void log_plugin_error(const std::string& msg) const {
    const size_t colon = msg.find(": ");
    if (msg.rfind(p_.name + "/", 0) == 0 && colon != std::string::npos && msg.find(' ') > colon)
      spdlog::error("[{}] {}", msg.substr(0, colon), msg.substr(colon + 2));
    else
      spdlog::error("[{}] {}", p_.name, msg);
  }

  // A deploy slower than the interval must not be queued again behind itself.
  bool queued_or_running(const std::string& manifest_sha256) {
    std::lock_guard<std::mutex> lock(mu_);
    return running_sha_ == manifest_sha256 ||
           (pending_ && pending_->expected_manifest_sha256 == manifest_sha256);
  }

  // label: how to name a non-event in the log ("" for a trigger's event).
  void offer(Pending next, const std::string& label) {
    if (label.empty()) spdlog::info("[{}] event {} received", p_.name, describe_event(next.event));
    std::lock_guard<std::mutex> lock(mu_);
    offer_locked(std::move(next), label);
  }

  void offer_locked(Pending next, const std::string& label) {
    const std::string what = label.empty() ? "event " + describe_event(next.event) : label;
    if (pending_)
      spdlog::info("[{}] {} superseded by {} before it started", p_.name, pending_label_, what);
    pending_ = std::move(next);
    pending_label_ = what;
    cv_.notify_all();
  }

  void watch_rollout(const DeployResult& r) {
    if (r.release_id.empty()) return;  // nothing switched (already live, or not a release strategy: see the gate stage)
    std::lock_guard<std::mutex> lock(mu_);
    watch_ = HaltedRelease{p_.name, r.rollout_release, r.dest, r.release_id, r.previous_release_id};
    ++watch_generation_;
    cv_.notify_all();
  }

  // Called with mu_ held.
  void supersede_watch() {
    if (!watch_) return;
    watch_.reset();
    ++watch_generation_;
  }

  void note_trigger_error() {
    std::lock_guard<std::mutex> lock(mu_);
    ++summary_.trigger_errors;
  }

  Pipeline& p_;
  StopSignal& stop_;   // stopping: no new work
  StopSignal& abort_;  // abort the deploy in progress
  const AgentOptions& options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Pending> pending_;
  std::string pending_label_;
  std::string running_sha_;  // expected manifest sha256 of the running deploy, if a desired one
  std::unique_ptr<Reconciler> reconciler_;
  bool trigger_done_ = false;
  bool deployer_done_ = false;
  std::optional<HaltedRelease> watch_;  // the switch the rollout watch guards
  std::atomic<uint64_t> watch_generation_{0};
  AgentSummary summary_;
};

}  // namespace

AgentSummary run_agent(const std::vector<std::unique_ptr<Pipeline>>& pipelines, StopSignal& stop, StopSignal& abort,
                       const AgentOptions& options) {
  std::vector<std::unique_ptr<PipelineRunner>> runners;
  for (const auto& p : pipelines) runners.push_back(std::make_unique<PipelineRunner>(*p, stop, abort, options));
  // On stop: wake blocked triggers and idle deployers so every thread sees it.
  const auto wake_all = [&] {
    for (const auto& p : pipelines) p->trigger->cancel();
    for (auto& r : runners) r->wake();
  };
  std::vector<JoiningThread> threads, deployers;  // after what they use, so gone before it
  // A thread that could not start stops the agent: those started end before the error goes up.
  const auto start = [&](std::vector<JoiningThread>& into, std::function<void()> loop) {
    into.emplace_back(std::move(loop));
    into.back().unblock_with([&] {
      stop.raise();
      wake_all();
    });
  };
  for (auto& r : runners) {
    start(threads, [&r] { r->trigger_loop(); });
    start(deployers, [&r] { r->deploy_loop(); });
    if (r->reconciles()) start(threads, [&r] { r->reconcile_loop(); });
    if (r->watches_rollouts()) start(threads, [&r] { r->watch_loop(); });
  }
  int listener = stop.listen(wake_all);
  for (auto& t : threads) t.join();
  for (auto& t : deployers) t.join();
  stop.unlisten(listener);
  AgentSummary total;
  for (auto& r : runners) {
    total += r->summary();
  }
  return total;
}

}  // namespace haul
