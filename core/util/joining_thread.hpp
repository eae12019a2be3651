// SPDX-License-Identifier: Apache-2.0
// A std::thread that is always joined: an exception or an early return
// between starting a thread and joining it must neither std::terminate the
// process (a joinable std::thread's destructor does) nor leave the thread
// running on locals that are gone (detach would). Code that joins at a
// precise point (before reading a result, before closing a pipe) still calls
// join() there; the destructor covers only the paths that skip it.
//
// A thread that waits on its owner — a pipe only the owner drains, a feed
// only the owner cancels — would make that destructor's join wait for ever:
// unblock_with() names what lets it finish, and the destructor calls it
// before joining a thread nobody joined.
#pragma once

#include <functional>
#include <thread>
#include <type_traits>
#include <utility>

namespace haul {

class JoiningThread {
 public:
  JoiningThread() noexcept = default;
  template <typename Body, typename = std::enable_if_t<!std::is_same_v<std::decay_t<Body>, JoiningThread>>>
  explicit JoiningThread(Body&& body) : thread_(std::forward<Body>(body)) {}

  JoiningThread(JoiningThread&& other) noexcept
      : thread_(std::move(other.thread_)), unblock_(std::move(other.unblock_)) {}
  // The thread this one held is finished (unblocked and joined) first.
  JoiningThread& operator=(JoiningThread&& other) noexcept {
    if (this != &other) {
      finish();
      thread_ = std::move(other.thread_);
      unblock_ = std::move(other.unblock_);
    }
    return *this;
  }
  JoiningThread(const JoiningThread&) = delete;
  JoiningThread& operator=(const JoiningThread&) = delete;
  ~JoiningThread() { finish(); }

  // What the destructor calls before it joins a thread that join() was not
  // called for (close the pipe the thread writes to, cancel what it waits
  // on). Never called once join() was.
  void unblock_with(std::function<void()> unblock) { unblock_ = std::move(unblock); }

  bool joinable() const noexcept { return thread_.joinable(); }
  // Waits for the thread; again, or on a thread never started, does nothing.
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::thread::native_handle_type native_handle() { return thread_.native_handle(); }

 private:
  void finish() noexcept {
    if (!thread_.joinable()) return;
    if (unblock_) unblock_();
    thread_.join();
  }

  std::thread thread_;
  std::function<void()> unblock_;
};

}  // namespace haul
