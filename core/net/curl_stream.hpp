// SPDX-License-Identifier: Apache-2.0
// Streams one HTTP(S) response body into a haul sink with libcurl — shared by
// the http and s3 source plugins. Resumes with a Range request from `offset`
// (and ends it after `length` bytes, for a part of a pack);
// if the server ignores the range (200 instead of 206) the bytes already
// delivered are skipped here, so the sink never sees a byte twice. A body of
// a non-2xx answer is kept (first 4 KiB) for the caller's error message,
// never passed to the sink. The sink's cancelled() aborts the transfer.
#pragma once

#include <haul/sdk.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace haul::net {

struct CurlStreamOptions {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  uint64_t offset = 0;
  uint64_t length = 0;  // bytes wanted from offset on; 0 = to the end
  long connect_timeout_ms = 10000;
  long low_speed_limit = 1;   // fewer bytes/s than this ...
  long low_speed_time_s = 30; // ... over this long = stalled (checked each second)
  long max_redirects = 10;    // 0: do not follow
  std::string ca_file;
  bool insecure = false;
  std::string user_agent;
  // Called once a 2xx answer's status and headers are in (lower-case names),
  // before its first byte reaches the sink: where a source pins the version
  // it reads (haul::sdk::Sink::pin). What it throws ends the transfer, and
  // curl_stream throws it again.
  std::function<void(long status, const std::map<std::string, std::string>& headers)> on_response;
};

struct CurlStreamResult {
  int curl_code = 0;          // CURLcode; 0 = transfer completed
  std::string curl_error;     // text for curl_code
  long status = 0;            // HTTP status of the final response
  std::map<std::string, std::string> headers;  // of the final response, lower-case names
  std::string error_body;     // non-2xx: the start of the body
  uint64_t delivered = 0;     // bytes given to the sink by this call
  bool stalled = false;       // aborted by the low-speed limit
  bool complete_at_offset = false;  // 416 at exactly the object's size: nothing was left to fetch
  bool too_many_redirects = false;
};

// Throws haul::sdk::Cancelled when the sink stopped the transfer, and what
// on_response threw.
CurlStreamResult curl_stream(const CurlStreamOptions& options, haul::sdk::Sink& sink);

}  // namespace haul::net
