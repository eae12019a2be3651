// SPDX-License-Identifier: Apache-2.0
#include "plugin/instance.hpp"

#include <spdlog/spdlog.h>

#include <atomic>

#include "util/error.hpp"
#include "version.hpp"

namespace haul {
namespace {

void host_log(void* ctx, haul_log_level level, const char* message) {
  const auto* label = static_cast<const std::string*>(ctx);
  switch (level) {
    case HAUL_LOG_DEBUG: spdlog::debug("[{}] {}", *label, message); break;
    case HAUL_LOG_WARN: spdlog::warn("[{}] {}", *label, message); break;
    case HAUL_LOG_ERROR: spdlog::error("[{}] {}", *label, message); break;
    default: spdlog::info("[{}] {}", *label, message); break;
  }
}

std::atomic<bool> long_running_host{false};

}  // namespace

void set_long_running_host(bool long_running) { long_running_host = long_running; }

PluginInstance::PluginInstance(std::shared_ptr<LoadedPlugin> plugin, const PluginSettings& settings,
                               std::string label)
    : plugin_(std::move(plugin)), settings_(settings), label_(std::move(label)) {
  host_.struct_size = sizeof(host_);
  host_.abi_major = HAUL_ABI_MAJOR;
  host_.abi_minor = HAUL_ABI_MINOR;
  host_.ctx = &label_;
  host_.log = &host_log;
  host_.host_version = HAUL_VERSION;
  host_.long_running = long_running_host ? 1 : 0;
  std::vector<haul_kv> kv;
  kv.reserve(settings.size());
  for (const auto& [k, v] : settings) kv.push_back({k.c_str(), v.c_str()});
  char err[1024] = {0};
  self_ = info().create(kv.data(), kv.size(), &host_, err, sizeof err);
  if (!self_)
    throw Error(label_ + ": plugin " + plugin_->name() + " refused its settings: " +
                (err[0] ? err : "no reason given"));
}

PluginInstance::~PluginInstance() {
  if (self_) info().destroy(self_);
}

std::string PluginInstance::last_error() const {
  const char* e = info().last_error(self_);
  return e && *e ? e : "plugin " + plugin_->name() + " reported an error without a message";
}

haul_rc TriggerInstance::next(uint32_t timeout_ms, TriggerEvent& out) {
  haul_event ev{};
  ev.struct_size = sizeof ev;
  haul_rc rc = info().next_event(self_, timeout_ms, &ev);
  if (rc == HAUL_ERROR) throw Error(label() + ": " + last_error());
  if (rc == HAUL_OK) {
    out.id = ev.id ? ev.id : "";
    out.ltime = ev.ltime;
    out.name = ev.name ? ev.name : "";
    out.payload.assign(ev.payload ? ev.payload : "", ev.payload ? ev.payload_len : 0);
  }
  return rc;
}

void TriggerInstance::cancel() { info().cancel(self_); }

namespace {

int sink_write(void* ctx, const void* bytes, size_t len) {
  auto* s = static_cast<FetchSink*>(ctx);
  return s->write(bytes, len) ? 0 : 1;
}
int sink_cancelled(void* ctx) {
  auto* s = static_cast<FetchSink*>(ctx);
  return s->cancelled && s->cancelled() ? 1 : 0;
}
void sink_total(void* ctx, uint64_t total) {
  auto* s = static_cast<FetchSink*>(ctx);
  if (s->total_size) s->total_size(total);
}
void sink_pin(void* ctx, const char* version) {
  auto* s = static_cast<FetchSink*>(ctx);
  if (s->pin && version) s->pin(version);
}

}  // namespace

std::vector<SourceInstance::StoredObject> SourceInstance::list(const std::string& prefix_url) {
  const auto cb = plugin().list_callback();
  if (!cb) throw Error(prefix_url + ": the '" + plugin().name() + "' source plugin cannot list objects (ABI 1.4 list)");
  std::vector<StoredObject> out;
  auto each = [](void* ctx, const haul_object* o) {
    static_cast<std::vector<StoredObject>*>(ctx)->push_back({o->name ? o->name : "", o->size, o->mtime_unix});
  };
  if (cb(self_, prefix_url.c_str(), each, &out) != HAUL_OK) throw Error(label() + ": " + last_error());
  return out;
}

void SourceInstance::remove(const std::string& url) {
  const auto cb = plugin().remove_callback();
  if (!cb) throw Error(url + ": the '" + plugin().name() + "' source plugin cannot remove objects (ABI 1.4 remove)");
  if (cb(self_, url.c_str()) != HAUL_OK) throw Error(label() + ": " + last_error());
}

std::unique_ptr<SourceInstance> SourceInstance::twin() const {
  return std::make_unique<SourceInstance>(shared_plugin(), settings(), label());
}

haul_rc SourceInstance::fetch(const std::string& url, uint64_t offset, uint64_t length, FetchSink& sink,
                              const std::string& pin) {
  haul_sink s{};
  s.struct_size = sizeof s;
  s.ctx = &sink;
  s.write = &sink_write;
  s.cancelled = &sink_cancelled;
  s.set_total_size = &sink_total;
  s.set_pin = &sink_pin;
  haul_fetch_request req{};
  req.struct_size = sizeof req;
  req.url = url.c_str();
  req.offset = offset;
  req.length = length;
  req.pin = pin.c_str();
  haul_rc rc = info().fetch(self_, &req, &s);
  if (rc == HAUL_RESTART) throw Error(url + ": " + last_error(), Error::Kind::source_changed);
  if (rc == HAUL_PERMANENT) throw Error(last_error(), Error::Kind::permanent);
  if (rc == HAUL_ERROR || rc == HAUL_TIMEOUT) throw Error(last_error());
  return rc;
}

bool SourceInstance::pins_resumes() const { return info().abi_major == 1 && info().abi_minor >= 6; }

void SourceInstance::store(const std::string& url, const std::string& path, const std::string& content_type) {
  auto callback = plugin().store_callback();
  if (!callback)
    throw Error(url + ": source plugin '" + plugin().name() + "' (" + plugin().path +
                ") can only read; it has no store callback (plugin ABI 1.1)");
  haul_store_request req{};
  req.struct_size = sizeof req;
  req.url = url.c_str();
  req.path = path.c_str();
  req.content_type = content_type.c_str();
  if (callback(self_, &req) != HAUL_OK) throw Error(last_error());
}

void HookInstance::on_phase(const haul_hook_context& ctx) {
  haul_rc rc = info().on_phase(self_, &ctx);
  if (rc != HAUL_OK) throw Error(last_error());
}

}  // namespace haul

namespace haul {
namespace {

void gate_log(void* ctx, haul_log_level level, const char* message) {
  const auto* call = static_cast<const GateCall*>(ctx);
  if (call->log) call->log(level, message);
}
int gate_cancelled(void* ctx) {
  const auto* call = static_cast<const GateCall*>(ctx);
  return call->cancelled && call->cancelled() ? 1 : 0;
}

// The C request for a call; valid while `call` is.
haul_gate_request gate_request(const GateCall& call) {
  haul_gate_request r{};
  r.struct_size = sizeof r;
  r.pipeline = call.pipeline.c_str();
  r.release = call.release.c_str();
  r.node = call.node.c_str();
  r.policy = &call.policy;
  r.log = &gate_log;
  r.log_ctx = const_cast<GateCall*>(&call);
  r.cancelled = &gate_cancelled;
  return r;
}

}  // namespace

haul_gate_verdict GateInstance::enter(const GateCall& call) {
  const haul_gate_request req = gate_request(call);
  haul_gate_verdict verdict = HAUL_GATE_HALTED;
  const haul_rc rc = info().gate_enter(self_, &req, &verdict);
  if (rc == HAUL_CANCELLED) throw Error("cancelled while waiting at the rollout gate: haul is shutting down");
  if (rc != HAUL_OK) throw Error(label() + ": " + last_error());
  return verdict;
}

void GateInstance::leave(const GateCall& call, bool succeeded, const std::string& error) {
  const haul_gate_request req = gate_request(call);
  if (info().gate_leave(self_, &req, succeeded ? 1 : 0, error.c_str()) != HAUL_OK)
    throw Error(label() + ": " + last_error());
}

std::optional<haul_gate_verdict> GateInstance::watch(const GateCall& call, std::chrono::milliseconds timeout) {
  const haul_gate_request req = gate_request(call);
  haul_gate_verdict verdict = HAUL_GATE_PROCEED;
  const haul_rc rc = info().gate_watch(self_, &req, static_cast<uint32_t>(timeout.count()), &verdict);
  if (rc == HAUL_TIMEOUT) return std::nullopt;
  if (rc == HAUL_CANCELLED) throw Error("cancelled while watching the rollout");
  if (rc != HAUL_OK) throw Error(label() + ": " + last_error());
  return verdict;
}

std::string GateInstance::control(const std::string& verb, const std::string& pipeline, const std::string& release,
                                  const std::string& reason) {
  const char* out = nullptr;
  if (info().gate_control(self_, verb.c_str(), pipeline.c_str(), release.c_str(), reason.c_str(), &out) != HAUL_OK)
    throw Error(last_error());
  return out ? out : "";
}

}  // namespace haul
