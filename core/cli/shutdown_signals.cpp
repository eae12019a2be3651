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

ShutdownSignals::ShutdownSignals(StopSignal& stop) {
  sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([&stop, set] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      if (sig == SIGUSR1) return;
      spdlog::info("received {}: finishing the deploy in progress, then stopping",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      stop.raise();
    }
  });
}

ShutdownSignals::~ShutdownSignals() {
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

}  // namespace haul
