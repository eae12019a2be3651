// SPDX-License-Identifier: Apache-2.0
// What every trigger that polls a server shares (consul-http, etcd-watch): a
// poller thread of its own, cancel that wakes it, the newest undelivered
// event kept and older ones coalesced into it (the core dedups and deploys
// the newest), and the poller's errors queued for next() to report. A
// trigger owns one as its last member, so the poller stops before anything
// it uses goes away, and forwards next() and cancel() to it.
//
// The poller starts at the first next(), not when the trigger is made: the
// core builds every pipeline of a config before it runs any (and `haul
// check` builds them and runs none), so a trigger of a config that turns
// out to be wrong further down never queries its server.
#pragma once

#include <haul/sdk.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

namespace haul::plugins {

class PollingTrigger {
 public:
  // poll runs on its own thread, from the first next() until cancel(): it
  // calls emit() for each event, report() for each error, and returns when
  // stopping() or when pause() says it was cancelled.
  explicit PollingTrigger(std::function<void(PollingTrigger&)> poll) : poll_(std::move(poll)) {}
  ~PollingTrigger() {
    cancel();
    if (thread_.joinable()) thread_.join();
  }
  PollingTrigger(const PollingTrigger&) = delete;
  PollingTrigger& operator=(const PollingTrigger&) = delete;

  // The core's side. next() is called from one thread at a time (plugin.h),
  // so the first call starts the poller once; after cancel() it never does.
  haul::sdk::Next next(std::chrono::milliseconds timeout, haul::sdk::Event& out) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { poll_(*this); });
    cv_.wait_for(lock, timeout, [&] { return stopping_ || pending_ || !errors_.empty(); });
    if (!errors_.empty()) {
      std::string e = errors_.front();
      errors_.pop_front();
      throw std::runtime_error(e);
    }
    if (pending_) {
      out = std::move(*pending_);
      pending_.reset();
      return haul::sdk::Next::event;
    }
    return stopping_ ? haul::sdk::Next::cancelled : haul::sdk::Next::timeout;
  }
  void cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

  // The poller's side.
  bool stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }
  // Sleeps d unless cancelled; false when cancelled.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stopping_; });
  }
  // Replaces any undelivered event: only the newest matters.
  void emit(haul::sdk::Event event) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = std::move(event);
    cv_.notify_all();
  }
  // After the failures-th failure in a row: reports error with the wait,
  // then waits first·2^failures (capped at max), jittered to half–full so a
  // fleet does not retry in step. False when cancelled meanwhile.
  bool retry_after(const std::string& error, int failures, std::chrono::milliseconds first,
                   std::chrono::milliseconds max) {
    const long long cap = std::min<long long>(max.count(), first.count() << std::min(failures, 8));
    const std::chrono::milliseconds wait(std::uniform_int_distribution<long long>(cap / 2, cap)(rng_));
    report(error + " (retrying in " + std::to_string(wait.count()) + "ms)");
    return pause(wait);
  }
  // At most 8 errors wait for next(); a poller failing faster loses the rest.
  void report(const std::string& error) {
    std::lock_guard<std::mutex> lock(mu_);
    if (errors_.size() < 8) errors_.push_back(error);
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::optional<haul::sdk::Event> pending_;
  std::deque<std::string> errors_;
  std::mt19937 rng_{std::random_device{}()};  // the poller's thread only
  std::function<void(PollingTrigger&)> poll_;
  std::thread thread_;  // started by the first next(), once everything above exists
};

}  // namespace haul::plugins
