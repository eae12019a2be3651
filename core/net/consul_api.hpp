// SPDX-License-Identifier: Apache-2.0
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

#include "net/http_call.hpp"

namespace haul::net {

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

// Those fields as a plugin declares them, in its haul_config_field array;
// token_use says which ACL rights the plugin's token needs.
#define HAUL_CONSUL_CONNECTION_FIELDS(token_use)                                                              \
  {"address", "string", nullptr, "Consul HTTP address (default: CONSUL_HTTP_ADDR, then 127.0.0.1:8500)", 0},  \
      {"token", "string", nullptr, "ACL token with " token_use " (default: CONSUL_HTTP_TOKEN); never logged", 0}, \
      {"datacenter", "string", nullptr, "datacenter (default: the agent's)", 0},                                 \
      {"ca_file", "string", nullptr, "PEM CA bundle for https addresses (default: CONSUL_CACERT)", 0},          \
      {"cert_file", "string", nullptr, "client certificate for mutual TLS (default: CONSUL_CLIENT_CERT)", 0},    \
      {"key_file", "string", nullptr, "client key for mutual TLS (default: CONSUL_CLIENT_KEY)", 0},              \
      {"insecure_skip_verify", "bool", "false", "do not verify Consul's TLS certificate (never in production)", 0}

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

}  // namespace haul::net
