// SPDX-License-Identifier: Apache-2.0
// One HTTP exchange through libcurl, for small requests: S3 control calls,
// AWS credential providers, the Consul API (long polls included — a request
// can be cancelled from another thread). A body in, status + headers + body
// out. Artifact downloads stream through curl_stream.hpp instead.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace haul::net {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string body_file;  // when set, the body is streamed from this file instead (uploads)
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{10000};
  std::string ca_file;
  std::string cert_file, key_file;  // TLS client certificate
  bool insecure = false;
  std::function<bool()> cancelled;  // polled during the transfer; true aborts it
};

// Throws std::runtime_error for transport failures (naming the URL); any
// HTTP status is returned, not thrown.
HttpResponse http_call(const HttpRequest& request);

void curl_init_once();

}  // namespace haul::net
