// SPDX-License-Identifier: Apache-2.0
// Reading Consul's event list — the JSON array that /v1/event/list returns
// and `consul watch -type event` writes to its handler's stdin: oldest first,
// Payload base64 (or null). Shared by the consul-watch and consul-http
// triggers, and fuzzed (tests/fuzz).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace haul::net {

struct ConsulEvent {
  std::string id, name;
  uint64_t ltime = 0;
  bool has_payload = false;
  std::string payload;  // decoded
};

// The newest event (highest LTime; the later one on a tie), or nullopt for
// an empty list (or "null"). count, if given, receives the list's length.
// Throws std::runtime_error saying what is wrong with the document.
std::optional<ConsulEvent> newest_consul_event(const std::string& json, size_t* count = nullptr);

}  // namespace haul::net
