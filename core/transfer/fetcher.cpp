// SPDX-License-Identifier: Apache-2.0
#include "transfer/fetcher.hpp"

#include <thread>
#include <utility>

#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string scheme_of(const std::string& url) {
  size_t colon = url.find("://");
  if (colon == std::string::npos || colon == 0) return "";
  return url.substr(0, colon);
}

}  // namespace

void SourceSet::add(std::unique_ptr<SourceInstance> source) {
  for (const auto& s : source->plugin().schemes()) by_scheme_.emplace(s, source.get());
  sources_.push_back(std::move(source));
}

SourceInstance& SourceSet::for_url(const std::string& url) const {
  std::string scheme = scheme_of(url);
  auto it = by_scheme_.find(scheme);
  if (it != by_scheme_.end()) return *it->second;
  std::string list;
  for (const auto& s : schemes()) list += (list.empty() ? "" : ", ") + s + "://";
  if (scheme.empty() && !url.empty() && url[0] == '/')
    throw Error("'" + url + "' is a path, not a URL; for a local file write file://" + url);
  if (scheme.empty())
    throw Error("'" + url + "' is not a URL; expected one of " + list);
  throw Error(url + ": no source plugin serves the scheme '" + scheme + "'; available: " + list);
}

SourceSet SourceSet::twin() const {
  SourceSet copy;
  for (const auto& source : sources_) copy.add(source->twin());
  return copy;
}

std::vector<std::string> SourceSet::schemes() const {
  std::vector<std::string> out;
  for (const auto& [s, src] : by_scheme_) out.push_back(s);
  return out;
}

FetchOutcome fetch_stream(const SourceSet& sources, const std::string& url, const FetchPolicy& policy,
                          StopSignal& stop, DeployLog& log,
                          const std::function<bool(const void*, size_t)>& consume, ByteRange range,
                          const std::function<void()>& rewind) {
  SourceInstance& source = sources.for_url(url);
  const auto start = Clock::now();
  const bool has_deadline = policy.timeout.count() > 0;
  const auto deadline = start + policy.timeout;
  auto timed_out = [&] { return has_deadline && Clock::now() >= deadline; };

  FetchOutcome out;
  bool consumer_stopped = false, size_checked = false;
  std::string size_error;
  FetchSink sink;
  bool range_done = false;  // a source older than ABI 1.5 sends past the range's end
  sink.write = [&](const void* data, size_t len) {
    if (range.length) {
      if (out.bytes + len >= range.length) {
        range_done = true;
        len = static_cast<size_t>(range.length - out.bytes);
      }
      if (len == 0) return false;
    }
    if (!consume(data, len)) {
      consumer_stopped = true;
      return false;
    }
    out.bytes += len;
    if (policy.max_bandwidth_bytes_per_s > 0) {
      // Pace to the cap: byte N may not be delivered before start + N/rate.
      auto due = start + std::chrono::microseconds(static_cast<long long>(
                             1e6 * static_cast<double>(out.bytes) / policy.max_bandwidth_bytes_per_s));
      while (Clock::now() < due) {
        if (stop.raised() || timed_out()) return false;
        auto wait = std::chrono::duration_cast<milliseconds>(due - Clock::now()) + milliseconds(1);
        stop.sleep_for(std::min(wait, milliseconds(100)));
      }
    }
    return true;
  };
  sink.cancelled = [&] { return stop.raised() || timed_out() || !size_error.empty(); };
  sink.total_size = [&](uint64_t total) {
    if (!policy.on_total_size || size_checked) return;
    size_checked = true;
    try {
      policy.on_total_size(total);
    } catch (const std::exception& e) {
      size_error = e.what();
    }
  };
  // Every resume is pinned to the version of the object the transfer
  // started on. The rule lives here, not in each source, because only this
  // loop knows which calls are attempts of one transfer: a part of a pack
  // starts at an offset, and a later fetch of the same URL must not inherit
  // an old pin. A source reports the version it reads (sink.pin) and
  // refuses a resume from another one (HAUL_RESTART); a transfer it named no
  // version for is started over, never resumed. Sources older than ABI 1.6
  // cannot report one: they are resumed as before, on their own guard.
  std::string pin;
  sink.pin = [&](const std::string& version) { pin = version; };
  const bool unpinned_is_unsafe = source.pins_resumes();
  // The consumer forgets what it took, and the transfer begins again.
  auto start_over = [&](const std::string& why) {
    if (!rewind) throw Error(why, Error::Kind::source_changed);
    log.warn(why + "; fetching it again from its start");
    rewind();
    out.bytes = 0;
    size_checked = false;
  };

  std::string last_error;
  int failures = 0;
  int fresh_starts = std::max(policy.retry, 1);  // a changed object is no fault: not one of the retries
  bool permanent = false, after_failure = false;
  for (;;) {
    if (std::exchange(after_failure, false)) {
      const bool resumable = !unpinned_is_unsafe || !pin.empty();
      log.warn("fetch " + url + " failed: " + last_error + "; retry " + std::to_string(failures) + "/" +
               std::to_string(policy.retry) + " in " + format_duration(policy.retry_wait) +
               (out.bytes ? resumable ? ", resuming at byte " + std::to_string(out.bytes) : ", from byte 0" : ""));
      if (!stop.sleep_for(policy.retry_wait)) break;
      if (out.bytes && !resumable)
        start_over(url + ": cannot resume at byte " + std::to_string(out.bytes) +
                   ": the source named no version of the object (such as an ETag) to pin the resume to");
    }
    if (out.bytes == 0) pin.clear();  // nothing to splice onto: take whatever is there now
    try {
      haul_rc rc = source.fetch(url, range.offset + out.bytes, range.length ? range.length - out.bytes : 0, sink,
                                out.bytes ? pin : "");
      if (rc == HAUL_OK || range_done) return out;
      // Cancelled: by us (consumer, stop, deadline) — never retried.
      if (consumer_stopped) {
        out.stopped_by_consumer = true;
        return out;
      }
      break;
    } catch (const Error& e) {
      if (e.kind() == Error::Kind::source_changed) {
        if (!rewind || fresh_starts-- == 0) throw;  // resuming cannot help: the caller starts over from byte 0
        start_over(e.what());
        continue;
      }
      last_error = e.what();
      if (range_done) return out;  // every byte of the range is in
      if (consumer_stopped) {
        out.stopped_by_consumer = true;
        return out;
      }
      if (stop.raised() || timed_out() || !size_error.empty()) break;
      if (e.kind() == Error::Kind::permanent && !policy.retry_missing) {
        permanent = true;
        break;
      }
      if (++failures > policy.retry) break;
      after_failure = true;
    }
  }
  if (!size_error.empty()) throw Error(size_error);
  if (timed_out())
    throw Error("timeout " + format_duration(policy.timeout) + " reached while fetching " + url +
                " (" + std::to_string(out.bytes) + " bytes received)");
  if (stop.raised()) throw Error("fetch of " + url + " cancelled: haul is shutting down");
  if (permanent)
    throw Error("fetch " + url + " failed: " + last_error +
                " — not retried: a missing object or refused access is not mended by waiting"
                " (--retry-missing, or deploy: { retry_missing: true }, retries it)",
                Error::Kind::permanent);
  std::string tries = failures > 1 ? " (after " + std::to_string(failures) + " attempts)" : "";
  throw Error("fetch " + url + " failed" + tries + ": " + last_error);
}

std::string fetch_text(const SourceSet& sources, const std::string& url, const FetchPolicy& policy,
                       StopSignal& stop, DeployLog& log, size_t max_bytes) {
  std::string body;
  bool too_big = false;
  fetch_stream(sources, url, policy, stop, log, [&](const void* data, size_t len) {
    if (body.size() + len > max_bytes) {
      too_big = true;
      return false;
    }
    body.append(static_cast<const char*>(data), len);
    return true;
  }, {}, [&] { body.clear(); });
  if (too_big)
    throw Error(url + ": larger than " + format_bytes(max_bytes) +
                "; a manifest is a small YAML file — is this URL the artifact instead?");
  return body;
}

}  // namespace haul
