// SPDX-License-Identifier: Apache-2.0
#include "release/dest_lock.hpp"

#include <spdlog/spdlog.h>

#include <string>

#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {

DestLock::DestLock(const std::filesystem::path& path, std::chrono::milliseconds wait, StopSignal& stop)
    : lock_(path) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  bool announced = false;
  while (!lock_.try_lock()) {
    if (std::chrono::steady_clock::now() >= deadline)
      throw Error("another deploy holds " + path.string() + " (" + lock_.holder() + "); gave up after " +
                  format_duration(wait));
    if (!announced) spdlog::info("waiting for another deploy to release {} ({})", path.string(), lock_.holder());
    announced = true;
    if (!stop.sleep_for(std::chrono::milliseconds(50)))
      throw Error("cancelled while waiting for the deploy lock " + path.string());
  }
}

}  // namespace haul
