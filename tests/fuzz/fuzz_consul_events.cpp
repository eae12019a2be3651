// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the Consul event-list parser both consul triggers use.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "net/consul_events.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    haul::net::newest_consul_event(text);
  } catch (const std::runtime_error&) {
  }
  return 0;
}
