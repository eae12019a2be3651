// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the manifest parser (templating + YAML + validation).
// A haul::Error is a clear refusal and fine; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/manifest.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    haul::parse_manifest(text, "fuzz.yml", [](const std::string& name) -> std::optional<std::string> {
      if (name == "SET") return std::string("value");
      return std::nullopt;
    });
  } catch (const haul::Error&) {
  }
  return 0;
}
