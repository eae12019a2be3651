// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the archive extractor, writing into a scratch folder that
// is emptied after every input. Refusals (haul::Error) are expected; a crash,
// a sanitizer report, or a file outside the scratch folder is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "extract/extractor.hpp"
#include "util/error.hpp"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path scratch = [] {
    std::string tmpl = (fs::temp_directory_path() / "haul-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    return fs::path(tmpl);
  }();
  const fs::path out = scratch / "out";
  fs::create_directories(out);
  bool served = false;
  haul::ChunkReader reader = [&]() -> std::pair<const void*, size_t> {
    if (served) return {nullptr, 0};
    served = true;
    return {data, size};
  };
  haul::ExtractOptions options;
  options.limits.max_bytes = 64 << 20;
  options.limits.max_entries = 10000;
  try {
    haul::extract_archive(reader, out, "fuzz.tar", options);
  } catch (const haul::Error&) {
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(scratch, ec))
    if (e.path() != out) std::abort();  // something landed beside the extraction folder
  fs::remove_all(out, ec);
  return 0;
}
