// SPDX-License-Identifier: Apache-2.0
// haul/sdk.hpp — write a haul plugin as a plain C++ class.
//
// One macro (HAUL_TRIGGER_PLUGIN, HAUL_SOURCE_PLUGIN, HAUL_HOOK_PLUGIN or
// HAUL_GATE_PLUGIN)
// turns a class into the C struct the core loads (haul/plugin.h). The
// generated glue catches every exception and reports it through last_error(),
// so nothing C++ ever crosses the boundary. Header-only; C++17.
//
//   class Echo {
//    public:
//     Echo(const haul::sdk::Config& cfg, const haul::sdk::Host& host);
//     void on_phase(const haul::sdk::HookContext& ctx);   // hooks
//   };
//   HAUL_HOOK_PLUGIN(Echo, "echo", "1.0.0", "Logs every phase", nullptr)
//
// A trigger class provides `haul::sdk::Next next(std::chrono::milliseconds,
// haul::sdk::Event&)` and a thread-safe `void cancel()`; a source class
// provides `void fetch(const std::string& url, uint64_t offset, haul::sdk::Sink&)`
// (or, to serve a byte range in one request (ABI 1.5), `void fetch(const
// std::string& url, uint64_t offset, uint64_t length, haul::sdk::Sink&)`, length 0 = to the end)
// and pins what it reads with Sink::pin (ABI 1.6), so a resume is never spliced onto another version
// and, if it can upload (ABI 1.1), `void store(const std::string& url,
// const std::string& path, const std::string& content_type)`; to be pruned
// by `haul gc` (ABI 1.4), `list` and `remove` (see has_list below). A gate class
// (ABI 1.3) provides `Verdict enter(const GateRequest&)`, `void leave(const
// GateRequest&, bool succeeded, const std::string& error)`,
// `std::optional<Verdict> watch(const GateRequest&, std::chrono::milliseconds)`
// (nullopt: neither halted nor complete yet) and `std::string control(verb,
// pipeline, release, reason)` returning the JSON haul_plugin_info describes.
#ifndef HAUL_SDK_HPP
#define HAUL_SDK_HPP

#include <haul/plugin.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace haul::sdk {

// Throw from a plugin method when the host asked to stop (sink refused bytes,
// cancelled() became true). Reported as HAUL_CANCELLED.
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("cancelled") {}
};

// Throw from a source's fetch when the object changed between a first fetch
// and a resumed one: what was delivered is void. Reported as HAUL_RESTART,
// and the core fetches the whole object again. (Sink::pin throws it for you.)
struct ObjectChanged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throw from a source's fetch when the object is missing or access to it is
// refused — HTTP 404, 403, or 401 after any token refresh of your own; a
// missing file or key. Reported as HAUL_PERMANENT (ABI 1.6): the core does
// not wait and ask again unless the operator asked it to (retry_missing).
struct PermanentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One object a source's list() reports (ABI 1.4).
struct StoredObject {
  std::string name;  // relative to the prefix listed
  uint64_t size = 0;
  int64_t mtime_unix = 0;  // 0 when unknown
};

// s without leading and trailing blanks (spaces, tabs, CR, LF): what event
// payloads, credential files and config text need before they are used.
inline std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// Validated configuration, as the core passes it (see haul_config_field).
class Config {
 public:
  Config(const haul_kv* kv, size_t n) {
    for (size_t i = 0; i < n; ++i) values_[kv[i].key] = kv[i].value ? kv[i].value : "";
  }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  std::string str(const std::string& key, const std::string& fallback = "") const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  bool boolean(const std::string& key, bool fallback = false) const {
    return has(key) ? str(key) == "true" : fallback;
  }
  long long integer(const std::string& key, long long fallback = 0) const {
    return has(key) ? std::stoll(str(key)) : fallback;
  }
  std::chrono::milliseconds duration(const std::string& key,
                                     std::chrono::milliseconds fallback = {}) const {
    return has(key) ? std::chrono::milliseconds(std::stoll(str(key))) : fallback;
  }
  unsigned long long bytes(const std::string& key, unsigned long long fallback = 0) const {
    return has(key) ? std::stoull(str(key)) : fallback;
  }
  std::vector<std::string> list(const std::string& key) const {
    std::vector<std::string> out;
    if (!has(key)) return out;
    std::string all = str(key);
    size_t start = 0;
    while (start <= all.size()) {
      size_t nl = all.find('\n', start);
      if (nl == std::string::npos) nl = all.size();
      if (nl > start) out.push_back(all.substr(start, nl - start));
      start = nl + 1;
    }
    return out;
  }

 private:
  std::map<std::string, std::string> values_;
};

// haul's logger, as offered to this instance.
class Host {
 public:
  explicit Host(const haul_host* h) : h_(h) {}
  void log(haul_log_level level, const std::string& msg) const {
    if (h_ && h_->log) h_->log(h_->ctx, level, msg.c_str());
  }
  void debug(const std::string& m) const { log(HAUL_LOG_DEBUG, m); }
  void info(const std::string& m) const { log(HAUL_LOG_INFO, m); }
  void warn(const std::string& m) const { log(HAUL_LOG_WARN, m); }
  void error(const std::string& m) const { log(HAUL_LOG_ERROR, m); }
  std::string version() const { return h_ && h_->host_version ? h_->host_version : ""; }
  // ABI 1.6; a host older than that is taken as long-running (as before).
  bool long_running() const {
    return !h_ || h_->struct_size < offsetof(haul_host, long_running) + sizeof(int) || h_->long_running != 0;
  }

 private:
  const haul_host* h_;
};

// What a trigger's next() found.
enum class Next { event, timeout, end, cancelled };

struct Event {
  std::string id;
  uint64_t ltime = 0;
  std::string name;
  std::string payload;
};

// Where a source writes bytes, and which version of the object they must
// come from (ABI 1.6).
class Sink {
 public:
  explicit Sink(const haul_sink* s, std::string pinned = "") : s_(s), pinned_(std::move(pinned)) {}
  // Throws Cancelled when the host wants no more bytes.
  void write(const void* bytes, size_t len) const {
    if (len && s_->write(s_->ctx, bytes, len) != 0) throw Cancelled();
  }
  bool cancelled() const { return s_->cancelled && s_->cancelled(s_->ctx) != 0; }
  void set_total_size(uint64_t total) const {
    if (s_->set_total_size) s_->set_total_size(s_->ctx, total);
  }
  // "" on a transfer's first attempt; on a resume, the version that attempt
  // reported with pin(). Ask the server to serve only that one, where it can
  // (If-Match, ifGenerationMatch, If-Range).
  const std::string& pinned() const { return pinned_; }
  // Call with the object's version (an ETag, a generation, a file's inode
  // and times) as soon as it is known, before the first write. On a first
  // attempt the host keeps it for the resumes; a source that never calls it
  // is never resumed, but started over. On a resume, a version other than
  // pinned() throws ObjectChanged: "<what> changed since the download
  // started (<pinned> then, <version> now)".
  void pin(const std::string& version, const std::string& what) const {
    if (!pinned_.empty()) {
      if (version != pinned_)
        throw ObjectChanged(what + " changed since the download started (" + pinned_ + " then, " +
                            (version.empty() ? "none named" : version) + " now)");
      return;
    }
    if (!version.empty() && s_->struct_size >= offsetof(haul_sink, set_pin) + sizeof s_->set_pin && s_->set_pin)
      s_->set_pin(s_->ctx, version.c_str());
  }

 private:
  const haul_sink* s_;
  std::string pinned_;
};

// A deploy as a hook sees it.
class HookContext {
  // Whether the host's struct holds the field at this offset (appended fields).
  bool has(size_t offset) const { return c_->struct_size >= offset + sizeof(void (*)()); }

 public:
  explicit HookContext(const haul_hook_context* c) : c_(c) {}
  haul_phase phase() const { return c_->phase; }
  const char* phase_name() const { return haul_phase_name(c_->phase); }
  std::string pipeline() const { return c_->pipeline; }
  std::string event_id() const { return c_->event_id; }
  std::string manifest_url() const { return c_->manifest_url; }
  std::string dest() const { return c_->dest; }
  std::string release_dir() const { return c_->release_dir; }
  std::string error() const { return c_->error; }
  std::string node() const { return c_->node ? c_->node : ""; }
  std::string release() const { return c_->release ? c_->release : ""; }
  std::string previous_release_dir() const { return c_->previous_release_dir ? c_->previous_release_dir : ""; }
  std::chrono::milliseconds command_timeout() const { return std::chrono::milliseconds(c_->command_timeout_ms); }
  uint64_t event_ltime() const { return c_->event_ltime; }
  uint64_t started_at_unix_ms() const { return c_->started_at_unix_ms; }
  uint64_t finished_at_unix_ms() const { return c_->finished_at_unix_ms; }
  std::string_view deploy_log() const { return {c_->deploy_log, c_->deploy_log_len}; }
  std::vector<std::string> commands() const {
    return {c_->commands, c_->commands + c_->command_count};
  }
  std::vector<std::pair<std::string, std::string>> env() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (size_t i = 0; i < c_->env_count; ++i) out.emplace_back(c_->env[i].key, c_->env[i].value);
    return out;
  }
  void log(haul_log_level level, const std::string& msg) const {
    c_->log(c_->log_ctx, level, msg.c_str());
  }
  bool cancelled() const { return c_->cancelled && c_->cancelled(c_->log_ctx) != 0; }
  // Report a command's process group (see haul_hook_context); no-ops on a
  // host older than ABI 1.2.
  void process_started(int64_t pgid) const {
    if (has(offsetof(haul_hook_context, process_started)) && c_->process_started) c_->process_started(c_->log_ctx, pgid);
  }
  void process_ended(int64_t pgid) const {
    if (has(offsetof(haul_hook_context, process_ended)) && c_->process_ended) c_->process_ended(c_->log_ctx, pgid);
  }
  // ABI 1.6: what dest runs once this phase's event ended ("" from an older host).
  std::string running_release() const {
    return has(offsetof(haul_hook_context, running_release)) && c_->running_release ? c_->running_release : "";
  }
  uint64_t running_since_unix_ms() const {
    return has(offsetof(haul_hook_context, running_since_unix_ms)) ? c_->running_since_unix_ms : 0;
  }
  const haul_hook_context* raw() const { return c_; }

 private:
  const haul_hook_context* c_;
};

// A gate's answer: place the release now, or the rollout is halted.
enum class Verdict { proceed, halted };

// What a gate is asked about: one node's part in one release's rollout.
class GateRequest {
 public:
  explicit GateRequest(const haul_gate_request* r) : r_(r) {}
  std::string pipeline() const { return r_->pipeline; }
  std::string release() const { return r_->release; }
  std::string node() const { return r_->node; }
  const haul_rollout_policy& policy() const { return *r_->policy; }
  void log(haul_log_level level, const std::string& msg) const {
    if (r_->log) r_->log(r_->log_ctx, level, msg.c_str());
  }
  bool cancelled() const { return r_->cancelled && r_->cancelled(r_->log_ctx) != 0; }

 private:
  const haul_gate_request* r_;
};

namespace detail {

template <class T>
struct Instance {
  Instance(const Config& cfg, const Host& host) : impl(cfg, host) {}
  T impl;
  std::string error;
  Event event;         // keeps the last event's strings alive for the host
  std::string output;  // a gate's last control() answer, likewise
};

inline void copy_error(char* buf, size_t len, const char* msg) {
  if (!buf || len == 0) return;
  std::strncpy(buf, msg, len - 1);
  buf[len - 1] = '\0';
}

// Runs f, turning every exception into a return code and last_error text.
template <class T, class F>
haul_rc guarded(void* self, F&& f) {
  auto* in = static_cast<Instance<T>*>(self);
  try {
    return f(in->impl, *in);
  } catch (const Cancelled&) {
    in->error = "cancelled";
    return HAUL_CANCELLED;
  } catch (const ObjectChanged& e) {
    in->error = e.what();
    return HAUL_RESTART;
  } catch (const PermanentError& e) {
    in->error = e.what();
    return HAUL_PERMANENT;
  } catch (const std::exception& e) {
    in->error = e.what();
  } catch (...) {
    in->error = "unknown exception in plugin";
  }
  return HAUL_ERROR;
}

template <class T>
void* create(const haul_kv* kv, size_t n, const haul_host* host, char* err, size_t err_len) {
  try {
    return new Instance<T>(Config(kv, n), Host(host));
  } catch (const std::exception& e) {
    copy_error(err, err_len, e.what());
  } catch (...) {
    copy_error(err, err_len, "unknown exception in plugin constructor");
  }
  return nullptr;
}

template <class T>
void destroy(void* self) noexcept {
  try {
    delete static_cast<Instance<T>*>(self);
  } catch (...) {
  }
}

template <class T>
const char* last_error(void* self) noexcept {
  return static_cast<Instance<T>*>(self)->error.c_str();
}

template <class T>
haul_rc next_event(void* self, uint32_t timeout_ms, haul_event* out) {
  return guarded<T>(self, [&](T& impl, Instance<T>& in) {
    Event ev;
    switch (impl.next(std::chrono::milliseconds(timeout_ms), ev)) {
      case Next::timeout: return HAUL_TIMEOUT;
      case Next::end: return HAUL_END;
      case Next::cancelled: return HAUL_CANCELLED;
      case Next::event: break;
    }
    in.event = std::move(ev);
    out->id = in.event.id.c_str();
    out->ltime = in.event.ltime;
    out->name = in.event.name.c_str();
    out->payload = in.event.payload.data();
    out->payload_len = in.event.payload.size();
    return HAUL_OK;
  });
}

template <class T>
void cancel(void* self) noexcept {
  try {
    static_cast<Instance<T>*>(self)->impl.cancel();
  } catch (...) {
  }
}

template <class T, class = void>
struct has_ranged_fetch : std::false_type {};
template <class T>
struct has_ranged_fetch<T, std::void_t<decltype(std::declval<T&>().fetch(std::string(), uint64_t(), uint64_t(),
                                                                         std::declval<Sink&>()))>> : std::true_type {};

template <class T>
haul_rc fetch(void* self, const haul_fetch_request* req, const haul_sink* sink) {
  return guarded<T>(self, [&](T& impl, Instance<T>&) {
    const bool has_pin = req->struct_size >= offsetof(haul_fetch_request, pin) + sizeof req->pin;
    Sink s(sink, has_pin && req->pin ? req->pin : "");
    if constexpr (has_ranged_fetch<T>::value) {
      const bool has_length = req->struct_size >= offsetof(haul_fetch_request, length) + sizeof req->length;
      impl.fetch(std::string(req->url), req->offset, has_length ? req->length : 0, s);
    } else {
      impl.fetch(std::string(req->url), req->offset, s);  // the host stops it after the range
    }
    return HAUL_OK;
  });
}

template <class T>
haul_rc store(void* self, const haul_store_request* req) {
  return guarded<T>(self, [&](T& impl, Instance<T>&) {
    impl.store(std::string(req->url), std::string(req->path),
               req->content_type ? std::string(req->content_type) : std::string());
    return HAUL_OK;
  });
}

// ABI 1.4: a source class with `void list(const std::string& prefix_url,
// const std::function<void(const haul::sdk::StoredObject&)>& each)` can
// list a store, and with `void remove(const std::string& url)` prune it.
template <class T>
haul_rc list(void* self, const char* prefix_url, haul_object_fn each, void* ctx) {
  return guarded<T>(self, [&](T& impl, Instance<T>&) {
    impl.list(std::string(prefix_url), [&](const StoredObject& o) {
      const haul_object c{o.name.c_str(), o.size, o.mtime_unix};
      each(ctx, &c);
    });
    return HAUL_OK;
  });
}

template <class T>
haul_rc remove(void* self, const char* url) {
  return guarded<T>(self, [&](T& impl, Instance<T>&) {
    impl.remove(std::string(url));
    return HAUL_OK;
  });
}

template <class T, class = void>
struct has_list : std::false_type {};
template <class T>
struct has_list<T, std::void_t<decltype(std::declval<T&>().list(std::string(), std::function<void(const StoredObject&)>()))>>
    : std::true_type {};
template <class T, class = void>
struct has_remove : std::false_type {};
template <class T>
struct has_remove<T, std::void_t<decltype(std::declval<T&>().remove(std::string()))>> : std::true_type {};

// Whether a source class has a store() member: then it can upload.
template <class T, class = void>
struct has_store : std::false_type {};
template <class T>
struct has_store<T, std::void_t<decltype(std::declval<T&>().store(std::string(), std::string(), std::string()))>>
    : std::true_type {};

template <class T>
haul_rc on_phase(void* self, const haul_hook_context* ctx) {
  return guarded<T>(self, [&](T& impl, Instance<T>&) {
    impl.on_phase(HookContext(ctx));
    return HAUL_OK;
  });
}

inline haul_gate_verdict to_c(Verdict v) { return v == Verdict::proceed ? HAUL_GATE_PROCEED : HAUL_GATE_HALTED; }

template <class T>
haul_rc gate_enter(void* self, const haul_gate_request* req, haul_gate_verdict* verdict) {
  return guarded<T>(self, [&](T& impl, Instance<T>&) {
    *verdict = to_c(impl.enter(GateRequest(req)));
    return HAUL_OK;
  });
}

template <class T>
haul_rc gate_leave(void* self, const haul_gate_request* req, int succeeded, const char* error) {
  return guarded<T>(self, [&](T& impl, Instance<T>&) {
    impl.leave(GateRequest(req), succeeded != 0, error ? error : "");
    return HAUL_OK;
  });
}

template <class T>
haul_rc gate_watch(void* self, const haul_gate_request* req, uint32_t timeout_ms, haul_gate_verdict* verdict) {
  return guarded<T>(self, [&](T& impl, Instance<T>&) {
    const std::optional<Verdict> v = impl.watch(GateRequest(req), std::chrono::milliseconds(timeout_ms));
    if (!v) return HAUL_TIMEOUT;
    *verdict = to_c(*v);
    return HAUL_OK;
  });
}

template <class T>
haul_rc gate_control(void* self, const char* verb, const char* pipeline, const char* release, const char* reason,
                     const char** out_json) {
  return guarded<T>(self, [&](T& impl, Instance<T>& in) {
    in.output = impl.control(verb ? verb : "", pipeline ? pipeline : "", release ? release : "", reason ? reason : "");
    *out_json = in.output.c_str();
    return HAUL_OK;
  });
}

template <class T, haul_kind Kind>
haul_plugin_info make_info(const char* name, const char* version, const char* description,
                           const haul_config_field* fields, const char* const* schemes) {
  haul_plugin_info info{};
  info.struct_size = sizeof(haul_plugin_info);
  info.abi_major = HAUL_ABI_MAJOR;
  info.abi_minor = HAUL_ABI_MINOR;
  info.kind = Kind;
  info.name = name;
  info.version = version;
  info.description = description;
  info.config_fields = fields;
  info.create = &create<T>;
  info.destroy = &destroy<T>;
  info.last_error = &last_error<T>;
  if constexpr (Kind == HAUL_KIND_TRIGGER) {
    info.next_event = &next_event<T>;
    info.cancel = &cancel<T>;
  } else if constexpr (Kind == HAUL_KIND_SOURCE) {
    info.schemes = schemes;
    info.fetch = &fetch<T>;
    if constexpr (has_store<T>::value) info.store = &store<T>;
    if constexpr (has_list<T>::value) info.list = &list<T>;
    if constexpr (has_remove<T>::value) info.remove = &remove<T>;
  } else if constexpr (Kind == HAUL_KIND_HOOK) {
    info.on_phase = &on_phase<T>;
  } else if constexpr (Kind == HAUL_KIND_GATE) {
    info.gate_enter = &gate_enter<T>;
    info.gate_leave = &gate_leave<T>;
    info.gate_watch = &gate_watch<T>;
    info.gate_control = &gate_control<T>;
  }
  return info;
}

}  // namespace detail
}  // namespace haul::sdk

#define HAUL_DEFINE_PLUGIN_ENTRY_(CLASS, KIND, NAME, VERSION, DESC, FIELDS, SCHEMES)      \
  extern "C" HAUL_EXPORT const haul_plugin_info* haul_plugin_entry(void) {                \
    static const haul_plugin_info info =                                                    \
        ::haul::sdk::detail::make_info<CLASS, KIND>(NAME, VERSION, DESC, FIELDS, SCHEMES); \
    return &info;                                                                           \
  }

// FIELDS: a static haul_config_field array ending in {nullptr}, or nullptr.
#define HAUL_TRIGGER_PLUGIN(CLASS, NAME, VERSION, DESC, FIELDS) \
  HAUL_DEFINE_PLUGIN_ENTRY_(CLASS, HAUL_KIND_TRIGGER, NAME, VERSION, DESC, FIELDS, nullptr)
// SCHEMES: a static NULL-terminated array of URL schemes, e.g. {"http", nullptr}.
#define HAUL_SOURCE_PLUGIN(CLASS, NAME, VERSION, DESC, FIELDS, SCHEMES) \
  HAUL_DEFINE_PLUGIN_ENTRY_(CLASS, HAUL_KIND_SOURCE, NAME, VERSION, DESC, FIELDS, SCHEMES)
#define HAUL_HOOK_PLUGIN(CLASS, NAME, VERSION, DESC, FIELDS) \
  HAUL_DEFINE_PLUGIN_ENTRY_(CLASS, HAUL_KIND_HOOK, NAME, VERSION, DESC, FIELDS, nullptr)
#define HAUL_GATE_PLUGIN(CLASS, NAME, VERSION, DESC, FIELDS) \
  HAUL_DEFINE_PLUGIN_ENTRY_(CLASS, HAUL_KIND_GATE, NAME, VERSION, DESC, FIELDS, nullptr)

#endif  // HAUL_SDK_HPP
