// Turns SIGINT and SIGTERM into a StopSignal raise, handled on a thread of
// its own with sigwait (no work in a signal handler). Construct it before any
// other thread starts, so every thread inherits the blocked mask.
#pragma once

#include <pthread.h>

#include <thread>

#include "util/stop_signal.hpp"

namespace haul {

class ShutdownSignals {
 public:
  explicit ShutdownSignals(StopSignal& stop);
  ~ShutdownSignals();

 private:
  std::thread thread_;
};

}  // namespace haul
