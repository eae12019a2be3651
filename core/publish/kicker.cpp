// SPDX-License-Identifier: Apache-2.0
#include "publish/kicker.hpp"

#include <nlohmann/json.hpp>

#include "util/error.hpp"
#include "util/subprocess.hpp"

namespace haul {

std::string event_name(const std::string& tmpl, const std::string& role, const std::string& stage) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.compare(i, 6, "{role}") == 0) {
      out += role;
      i += 6;
    } else if (tmpl.compare(i, 7, "{stage}") == 0) {
      out += stage;
      i += 7;
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

net::ConsulSettings consul_settings_of(const std::map<std::string, std::string>& fields) {
  auto get = [&](const char* key) {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
  };
  net::ConsulSettings s;
  s.address = get("address");
  s.token = get("token");
  s.datacenter = get("datacenter");
  s.ca_file = get("ca_file");
  s.cert_file = get("cert_file");
  s.key_file = get("key_file");
  s.insecure = get("insecure_skip_verify") == "true";
  return s;
}

void check_event(const KickSettings& s, const std::string& name, const std::string& payload) {
  if (name.empty()) throw Error("kick: the event name is empty");
  if (s.via != "etcd" && name.size() + payload.size() > s.max_event_bytes)
    throw Error("kick: event " + name + " is " + std::to_string(name.size() + payload.size()) +
                " bytes of name + payload, over the " + std::to_string(s.max_event_bytes) +
                "-byte user event limit of " + s.via +
                "; use a shorter manifest URL (or raise --max-event-bytes if your agents' limit is higher)");
}

std::string kick(const KickSettings& s, const std::string& name, const std::string& payload) {
  check_event(s, name, payload);
  if (s.via == "serf") {
    std::vector<std::string> argv = {"serf", "event"};
    if (!s.serf_rpc_addr.empty()) argv.push_back("-rpc-addr=" + s.serf_rpc_addr);
    if (!s.serf_rpc_auth.empty()) argv.push_back("-rpc-auth=" + s.serf_rpc_auth);
    argv.push_back(name);
    argv.push_back(payload);
    try {
      run_command_ok(argv);
    } catch (const Error& e) {
      throw Error("kick via serf: event " + name + ": " + e.what());
    }
    return "";
  }
  if (s.via == "etcd") {
    const std::string key = s.etcd_prefix + "/" + name;
    try {
      net::EtcdApi api(s.etcd);
      api.put(key, payload);
      int64_t revision = 0;
      api.range(key, false, &revision);
      return key + "@" + std::to_string(revision);
    } catch (const std::exception& e) {
      throw Error("kick via etcd: key " + key + ": " + e.what());
    }
  }
  if (s.via != "consul") throw Error("kick: unknown transport '" + s.via + "'; expected consul, serf or etcd");
  net::ConsulApi api(net::consul_settings_from_env(s.consul));
  std::string path = "/v1/event/fire/" + net::url_encode_component(name);
  std::string query;
  auto add = [&](const char* key, const std::string& value) {
    if (!value.empty()) query += std::string(query.empty() ? "?" : "&") + key + "=" + net::url_encode_component(value);
  };
  add("node", s.node);
  add("service", s.service);
  add("tag", s.tag);
  if (!s.tag.empty() && s.service.empty()) throw Error("kick: --tag filters a service's instances; it needs --service");
  net::HttpResponse r;
  try {
    r = api.call_ok("PUT", path + query, payload);
  } catch (const std::exception& e) {
    throw Error(std::string("kick via consul: event ") + name + ": " + e.what());
  }
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() ? j.value("ID", "") : "";
}

}  // namespace haul
