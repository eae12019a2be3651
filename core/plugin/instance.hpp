// SPDX-License-Identifier: Apache-2.0
// RAII handles on plugin instances, one class per kind. They translate the C
// return codes back into C++ (haul::Error carrying the plugin's last_error)
// and own the order of teardown: the instance is destroyed before the
// shared_ptr to its library is released.
#pragma once

#include <haul/plugin.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plugin/config_schema.hpp"
#include "plugin/loaded_plugin.hpp"
#include "util/error.hpp"

namespace haul {

// What plugins created from now on are told of this process (haul_host's
// long_running): `haul agent` sets it before it builds its pipelines.
void set_long_running_host(bool long_running);

class PluginInstance {
 public:
  PluginInstance(std::shared_ptr<LoadedPlugin> plugin, const PluginSettings& settings,
                 std::string label);
  virtual ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const LoadedPlugin& plugin() const { return *plugin_; }
  const std::shared_ptr<LoadedPlugin>& shared_plugin() const { return plugin_; }
  const std::string& label() const { return label_; }  // e.g. "web/http"
  const PluginSettings& settings() const { return settings_; }

 protected:
  std::string last_error() const;
  const haul_plugin_info& info() const { return *plugin_->info; }
  void* self_ = nullptr;

 private:
  std::shared_ptr<LoadedPlugin> plugin_;
  PluginSettings settings_;
  std::string label_;
  haul_host host_{};
};

struct TriggerEvent {
  std::string id;
  uint64_t ltime = 0;
  std::string name;
  std::string payload;
};

class TriggerInstance : public PluginInstance {
 public:
  using PluginInstance::PluginInstance;
  // HAUL_OK fills out; HAUL_TIMEOUT / HAUL_END / HAUL_CANCELLED as returned.
  // HAUL_ERROR throws haul::Error.
  haul_rc next(uint32_t timeout_ms, TriggerEvent& out);
  void cancel();  // any thread
};

// What a fetch delivers bytes to. write returns false to stop the fetch.
struct FetchSink {
  std::function<bool(const void*, size_t)> write;
  std::function<bool()> cancelled;
  std::function<void(uint64_t)> total_size;
  std::function<void(const std::string&)> pin;  // ABI 1.6: the version of the object the source reads
};


class SourceInstance : public PluginInstance {
 public:
  using PluginInstance::PluginInstance;
  // Returns HAUL_OK or HAUL_CANCELLED; HAUL_ERROR throws haul::Error,
  // HAUL_RESTART throws one of Kind::source_changed (the object changed
  // under a resumed fetch), HAUL_PERMANENT one of Kind::permanent.
  // length: bytes wanted from offset on, 0 = to the end (a plugin older than ABI 1.5 sends them all).
  // pin: "" on a first attempt; on a resume, what the first attempt reported to sink.pin.
  haul_rc fetch(const std::string& url, uint64_t offset, uint64_t length, FetchSink& sink,
                const std::string& pin = "");
  // Whether the plugin reports what it reads to FetchSink::pin (ABI 1.6):
  // then a transfer it reported nothing for is never resumed.
  bool pins_resumes() const;
  bool can_store() const { return plugin().store_callback() != nullptr; }
  // ABI 1.4: the objects below prefix_url (ending in '/'), and removing one.
  // Throw haul::Error with the plugin's message, or when this source cannot.
  struct StoredObject {
    std::string name;  // relative to the prefix
    uint64_t size = 0;
    int64_t mtime_unix = 0;
  };
  std::vector<StoredObject> list(const std::string& prefix_url);
  void remove(const std::string& url);
  // Another instance of the same plugin with the same settings: a source
  // fetches one object at a time, so parallel fetches each need their own.
  std::unique_ptr<SourceInstance> twin() const;
  // Uploads the file at path to url (replacing it whole); throws haul::Error
  // with the plugin's message, or when this source cannot upload.
  void store(const std::string& url, const std::string& path, const std::string& content_type = "");
};

// A rollout gate (ABI 1.3). The request's strings and policy stay the
// caller's; log/cancelled are wired by the caller (see GateCall).
struct GateCall {
  std::string pipeline, release, node;
  haul_rollout_policy policy{};
  std::function<void(haul_log_level, const std::string&)> log;
  std::function<bool()> cancelled;
};

class GateInstance : public PluginInstance {
 public:
  using PluginInstance::PluginInstance;
  // Each throws haul::Error with the plugin's message on HAUL_ERROR, and
  // Error("cancelled") on HAUL_CANCELLED.
  haul_gate_verdict enter(const GateCall& call);
  void leave(const GateCall& call, bool succeeded, const std::string& error);
  // nullopt: neither halted nor complete within timeout.
  std::optional<haul_gate_verdict> watch(const GateCall& call, std::chrono::milliseconds timeout);
  std::string control(const std::string& verb, const std::string& pipeline, const std::string& release,
                      const std::string& reason);
};

class HookInstance : public PluginInstance {
 public:
  using PluginInstance::PluginInstance;
  // HAUL_ERROR throws haul::Error with the hook's message.
  void on_phase(const haul_hook_context& ctx);
};

}  // namespace haul
