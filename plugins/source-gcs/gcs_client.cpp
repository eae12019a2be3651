// SPDX-License-Identifier: Apache-2.0
#include "gcs_client.hpp"

#include <nlohmann/json.hpp>

#include <ctime>

#include <fstream>
#include <stdexcept>
#include <thread>

#include "net/curl_stream.hpp"
#include "s3_client.hpp"
#include "sigv4.hpp"

namespace haul::gcs {
namespace {

using haul::net::HttpRequest;
using haul::net::HttpResponse;
using haul::s3::uri_encode;

struct GoogleError {
  std::string reason, message;
};

// {"error": {"code": 404, "message": "...", "errors": [{"reason": "notFound", ...}]}}
GoogleError google_error(const std::string& body) {
  GoogleError e;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) {
    e.message = body.substr(0, body.find('\n'));
    return e;
  }
  const auto& err = j["error"];
  if (err.contains("message") && err["message"].is_string()) e.message = err["message"].get<std::string>();
  if (err.contains("errors") && err["errors"].is_array() && !err["errors"].empty() && err["errors"][0].is_object() &&
      err["errors"][0].contains("reason") && err["errors"][0]["reason"].is_string())
    e.reason = err["errors"][0]["reason"].get<std::string>();
  return e;
}

// "bytes=0-262143" → 262144 (the next byte the server wants); 0 without one.
uint64_t persisted_up_to(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("range");
  if (it == headers.end()) return 0;
  size_t dash = it->second.find('-');
  if (dash == std::string::npos) return 0;
  return std::stoull(it->second.substr(dash + 1)) + 1;
}

bool worth_recovering(long status) { return status == 429 || status == 408 || status >= 500; }

}  // namespace

GcsLocation parse_gs_url(const std::string& url) {
  const std::string prefix = "gs://";
  if (url.compare(0, prefix.size(), prefix) != 0) throw std::runtime_error(url + ": not a gs:// URL");
  std::string rest = url.substr(prefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= rest.size())
    throw std::runtime_error(url + ": expected gs://BUCKET/OBJECT");
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

GcsLocation parse_gs_prefix(const std::string& url) {
  const haul::s3::S3Location p = haul::s3::parse_s3_prefix(url, "gs");
  return {p.bucket, p.key};
}

GcsClient::GcsClient(GcsConfig config, std::shared_ptr<GoogleCredentials> credentials)
    : config_(std::move(config)), credentials_(std::move(credentials)) {
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
  if (config_.endpoint.find("://") == std::string::npos) config_.endpoint = "https://" + config_.endpoint;
  if (!config_.anonymous && !credentials_) throw std::logic_error("GcsClient: credentials are required unless anonymous");
  haul::net::curl_init_once();
}

GcsClient::Auth GcsClient::with_token(const std::function<long(const Auth&)>& attempt) {
  for (int round = 0;; ++round) {
    Auth a;
    if (!config_.anonymous) {
      AccessToken t = credentials_->get();
      a = {t.token, t.identity};
    }
    if (attempt(a) != 401 || a.token.empty() || round == 1) return a;
    credentials_->invalidate(a.token);  // revoked or expired early: once more with a new token
  }
}

HttpResponse GcsClient::call(HttpRequest req, Auth& a) {
  req.connect_timeout = std::chrono::milliseconds(config_.connect_timeout_ms);
  req.ca_file = config_.ca_file;
  req.insecure = config_.insecure;
  req.headers.emplace_back("User-Agent", config_.user_agent);
  const size_t fixed = req.headers.size();
  HttpResponse r;
  a = with_token([&](const Auth& t) {
    req.headers.resize(fixed);
    if (!t.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + t.token);
    r = haul::net::http_call(req);
    return r.status;
  });
  return r;
}

void GcsClient::fail(const std::string& op, const GcsLocation& loc, long status, const std::string& body,
                     const Auth& a) const {
  GoogleError e = google_error(body);
  const std::string what = op + " " + loc.url() + ": ";
  const std::string code = "HTTP " + std::to_string(status) + (e.reason.empty() ? "" : " " + e.reason);
  const std::string says = e.message.empty() ? "" : " (Google: " + e.message + ")";
  const std::string who = a.identity.empty() ? "anonymous access" : a.identity;
  if (status == 412) throw haul::sdk::ObjectChanged(what + "the object changed during the download (its generation moved)");
  // Permanent: asked again, Google gives the same answer (a 401 was already asked again with a new token).
  if (status == 404)
    throw haul::sdk::PermanentError(what + "no such object in bucket " + loc.bucket + ", or no such bucket (" + code + ")" +
                                    says);
  if (status == 401)
    throw haul::sdk::PermanentError(what + "the credentials were refused (" + code + ") for " + who +
                                    ", twice with a new token" + says);
  if (status == 403)
    throw haul::sdk::PermanentError(what + "permission denied (" + code + ") for " + who + "; grant it " +
                                    (op == "GET" ? "roles/storage.objectViewer" : "roles/storage.objectCreator") +
                                    " on bucket " + loc.bucket + says);
  if (status == 429)
    throw std::runtime_error(what + "rate limited (" + code + "); Google asks to slow down" + says);
  throw std::runtime_error(what + code + says);
}

std::string GcsClient::get(const GcsLocation& loc, uint64_t offset, haul::sdk::Sink& sink, uint64_t length) {
  const std::string& pinned = sink.pinned();
  std::string generation = pinned;
  haul::net::CurlStreamOptions o;
  o.url = config_.endpoint + "/storage/v1/b/" + uri_encode(loc.bucket, false) + "/o/" + uri_encode(loc.object, false) +
          "?alt=media" + (pinned.empty() ? "" : "&ifGenerationMatch=" + pinned);
  o.on_response = [&](long, const std::map<std::string, std::string>& headers) {
    auto g = headers.find("x-goog-generation");
    generation = g == headers.end() ? "" : g->second;
    sink.pin(generation, "GET " + loc.url() + ": the object's generation");
  };
  o.offset = offset;
  o.length = length;
  o.max_redirects = 0;
  o.connect_timeout_ms = config_.connect_timeout_ms;
  o.low_speed_time_s = config_.low_speed_time_s;
  o.ca_file = config_.ca_file;
  o.insecure = config_.insecure;
  o.user_agent = config_.user_agent;
  haul::net::CurlStreamResult r;
  // An error answer never reaches the sink: trying again after a 401 is safe.
  const Auth a = with_token([&](const Auth& t) {
    o.headers.clear();
    if (!t.token.empty()) o.headers.push_back("Authorization: Bearer " + t.token);
    r = haul::net::curl_stream(o, sink);
    return r.status;
  });
  if (r.status && (r.status < 200 || r.status >= 300) && !r.complete_at_offset) fail("GET", loc, r.status, r.error_body, a);
  if (r.curl_code != 0)
    throw std::runtime_error("GET " + loc.url() + ": " +
                             (r.stalled ? "stalled for " + std::to_string(o.low_speed_time_s) + "s" : r.curl_error));
  return generation;
}

std::vector<GcsObject> GcsClient::list(const GcsLocation& prefix, int page_size) {
  std::vector<GcsObject> out;
  std::string token;
  while (true) {
    HttpRequest req;
    req.method = "GET";
    req.url = config_.endpoint + "/storage/v1/b/" + uri_encode(prefix.bucket, false) + "/o?prefix=" +
              uri_encode(prefix.object, false) + "&maxResults=" + std::to_string(page_size) +
              "&fields=items(name,size,updated),nextPageToken" + (token.empty() ? "" : "&pageToken=" + uri_encode(token, false));
    Auth a;
    HttpResponse r = call(req, a);
    if (r.status != 200) fail("LIST", prefix, r.status, r.body, a);
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error("LIST " + prefix.url() + ": the answer is not JSON");
    for (const auto& item : j.value("items", nlohmann::json::array())) {
      GcsObject o;
      o.name = item.value("name", "");
      o.size = std::strtoull(item.value("size", "0").c_str(), nullptr, 10);  // int64 as a JSON string, as Google sends it
      std::tm tm{};  // updated: 2026-11-30T10:00:00.000Z
      if (strptime(item.value("updated", "").c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) o.updated_unix = timegm(&tm);
      out.push_back(std::move(o));
    }
    token = j.value("nextPageToken", "");
    if (token.empty()) return out;
  }
}

void GcsClient::remove(const GcsLocation& loc) {
  HttpRequest req;
  req.method = "DELETE";
  req.url = config_.endpoint + "/storage/v1/b/" + uri_encode(loc.bucket, false) + "/o/" + uri_encode(loc.object, false);
  Auth a;
  HttpResponse r = call(req, a);
  if (r.status != 204 && r.status != 200 && r.status != 404) fail("DELETE", loc, r.status, r.body, a);
}

void GcsClient::put_file(const GcsLocation& loc, const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot read " + path + " to upload it to " + loc.url());
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  if (size > config_.resumable_threshold) return resumable_upload(loc, path, size);
  HttpRequest req;
  req.method = "POST";
  req.url = config_.endpoint + "/upload/storage/v1/b/" + uri_encode(loc.bucket, false) + "/o?uploadType=media&name=" +
            uri_encode(loc.object, false);
  req.body_file = path;
  req.headers = {{"Content-Type", "application/octet-stream"}};
  req.timeout = std::chrono::minutes(10);
  Auth a;
  HttpResponse r = call(req, a);
  last_upload_requests_ = 1;
  if (r.status != 200 && r.status != 201) fail("PUT", loc, r.status, r.body, a);
}

// Google's resumable upload: a session URI, then chunks with Content-Range;
// 308 says how much the server kept (it may keep less than was sent), a
// status query (Content-Range: bytes */SIZE) says it after a failure.
void GcsClient::resumable_upload(const GcsLocation& loc, const std::string& path, uint64_t size) {
  if (config_.chunk_size == 0 || config_.chunk_size % (256 * 1024) != 0)
    throw std::runtime_error("chunk_size must be a multiple of 256KiB (Google's resumable upload unit)");
  HttpRequest start;
  start.method = "POST";
  start.url = config_.endpoint + "/upload/storage/v1/b/" + uri_encode(loc.bucket, false) +
              "/o?uploadType=resumable&name=" + uri_encode(loc.object, false);
  start.headers = {{"X-Upload-Content-Type", "application/octet-stream"},
                   {"X-Upload-Content-Length", std::to_string(size)},
                   {"Content-Type", "application/json; charset=UTF-8"}};
  start.body = "{}";
  Auth a;
  HttpResponse r = call(start, a);
  if (r.status != 200 && r.status != 201) fail("PUT (start a resumable upload)", loc, r.status, r.body, a);
  auto location = r.headers.find("location");
  if (location == r.headers.end()) throw std::runtime_error("PUT " + loc.url() + ": no session URI in the answer");
  const std::string session = location->second;
  int requests = 1;

  // The session URI is a credential for this upload: never in a message.
  auto put = [&](const std::string& range, std::string body) {
    HttpRequest req;
    req.method = "PUT";
    req.url = session;
    req.body = std::move(body);
    req.headers = {{"Content-Range", range}};
    req.timeout = std::chrono::minutes(10);
    ++requests;
    try {
      return call(req, a);
    } catch (const std::exception& e) {
      std::string m = e.what();
      if (size_t at = m.find(session); at != std::string::npos) m.replace(at, session.size(), loc.url() + " (upload session)");
      throw std::runtime_error(m);
    }
  };

  std::ifstream in(path, std::ios::binary);
  try {
    uint64_t next = 0;
    int recoveries = 0;
    for (;;) {
      const uint64_t n = std::min<uint64_t>(config_.chunk_size, size - next);
      if (n == 0) {  // the server kept every byte but has not said the upload is complete
        HttpResponse done = put("bytes */" + std::to_string(size), "");
        if (done.status == 200 || done.status == 201) break;
        fail("PUT (finish the upload)", loc, done.status, done.body, a);
      }
      std::string chunk(n, '\0');
      in.clear();
      in.seekg(static_cast<std::streamoff>(next));
      in.read(chunk.data(), static_cast<std::streamsize>(n));
      if (static_cast<uint64_t>(in.gcount()) != n) throw std::runtime_error(path + " shrank while it was being uploaded");
      HttpResponse answer;
      std::string failure;
      try {
        answer = put("bytes " + std::to_string(next) + "-" + std::to_string(next + n - 1) + "/" + std::to_string(size),
                     std::move(chunk));
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (failure.empty() && (answer.status == 200 || answer.status == 201)) break;
      if (failure.empty() && answer.status == 308) {
        next = persisted_up_to(answer.headers);
        recoveries = 0;
        continue;
      }
      if (failure.empty() && !worth_recovering(answer.status))
        fail("PUT (upload bytes " + std::to_string(next) + "+)", loc, answer.status, answer.body, a);
      if (++recoveries > config_.chunk_recoveries)
        throw std::runtime_error("PUT " + loc.url() + ": the upload failed " + std::to_string(recoveries) +
                                 " times at byte " + std::to_string(next) + ": " +
                                 (failure.empty() ? "HTTP " + std::to_string(answer.status) : failure));
      std::this_thread::sleep_for(config_.recovery_wait * recoveries);
      // Ask the server what it kept, and go on from there.
      HttpResponse status;
      try {
        status = put("bytes */" + std::to_string(size), "");
      } catch (const std::exception&) {
        continue;  // still unreachable: the next round tries the chunk again
      }
      if (status.status == 200 || status.status == 201) break;
      if (status.status == 308) next = persisted_up_to(status.headers);
      else if (status.status == 404 || status.status == 410)
        throw std::runtime_error("PUT " + loc.url() + ": the upload session expired (HTTP " + std::to_string(status.status) + ")");
    }
    last_upload_requests_ = requests;
  } catch (...) {
    try {
      HttpRequest cancel;
      cancel.method = "DELETE";
      cancel.url = session;
      call(cancel, a);  // Google answers 499: the parts sent are discarded
    } catch (...) {
    }
    throw;
  }
}

}  // namespace haul::gcs
