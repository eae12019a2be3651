// SPDX-License-Identifier: Apache-2.0
// Parsing of the human units operators type: durations ("1m30s", "500ms",
// bare numbers are seconds, as stretcher's integer flags were) and byte sizes
// ("10M", "1.5MiB", "800k", following go-humanize as stretcher did: k/M/G are
// powers of 1000, Ki/Mi/Gi powers of 1024).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace haul {

// Returns nullopt when the text is not a duration.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);
std::optional<uint64_t> parse_bytes(const std::string& text);

std::string format_duration(std::chrono::milliseconds d);  // "1m30s", "500ms"
std::string format_bytes(uint64_t bytes);                  // "1.5 MB"
// "1 file", "3 files": a count with its noun, as a person writes it.
std::string count_of(uint64_t n, const std::string& singular, const std::string& plural);

std::string format_mode(unsigned mode);  // permission bits as chmod takes them: "0644", "4755"

// "1700000000", "@1700000000", "2026-11-26", "2026-11-26T10:00:00Z" → unix seconds (UTC).
std::optional<int64_t> parse_timestamp(const std::string& text);
std::string format_timestamp(int64_t unix_seconds);  // "2026-11-26T10:00:00Z"

}  // namespace haul
