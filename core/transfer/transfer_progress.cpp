// SPDX-License-Identifier: Apache-2.0
#include "transfer/transfer_progress.hpp"

#include <cstdio>

#include "util/units.hpp"

namespace haul {

namespace {
constexpr auto kTerminalEvery = std::chrono::milliseconds(200);
constexpr auto kLogEvery = std::chrono::seconds(10);

std::string rate_text(uint64_t bytes, double seconds) {
  return format_bytes(static_cast<uint64_t>(static_cast<double>(bytes) / std::max(seconds, 1e-3))) + "/s";
}
}  // namespace

TransferProgress::TransferProgress(std::string what, DeployLog& log, bool terminal)
    : what_(std::move(what)), log_(log), terminal_(terminal), start_(Clock::now()), last_shown_(start_) {}

std::string TransferProgress::describe(uint64_t done, uint64_t total, double seconds) {
  std::string text = format_bytes(done);
  if (total) text += " of " + format_bytes(total) + " (" + std::to_string(done * 100 / std::max<uint64_t>(total, 1)) + "%)";
  text += ", " + rate_text(done, seconds);
  if (total > done && done > 0 && seconds > 0) {
    const double left = static_cast<double>(total - done) * seconds / static_cast<double>(done);
    text += ", " + format_duration(std::chrono::milliseconds(static_cast<long long>(left * 1000) / 1000 * 1000)) + " left";
  }
  return text;
}

void TransferProgress::add(size_t bytes) {
  done_ += bytes;
  const auto now = Clock::now();
  if (now - last_shown_ < (terminal_ ? std::chrono::duration_cast<Clock::duration>(kTerminalEvery)
                                      : std::chrono::duration_cast<Clock::duration>(kLogEvery)))
    return;
  last_shown_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const std::string line = "Fetching " + what_ + ": " + describe(done_, total_, secs);
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K  %s", line.c_str());
    std::fflush(stderr);
    drawn_ = true;
  } else {
    log_.info(line);
  }
}

std::string TransferProgress::finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
  return format_bytes(done_) + " in " + format_duration(std::chrono::milliseconds(static_cast<long long>(secs * 1000))) +
         " (" + rate_text(done_, secs) + ")";
}

}  // namespace haul
