// SPDX-License-Identifier: Apache-2.0
// Trigger "consul-watch": the stretcher-compatible stdin handler. It reads
// stdin once and yields at most one event, then ends:
//  - consul watch -type event (CONSUL_INDEX set, or input starting with '['):
//    a JSON array of buffered events, oldest first, Payload base64; the
//    newest event (highest LTime) wins; an empty array means no events.
//  - Serf user event (SERF_USER_EVENT set): the payload is stdin, less the
//    newline Serf appends; SERF_USER_LTIME gives its Lamport time.
//  - otherwise: the first non-empty line is the manifest URL.
#include <haul/sdk.hpp>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <optional>

#include "net/consul_events.hpp"

namespace {

using haul::sdk::trim;

std::string env_or(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

std::string size_text(size_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

class ConsulWatchTrigger {
 public:
  ConsulWatchTrigger(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : host_(host), max_input_(cfg.bytes("max_input", 16u << 20)) {
    if (pipe(wake_) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  ~ConsulWatchTrigger() {
    close(wake_[0]);
    close(wake_[1]);
  }

  // One decision per run: whatever goes wrong with stdin (too large,
  // unreadable, not an event), it is refused once and the trigger ends —
  // never read on after a refusal, never deployed after one.
  haul::sdk::Next next(std::chrono::milliseconds timeout, haul::sdk::Event& ev) {
    if (done_) return haul::sdk::Next::end;
    try {
      if (!read_stdin(timeout)) return cancelled_ ? haul::sdk::Next::cancelled : haul::sdk::Next::timeout;
      done_ = true;
      return parse(ev) ? haul::sdk::Next::event : haul::sdk::Next::end;
    } catch (...) {
      done_ = true;
      std::string().swap(input_);
      throw;
    }
  }

  void cancel() {
    cancelled_ = true;
    char c = 0;
    (void)!write(wake_[1], &c, 1);
  }

 private:
  // Reads until EOF; false on timeout or cancel (what was read is kept).
  bool read_stdin(std::chrono::milliseconds timeout) {
    if (!announced_) {
      host_.info("Waiting for an event on stdin...");
      announced_ = true;
    }
    char buf[65536];
    while (true) {
      if (cancelled_) return false;
      pollfd fds[2] = {{0, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      int r = poll(fds, 2, static_cast<int>(timeout.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw std::runtime_error(std::string("reading stdin: ") + std::strerror(errno));
      if (r == 0) return false;
      if (fds[1].revents) return false;
      ssize_t n = read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error(std::string("reading stdin: ") + std::strerror(errno));
      if (n == 0) return true;
      input_.append(buf, static_cast<size_t>(n));
      if (input_.size() > max_input_)
        throw std::runtime_error("stdin holds more than " + size_text(max_input_) +
                                 " (max_input); expected one event (a Consul event list, a Serf payload or a URL "
                                 "line); refusing it, nothing deployed");
    }
  }

  bool parse(haul::sdk::Event& ev) {
    const std::string text = trim(input_);
    if (!env_or("CONSUL_INDEX").empty() || (!text.empty() && text[0] == '[')) return parse_consul(text, ev);
    const std::string serf_event = env_or("SERF_USER_EVENT");
    if (!serf_event.empty()) {
      std::string payload = input_;
      if (!payload.empty() && payload.back() == '\n') payload.pop_back();
      ev.name = serf_event;
      ev.ltime = std::strtoull(env_or("SERF_USER_LTIME", "0").c_str(), nullptr, 10);
      ev.id = "serf:" + serf_event + ":" + std::to_string(ev.ltime);
      ev.payload = trim(payload);
      host_.info("Serf user event " + serf_event + " (ltime " + std::to_string(ev.ltime) + ")");
      if (ev.payload.empty()) throw std::runtime_error("Serf user event " + serf_event + " has an empty payload; expected a manifest URL");
      return true;
    }
    size_t start = 0;
    while (start < input_.size()) {
      size_t nl = input_.find('\n', start);
      if (nl == std::string::npos) nl = input_.size();
      std::string line = trim(input_.substr(start, nl - start));
      if (!line.empty()) {
        ev.payload = line;
        return true;
      }
      start = nl + 1;
    }
    throw std::runtime_error("stdin was empty; expected a manifest URL line (echo s3://bucket/manifest.yml | haul)");
  }

  bool parse_consul(const std::string& text, haul::sdk::Event& ev) {
    size_t count = 0;
    std::optional<haul::net::ConsulEvent> newest;
    try {
      newest = haul::net::newest_consul_event(text, &count);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("stdin: ") + e.what());
    }
    if (!newest) {
      host_.info("no events (empty Consul event list)");
      return false;
    }
    ev.id = newest->id;
    ev.name = newest->name;
    ev.ltime = newest->ltime;
    if (!newest->has_payload)
      throw std::runtime_error("Consul event " + (ev.id.empty() ? std::string("(no ID)") : ev.id) +
                               " has no Payload; fire it with the manifest URL as payload");
    ev.payload = trim(newest->payload);
    host_.info("Consul event " + ev.name + " " + ev.id + " (ltime " + std::to_string(ev.ltime) + ", newest of " +
               std::to_string(count) + ")");
    return true;
  }

  haul::sdk::Host host_;
  size_t max_input_;
  int wake_[2];
  std::atomic<bool> cancelled_{false};
  bool done_ = false, announced_ = false;
  std::string input_;
};

const haul_config_field kFields[] = {
    {"max_input", "bytes", "16MiB", "largest stdin accepted (a full 256-event Consul buffer is far smaller)", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

}  // namespace

HAUL_TRIGGER_PLUGIN(ConsulWatchTrigger, "consul-watch", "0.1.0",
                    "one event from stdin: consul watch JSON, a Serf user event, or a plain URL line", kFields)
