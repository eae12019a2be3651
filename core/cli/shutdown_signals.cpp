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
  sigaddset(&set, SIGUSR1);  // internal: tells the waiting thread to finish
  return set;
}

}  // namespace

ShutdownSignals::ShutdownSignals(StopSignal& stopping, StopSignal* abort) {
  sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([&stopping, abort, set] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      if (sig == SIGUSR1) return;
      const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
      if (!abort) {
        spdlog::info("received {}: stopping", name);
        stopping.raise();
      } else if (!stopping.raised()) {
        spdlog::info("received {}: finishing the deploy in progress, then stopping (send it again to abort the "
                     "deploy safely)", name);
        stopping.raise();
      } else if (!abort->raised()) {
        spdlog::warn("received {} again: aborting the deploy in progress (staging removed, dest left as it was or "
                     "rolled back)", name);
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
