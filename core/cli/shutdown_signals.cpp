// SPDX-License-Identifier: Apache-2.0
#include "cli/shutdown_signals.hpp"

#include <spdlog/spdlog.h>

#include <csignal>

namespace haul {
namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);  // internal: tells the waiting thread to finish
  return set;
}

const char* name_of(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM"; }

}  // namespace

ShutdownSignals::ShutdownSignals(StopSignal& stopping, StopSignal* abort, std::function<void()> on_hangup) {
  sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = JoiningThread([&stopping, abort, on_hangup = std::move(on_hangup), set] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      if (sig == SIGUSR1) return;
      if (sig == SIGHUP && on_hangup) {
        on_hangup();
        continue;
      }
      const std::string name = std::string(name_of(sig)) + (sig == SIGHUP ? " (taken as SIGTERM: only the agent reloads)" : "");
      if (!abort) {
        spdlog::info("received {}: stopping", name);
        stopping.raise();
      } else if (!stopping.raised()) {
        spdlog::info("received {}: finishing the deploy in progress, then stopping (send it again to abort the "
                     "deploy safely)", name);
        stopping.raise();
      } else if (!abort->raised()) {
        spdlog::warn("received {} again: aborting the deploy in progress (its log ends with the state dest is left in)",
                     name);
        abort->raise();
      }
    }
  });
}

ShutdownSignals::~ShutdownSignals() {
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

}  // namespace haul
