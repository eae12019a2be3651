// SPDX-License-Identifier: Apache-2.0
// The etcd v3 calls haul makes, through etcd's JSON gateway (/v3/...: the
// gRPC API as HTTP+JSON, served by every etcd 3.4 member on its client URL).
// The gateway rather than gRPC: Debian packages no etcd client library for
// C or C++, and the gateway needs nothing beyond the libcurl haul already
// links; its one streaming call, watch, is a chunked HTTP response read as it
// arrives. Endpoints fail over in order; user/password auth fetches a token
// and renews it when etcd says it expired.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <haul/sdk.hpp>

namespace haul::net {

struct EtcdSettings {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379"
  std::string user, password;
  std::string ca_file, cert_file, key_file;
  bool insecure = false;
  std::chrono::milliseconds request_timeout{15000};  // each request (a watch has its own)
};

// No endpoint answered (all down, no leader, timed out): worth retrying.
struct EtcdUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The connection fields every etcd-* plugin declares.
#define HAUL_ETCD_CONNECTION_FIELDS                                                                                \
  {"endpoints", "list", nullptr,                                                                                   \
   "etcd client URLs, tried in order (default: ETCDCTL_ENDPOINTS, then http://127.0.0.1:2379)", 0},                \
      {"user", "string", nullptr, "etcd user for password auth (default: none)", 0},                               \
      {"password", "string", nullptr, "its password; never logged", 0},                                            \
      {"ca_file", "string", nullptr, "PEM CA bundle for https endpoints (default: ETCDCTL_CACERT)", 0},            \
      {"cert_file", "string", nullptr, "client certificate for mutual TLS (default: ETCDCTL_CERT)", 0},            \
      {"key_file", "string", nullptr, "client key for mutual TLS (default: ETCDCTL_KEY)", 0},                      \
      {"insecure_skip_verify", "bool", "false", "do not verify etcd's TLS certificate (never in production)", 0}

// Read from a plugin's config, completed from ETCDCTL_* as etcdctl does.
EtcdSettings etcd_settings_from_config(const haul::sdk::Config& cfg);

// "http://a:2379, http://b:2379" (etcdctl's --endpoints, ETCDCTL_ENDPOINTS)
// as the one-per-line list a list-typed config field holds.
std::string etcd_endpoint_lines(const std::string& comma_separated);

struct EtcdKv {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, lease = 0;
};

class EtcdApi {
 public:
  explicit EtcdApi(EtcdSettings s);

  // kvs of `key`, or of every key starting with it (prefix); and the
  // store's revision at the read.
  std::vector<EtcdKv> range(const std::string& key, bool prefix, int64_t* revision = nullptr);
  void put(const std::string& key, const std::string& value, int64_t lease = 0);
  void del(const std::string& key);
  // Puts unless the key changed since mod_revision (0: unless it exists).
  bool put_if(const std::string& key, const std::string& value, int64_t mod_revision);
  int64_t lease_grant(std::chrono::seconds ttl);
  bool lease_keepalive(int64_t id);  // false: the lease is gone
  void lease_revoke(int64_t id);
  // Waits until `key` (with prefix: a key under it) changes at or after
  // `start_revision` (true), or `timeout` passes (false). A compacted start
  // revision counts as a change: the caller reads again.
  bool watch(const std::string& key, bool prefix, int64_t start_revision, std::chrono::milliseconds timeout,
             const std::function<bool()>& cancelled);

  std::string endpoint() const;  // the one that answered last, for messages

 private:
  nlohmann::json post(const std::string& path, const nlohmann::json& body);
  nlohmann::json post_once(const std::string& endpoint, const std::string& path, const std::string& body,
                           long& status);
  std::string token();

  EtcdSettings s_;
  mutable std::mutex mu_;
  size_t current_ = 0;  // the endpoint tried first
  std::string token_;
};

// etcd's range_end for "every key starting with prefix".
std::string etcd_prefix_end(std::string prefix);

}  // namespace haul::net
