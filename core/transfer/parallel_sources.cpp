// SPDX-License-Identifier: Apache-2.0
#include "transfer/parallel_sources.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <vector>

#include "util/joining_thread.hpp"

namespace haul {

void for_each_with_sources(const SourceSet& sources, size_t count, size_t threads,
                           const std::function<void(const SourceSet&, size_t)>& job) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::exception_ptr error;
  std::vector<JoiningThread> workers;
  for (size_t w = 0; w < std::min(threads, count); ++w) {
    workers.emplace_back([&, w] {
      try {
        std::optional<SourceSet> own;
        if (w > 0) own.emplace(sources.twin());
        const SourceSet& mine = own ? *own : sources;
        for (size_t i = next++; i < count && !failed; i = next++) job(mine, i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    });
    workers.back().unblock_with([&] { failed = true; });  // a worker that could not start: the others stop early
  }
  for (auto& t : workers) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace haul
