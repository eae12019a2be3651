// SPDX-License-Identifier: Apache-2.0
// A flag one thread raises to stop work on others (agent shutdown, deploy
// timeout), with a sleep that wakes as soon as it is raised and callbacks
// for waits it cannot see (a trigger blocked in a plugin) — so no waiting in
// haul is ever longer than it needs to be.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

namespace haul {

class StopSignal {
 public:
  void raise() {
    std::lock_guard<std::mutex> running(callbacks_mu_);  // unlisten waits for running callbacks
    std::map<int, std::function<void()>> callbacks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (raised_) return;
      raised_ = true;
      callbacks = listeners_;
      cv_.notify_all();
    }
    for (auto& [id, cb] : callbacks) cb();
  }
  bool raised() const { return raised_.load(); }
  // Sleeps for d; returns false if the signal was raised meanwhile.
  bool sleep_for(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return raised_.load(); });
  }
  // cb runs once on raise (at once if already raised). Returns an id for unlisten.
  int listen(std::function<void()> cb) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!raised_) {
        listeners_[++next_id_] = std::move(cb);
        return next_id_;
      }
    }
    cb();
    return 0;
  }
  void unlisten(int id) {
    std::lock_guard<std::mutex> running(callbacks_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    listeners_.erase(id);
  }

 private:
  std::atomic<bool> raised_{false};
  std::mutex mu_, callbacks_mu_;
  std::condition_variable cv_;
  std::map<int, std::function<void()>> listeners_;
  int next_id_ = 0;
};

}  // namespace haul
