// SPDX-License-Identifier: Apache-2.0
// Runs pipelines: per pipeline, one thread pulls events from the trigger and
// one thread deploys them, one at a time. Events that arrive while a deploy
// runs coalesce to the newest — an older release is never deployed after a
// newer one was announced. A pipeline with `desired:` runs a third thread,
// the desired-release check (agent/reconciler.hpp), feeding the same deploy
// thread. run() returns when every trigger has ended (the stdin handler
// after its one event) and no pipeline reconciles, or stop is raised.
#pragma once

#include <memory>
#include <vector>

#include "agent/metrics.hpp"
#include "pipeline/pipeline.hpp"
#include "util/stop_signal.hpp"

namespace haul {

struct AgentSummary {
  int deploys = 0;
  int failures = 0;        // failed deploys
  int trigger_errors = 0;  // e.g. unreadable event input
  int reconcile_errors = 0;  // desired-release pointer unreadable
  int interrupted = 0;       // deploys cut short by a shutdown (not recorded as applied)

  AgentSummary& operator+=(const AgentSummary& o) {
    deploys += o.deploys;
    failures += o.failures;
    trigger_errors += o.trigger_errors;
    reconcile_errors += o.reconcile_errors;
    interrupted += o.interrupted;
    return *this;
  }
};

struct AgentOptions {
  Metrics* metrics = nullptr;    // record every deploy here
  std::string metrics_textfile;  // and rewrite this file after each
};

// stop: the first SIGTERM — take no new events, let deploys in progress
// finish. abort: the second — abort them safely.
AgentSummary run_agent(const std::vector<std::unique_ptr<Pipeline>>& pipelines, StopSignal& stop, StopSignal& abort,
                       const AgentOptions& options = {});

}  // namespace haul
