// SPDX-License-Identifier: Apache-2.0
// Source "http": http:// and https:// through libcurl. Redirects are
// followed (bounded), TLS is verified unless the operator says otherwise, a
// non-2xx answer is an error naming the URL and status (404, 403, 401 and
// 410 are permanent: not waited for), and a connection that stalls (below
// low_speed_limit for low_speed_time) is abandoned so the core can retry —
// resuming with a Range request from the last byte, pinned with If-Range to
// the first answer's strong ETag, else its Last-Modified. A server with
// neither gives nothing to pin: the core starts over instead of resuming.
// Stores with one streamed HTTP PUT (WebDAV servers, artifact stores, signed
// upload URLs); any 2xx answer is success.
#include <haul/sdk.hpp>

#include <map>
#include <string>

#include "net/curl_stream.hpp"
#include "net/http_call.hpp"

namespace {

// The validator a resume is pinned to: a strong ETag (If-Range takes no weak
// one), else Last-Modified; on a resume, the one of the kind pinned ("" when
// the answer has none).
std::string validator(const std::map<std::string, std::string>& headers, const std::string& pinned) {
  auto header = [&](const char* name) {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  };
  if (!pinned.empty()) return pinned.front() == '"' ? header("etag") : header("last-modified");
  const std::string etag = header("etag");
  return !etag.empty() && etag.front() == '"' ? etag : header("last-modified");
}

bool permanent(long status) { return status == 401 || status == 403 || status == 404 || status == 410; }

class HttpSource {
 public:
  HttpSource(const haul::sdk::Config& cfg, const haul::sdk::Host& host) {
    opts_.connect_timeout_ms = static_cast<long>(cfg.duration("connect_timeout", std::chrono::seconds(10)).count());
    opts_.low_speed_time_s =
        std::max<long>(1, static_cast<long>(cfg.duration("low_speed_time", std::chrono::seconds(30)).count() / 1000));
    opts_.low_speed_limit = static_cast<long>(cfg.bytes("low_speed_limit", 1));
    opts_.max_redirects = static_cast<long>(cfg.integer("max_redirects", 10));
    opts_.ca_file = cfg.str("ca_file");
    opts_.insecure = cfg.boolean("insecure_skip_verify", false);
    opts_.user_agent = "haul/" + host.version();
    if (opts_.insecure) host.warn("insecure_skip_verify is on: TLS certificates are NOT verified");
  }

  void fetch(const std::string& url, uint64_t offset, uint64_t length, haul::sdk::Sink& sink) {
    haul::net::CurlStreamOptions o = opts_;
    o.url = url;
    o.offset = offset;
    o.length = length;
    const std::string what = "GET " + url + ": ";
    const std::string& pinned = sink.pinned();
    if (!pinned.empty()) o.headers.push_back("If-Range: " + pinned);
    o.on_response = [&](long status, const std::map<std::string, std::string>& headers) {
      const std::string now = validator(headers, pinned);
      const char* kind = (pinned.empty() ? now : pinned).rfind('"', 0) == 0 ? "ETag" : "Last-Modified";
      // If-Range: the whole object instead of the rest means the validator no
      // longer matches — or the server ignores Range. Either way: start over.
      if (!pinned.empty() && status == 200)
        throw haul::sdk::ObjectChanged(
            what + "the resume at byte " + std::to_string(offset) + " was answered with the whole object (HTTP 200): " +
            (now == pinned ? "the server ignores Range requests"
                           : std::string("its ") + kind + " changed since the download started (" + pinned + " then, " +
                                 (now.empty() ? "none" : now) + " now)"));
      sink.pin(now, what + "the object's " + kind);
    };
    auto r = haul::net::curl_stream(o, sink);
    if (r.too_many_redirects)
      throw std::runtime_error(what + "more than " + std::to_string(o.max_redirects) + " redirects");
    if (r.stalled && r.status)
      throw std::runtime_error(what + "stalled (under " + std::to_string(o.low_speed_limit) + " bytes/s for " +
                               std::to_string(o.low_speed_time_s) + "s)");
    if (r.status && (r.status < 200 || r.status >= 300)) {
      std::string msg = what + "HTTP " + std::to_string(r.status);
      if (r.status == 416) msg += " (the object is shorter than the resume offset " + std::to_string(offset) + ")";
      if (permanent(r.status)) throw haul::sdk::PermanentError(msg + "; expected 2xx");
      throw std::runtime_error(msg + "; expected 2xx");
    }
    if (r.curl_code != 0) throw std::runtime_error(what + r.curl_error);
  }

  void store(const std::string& url, const std::string& path, const std::string& content_type) {
    haul::net::HttpRequest req;
    req.method = "PUT";
    req.url = url;
    req.body_file = path;
    if (!content_type.empty()) req.headers.emplace_back("Content-Type", content_type);
    req.headers.emplace_back("User-Agent", opts_.user_agent);
    req.connect_timeout = std::chrono::milliseconds(opts_.connect_timeout_ms);
    req.timeout = std::chrono::hours(1);
    req.ca_file = opts_.ca_file;
    req.insecure = opts_.insecure;
    auto r = haul::net::http_call(req);
    if (r.status < 200 || r.status >= 300) {
      std::string body = r.body.substr(0, 200);
      throw std::runtime_error("PUT " + url + ": HTTP " + std::to_string(r.status) +
                               (body.empty() ? "" : " (" + body + ")") +
                               "; expected 2xx — does the server accept uploads (e.g. WebDAV) at that path?");
    }
  }

 private:
  haul::net::CurlStreamOptions opts_;
};

const haul_config_field kFields[] = {
    {"connect_timeout", "duration", "10s", "give up connecting after this long", 0},
    {"low_speed_limit", "bytes", "1", "bytes/s under which a transfer counts as stalled", 0},
    {"low_speed_time", "duration", "30s", "how long a stall is tolerated before the attempt fails (retried)", 0},
    {"max_redirects", "int", "10", "redirects followed before giving up", 0},
    {"ca_file", "string", nullptr, "PEM bundle of CAs to trust instead of the system's", 0},
    {"insecure_skip_verify", "bool", "false", "do not verify TLS certificates (never in production)", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};
const char* const kSchemes[] = {"http", "https", nullptr};

}  // namespace

HAUL_SOURCE_PLUGIN(HttpSource, "http", "0.1.0", "fetches (GET) and stores (PUT) http:// and https:// URLs with libcurl", kFields, kSchemes)
