// SPDX-License-Identifier: Apache-2.0
// Turns SIGINT, SIGTERM and SIGHUP into StopSignal raises, handled on a
// thread of its own with sigwait (no work in a signal handler). Construct it
// before any other thread starts, so every thread inherits the blocked mask.
//
// Commands that deploy stop in two stages: the first signal raises
// `stopping` (take no new work, let the deploy in progress finish, hooks and
// all), a second raises `abort` (abort the deploy in progress safely: the
// deploy's log says what state dest is left in). Without `abort`, the first
// signal raises `stopping` and that is all.
//
// SIGHUP: with `on_hangup` (the agent), it calls that — reload the config —
// and nothing stops; without it (one-shot commands), it is a SIGTERM, said
// so in the log, never a silent death.
#pragma once

#include <pthread.h>

#include <functional>

#include "util/joining_thread.hpp"
#include "util/stop_signal.hpp"

namespace haul {

class ShutdownSignals {
 public:
  explicit ShutdownSignals(StopSignal& stopping, StopSignal* abort = nullptr, std::function<void()> on_hangup = nullptr);
  ~ShutdownSignals();

 private:
  JoiningThread thread_;
};

}  // namespace haul
