// The few Consul HTTP API calls haul makes, shared by the consul-http
// trigger, the consul-status hook and `haul status`: address, ACL token,
// datacenter and TLS settings resolved as the consul CLI does
// (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_HTTP_SSL, CONSUL_CACERT, ...).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include <haul/sdk.hpp>

#include "http_call.hpp"

namespace haul::plugins {

struct ConsulSettings {
  std::string address;  // "http://127.0.0.1:8500"
  std::string token, datacenter;
  std::string ca_file, cert_file, key_file;
  bool insecure = false;
};

// Fills what the plugin config left empty from the environment.
ConsulSettings consul_settings_from_env(ConsulSettings s);

// The connection settings every consul-* plugin declares (address, token,
// datacenter, ca_file, cert_file, key_file, insecure_skip_verify), read from
// a plugin's config and completed from the environment.
ConsulSettings consul_settings_from_config(const haul::sdk::Config& cfg);

class ConsulApi {
 public:
  explicit ConsulApi(ConsulSettings s) : s_(std::move(s)) {}
  // path: "/v1/event/list?name=x"; the dc parameter and the token are added.
  HttpResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                    std::chrono::milliseconds timeout = std::chrono::seconds(30),
                    std::function<bool()> cancelled = nullptr) const;
  // Throws with a message naming the call, the status and Consul's answer.
  HttpResponse call_ok(const std::string& method, const std::string& path, const std::string& body = "",
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  const ConsulSettings& settings() const { return s_; }

 private:
  ConsulSettings s_;
};

std::string url_encode_component(const std::string& s);
std::string base64_decode(const std::string& in);
std::string base64_encode(const std::string& in);

}  // namespace haul::plugins
