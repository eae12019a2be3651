// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the pipeline config loader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/pipeline_config.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    haul::parse_config(text, "fuzz.yaml", [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
  } catch (const haul::Error&) {
  }
  return 0;
}
