// Turns SIGINT and SIGTERM into StopSignal raises, handled on a thread of
// its own with sigwait (no work in a signal handler). Construct it before any
// other thread starts, so every thread inherits the blocked mask.
//
// Commands that deploy stop in two stages: the first signal raises
// `stopping` (take no new work, let the deploy in progress finish, hooks and
// all), a second raises `abort` (abort the deploy in progress safely: staging
// removed, dest as it was or rolled back). Without `abort`, the first signal
// raises `stopping` and that is all.
#pragma once

#include <pthread.h>

#include <thread>

#include "util/stop_signal.hpp"

namespace haul {

class ShutdownSignals {
 public:
  explicit ShutdownSignals(StopSignal& stopping, StopSignal* abort = nullptr);
  ~ShutdownSignals();

 private:
  std::thread thread_;
};

}  // namespace haul
