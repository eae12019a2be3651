// SPDX-License-Identifier: Apache-2.0
// A plugin's background chore — renewing a Consul session, keeping an etcd
// lease alive, a heartbeat — on a thread of its own: tick() at once, then
// every interval, until the Ticker is destroyed (which wakes and joins the
// thread, so a member Ticker must be declared after what tick() uses, or
// reset first). tick() must not throw.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace haul::plugins {

class Ticker {
 public:
  Ticker(std::chrono::milliseconds interval, std::function<void()> tick)
      : thread_([this, interval, tick = std::move(tick)] {
          std::unique_lock<std::mutex> lock(mu_);
          do {
            lock.unlock();
            tick();
            lock.lock();
          } while (!cv_.wait_for(lock, interval, [this] { return stopping_; }));
        }) {}
  ~Ticker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace haul::plugins
