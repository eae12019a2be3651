// One HTTP exchange through libcurl, for the small requests of the S3 client
// and the credential providers: a body in, status + headers + body out.
// (Streaming GETs of artifacts go through S3Client::get, not this.)
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace haul::s3 {

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
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{10000};
  std::string ca_file;
  bool insecure = false;
};

// Throws std::runtime_error for transport failures (naming the URL); any
// HTTP status is returned, not thrown.
HttpResponse http_call(const HttpRequest& request);

void curl_init_once();

}  // namespace haul::s3
