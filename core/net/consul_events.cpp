// SPDX-License-Identifier: Apache-2.0
#include "net/consul_events.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "net/consul_api.hpp"

namespace haul::net {

std::optional<ConsulEvent> newest_consul_event(const std::string& text, size_t* count) {
  auto events = nlohmann::json::parse(text.empty() ? "null" : text, nullptr, false);
  if (events.is_discarded()) throw std::runtime_error("not the JSON event list Consul writes (invalid JSON)");
  if (events.is_null()) events = nlohmann::json::array();  // consul watch writes "null" for no events
  if (!events.is_array()) throw std::runtime_error(std::string("expected a JSON array of Consul events, got ") + events.type_name());
  if (count) *count = events.size();
  const nlohmann::json* newest = nullptr;
  uint64_t newest_ltime = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    if (!e.is_object()) throw std::runtime_error("Consul event #" + std::to_string(i) + " is not an object");
    uint64_t lt = 0;
    if (e.contains("LTime")) {
      if (!e["LTime"].is_number_unsigned()) throw std::runtime_error("Consul event #" + std::to_string(i) + ": LTime is not a whole number");
      lt = e["LTime"].get<uint64_t>();
    }
    if (!newest || lt >= newest_ltime) {
      newest = &e;
      newest_ltime = lt;
    }
  }
  if (!newest) return std::nullopt;
  auto text_field = [&](const char* key) {
    const auto it = newest->find(key);
    return it != newest->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  ConsulEvent ev;
  ev.id = text_field("ID");
  ev.name = text_field("Name");
  ev.ltime = newest_ltime;
  const auto payload = newest->find("Payload");
  if (payload != newest->end() && payload->is_string()) {
    ev.has_payload = true;
    try {
      ev.payload = base64_decode(payload->get<std::string>());
    } catch (const std::exception&) {
      throw std::runtime_error("Consul event " + (ev.id.empty() ? std::string("(no ID)") : ev.id) + ": Payload is not valid base64");
    }
  }
  return ev;
}

}  // namespace haul::net
