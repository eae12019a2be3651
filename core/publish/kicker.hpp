// SPDX-License-Identifier: Apache-2.0
// `haul kick`: tell the fleet. Fires a user event named after the role and
// stage (deploy_{role}_{stage} by default) whose payload is the manifest URL,
// the way stretcher's agents expect it — through the Consul HTTP API
// (PUT /v1/event/fire/:name with ACL token, datacenter, TLS and the node /
// service / tag filters for partial rollouts) or through `serf event`.
// Both transports are Serf user events, limited to 512 bytes of name +
// payload by Serf's default UserEventSizeLimit; a larger event is refused
// here, before anything is sent, with the sizes in the message.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "net/consul_api.hpp"
#include "net/etcd_api.hpp"

namespace haul {

struct KickSettings {
  std::string via = "consul";  // consul | serf | etcd
  net::ConsulSettings consul;  // empty fields come from CONSUL_HTTP_* like the consul CLI
  std::string node, service, tag;  // Consul filters (regular expressions, as Consul takes them)
  std::string serf_rpc_addr, serf_rpc_auth;  // empty: serf's own defaults (SERF_RPC_ADDR, 127.0.0.1:7373)
  size_t max_event_bytes = 512;  // consul and serf: their user event limit
  // etcd: the event is a write of the URL to <etcd_prefix>/<event name>,
  // which an etcd-watch trigger with that key receives.
  net::EtcdSettings etcd;
  std::string etcd_prefix = "haul/deploy";
  std::string name_template = "deploy_{role}_{stage}";
};

// "deploy_{role}_{stage}" → "deploy_web_production".
std::string event_name(const std::string& name_template, const std::string& role, const std::string& stage);

// Fires one event; returns Consul's event ID, etcd's key@revision ("" for
// serf). Throws
// haul::Error naming the transport, the event and what went wrong.
// A Consul connection written as config fields (address, token, datacenter,
// ca_file, cert_file, key_file, insecure_skip_verify).
net::ConsulSettings consul_settings_of(const std::map<std::string, std::string>& fields);

// Refuses an event no transport would carry (empty name, over max_event_bytes).
void check_event(const KickSettings& s, const std::string& name, const std::string& payload);
std::string kick(const KickSettings& settings, const std::string& name, const std::string& payload);

}  // namespace haul
