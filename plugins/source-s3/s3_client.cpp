// SPDX-License-Identifier: Apache-2.0
#include "s3_client.hpp"

#include <ctime>

#include <fstream>
#include <stdexcept>

#include "net/curl_stream.hpp"
#include "sigv4.hpp"

namespace haul::s3 {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

// The text of the first <tag> element, with XML's character entities decoded.
std::string xml_value(const std::string& xml, const std::string& tag) {
  size_t b = xml.find("<" + tag + ">");
  if (b == std::string::npos) return "";
  b += tag.size() + 2;
  size_t e = xml.find("</" + tag + ">", b);
  if (e == std::string::npos) return "";
  std::string raw = xml.substr(b, e - b), out;
  static const std::pair<const char*, char> entities[] = {
      {"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&apos;", '\''}};
  for (size_t i = 0; i < raw.size();) {
    bool replaced = false;
    for (const auto& [name, ch] : entities) {
      size_t len = std::char_traits<char>::length(name);
      if (raw.compare(i, len, name) == 0) {
        out += ch;
        i += len;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += raw[i++];
  }
  return out;
}

// A missing key or bucket, or a refusal, is the same answer when asked
// again: permanent, not worth a wait (haul::sdk::PermanentError).
[[noreturn]] void raise(long status, const std::string& message) {
  if (status == 401 || status == 403 || status == 404) throw haul::sdk::PermanentError(message);
  throw std::runtime_error(message);
}

std::string query_string(const Query& q) {
  std::string out;
  for (const auto& [k, v] : q) out += (out.empty() ? "?" : "&") + uri_encode(k, false) + (v.empty() && k == "uploads" ? "" : "=" + uri_encode(v, false));
  return out;
}

std::string strip_quotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

S3Location parse_s3_url(const std::string& url) {
  const std::string prefix = "s3://";
  if (url.compare(0, prefix.size(), prefix) != 0) throw std::runtime_error(url + ": not an s3:// URL");
  std::string rest = url.substr(prefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= rest.size())
    throw std::runtime_error(url + ": expected s3://BUCKET/KEY");
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

S3Location parse_s3_prefix(const std::string& url, const std::string& scheme) {
  const std::string prefix = scheme + "://";
  const size_t slash = url.find('/', prefix.size());
  if (url.compare(0, prefix.size(), prefix) != 0 || slash == std::string::npos || slash == prefix.size())
    throw std::runtime_error(url + ": expected " + prefix + "BUCKET/ or " + prefix + "BUCKET/PREFIX/");
  return {url.substr(prefix.size(), slash - prefix.size()), url.substr(slash + 1), scheme};
}

S3Config resolve_s3_config(S3Config c, const Environment& env, const std::string& profile) {
  if (c.endpoint.empty())
    for (const char* name : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"})
      if (auto v = env(name); v && !v->empty()) {
        c.endpoint = *v;
        break;
      }
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  if (c.region.empty()) c.region = resolve_region(env, profile);
  if (c.region.empty() && !c.endpoint.empty()) c.region = "us-east-1";
  return c;
}

S3Client::S3Client(S3Config config, std::shared_ptr<CredentialChain> credentials)
    : config_(std::move(config)), credentials_(std::move(credentials)) {
  curl_init_once();
}

S3Client::Target S3Client::target(const S3Location& loc, const Query& query) const {
  if (config_.region.empty())
    throw std::runtime_error(loc.url() + ": no AWS region; set region in the pipeline config, AWS_REGION, or the profile's region");
  Target t;
  std::string base;
  bool path_style = config_.force_path_style || !config_.endpoint.empty() || loc.bucket.find('.') != std::string::npos;
  if (!config_.endpoint.empty()) {
    base = config_.endpoint;
    size_t scheme = base.find("://");
    t.host = scheme == std::string::npos ? base : base.substr(scheme + 3);
    t.host = t.host.substr(0, t.host.find('/'));
    if (scheme == std::string::npos) base = "https://" + base;
  } else if (path_style) {
    t.host = "s3." + config_.region + ".amazonaws.com";
    base = "https://" + t.host;
  } else {
    t.host = loc.bucket + ".s3." + config_.region + ".amazonaws.com";
    base = "https://" + t.host;
  }
  // A bucket-level request (a listing) has no key: "/bucket", not "/bucket/".
  t.path = path_style ? "/" + loc.bucket + (loc.key.empty() ? "" : "/" + loc.key) : "/" + loc.key;
  t.url = base + uri_encode(t.path, true) + query_string(query);
  return t;
}

std::vector<std::pair<std::string, std::string>> S3Client::sign(const std::string& method, const Target& t,
                                                                const Query& query, const std::string& payload_hash) {
  Credentials c = credentials_->get();
  last_access_key_ = c.access_key_id;
  SigningRequest req{method, t.path, query, {{"Host", t.host}}, payload_hash};
  SigningParams p;
  p.access_key_id = c.access_key_id;
  p.secret_access_key = c.secret_access_key;
  p.session_token = c.session_token;
  p.region = config_.region;
  p.service = "s3";
  p.amz_date = amz_date_now();
  Signature s = haul::s3::sign(req, p);
  auto headers = s.added_headers;
  headers.emplace_back("Authorization", s.authorization);
  return headers;
}

void S3Client::fail(const std::string& op, const S3Location& loc, long status,
                    const std::map<std::string, std::string>& headers, const std::string& body) const {
  std::string code = xml_value(body, "Code"), message = xml_value(body, "Message");
  std::string what = op + " " + loc.url() + ": ";
  auto region_hint = [&]() -> std::string {
    std::string region = xml_value(body, "Region");
    if (auto it = headers.find("x-amz-bucket-region"); region.empty() && it != headers.end()) region = it->second;
    return region;
  };
  // "HTTP 404 NoSuchKey": the status and S3's code, as the Cloud Storage client names them.
  auto named = [&](const std::string& c) { return "HTTP " + std::to_string(status) + " " + c; };
  auto refuse = [&](const std::string& text) { raise(status, what + text); };
  if (code == "NoSuchKey" || (status == 404 && code.empty()))
    refuse("no such key (" + named("NoSuchKey") + ") in bucket " + loc.bucket);
  if (code == "NoSuchBucket") refuse("bucket '" + loc.bucket + "' does not exist (" + named("NoSuchBucket") + ")");
  if (code == "AccessDenied" || (status == 403 && code.empty()))
    refuse("access denied (" + named("AccessDenied") + ") for access key " + last_access_key_ +
           "; check that its policy allows s3:" + (op == "GET" ? "GetObject" : "PutObject") + " on this bucket and key");
  if (code == "SignatureDoesNotMatch")
    refuse("signature rejected (" + named("SignatureDoesNotMatch") + ") for access key " + last_access_key_ +
           "; check the secret access key for that key id");
  if (code == "RequestTimeTooSkewed")
    refuse("request time too skewed (" + named("RequestTimeTooSkewed") +
           "): this host's clock differs from S3's by more than 15 minutes; fix NTP");
  if (code == "InvalidAccessKeyId")
    refuse("the access key id " + last_access_key_ + " does not exist (" + named("InvalidAccessKeyId") + ")");
  if (status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed") {
    std::string region = region_hint();
    if (!region.empty() && region != config_.region)
      throw std::runtime_error(what + "bucket " + loc.bucket + " is in region " + region + ", not " + config_.region +
                               "; set region: " + region + " (or AWS_REGION=" + region + ")");
  }
  if (status == 412)
    throw haul::sdk::ObjectChanged(what + "the object changed during the download (its ETag no longer matches)");
  raise(status, what + "HTTP " + std::to_string(status) + (code.empty() ? "" : " " + code) +
                    (message.empty() ? "" : ": " + message));
}

std::string S3Client::get(const S3Location& loc, uint64_t offset, haul::sdk::Sink& sink, uint64_t length) {
  Target t = target(loc, {});
  haul::net::CurlStreamOptions o;
  o.url = t.url;
  o.offset = offset;
  o.length = length;
  o.max_redirects = 0;  // S3 redirects mean a wrong region: report, don't follow
  o.connect_timeout_ms = config_.connect_timeout_ms;
  o.low_speed_time_s = config_.low_speed_time_s;
  o.ca_file = config_.ca_file;
  o.insecure = config_.insecure;
  o.user_agent = config_.user_agent;
  for (const auto& [k, v] : sign("GET", t, {}, "UNSIGNED-PAYLOAD")) o.headers.push_back(k + ": " + v);
  if (!sink.pinned().empty()) o.headers.push_back("If-Match: " + sink.pinned());
  // S3 answers a stale If-Match with 412; a store that ignores it is caught by the answer's own ETag.
  o.on_response = [&](long, const std::map<std::string, std::string>& headers) {
    auto etag = headers.find("etag");
    sink.pin(etag == headers.end() ? "" : etag->second, "GET " + loc.url() + ": the object's ETag");
  };
  auto r = haul::net::curl_stream(o, sink);
  if (r.status && (r.status < 200 || r.status >= 300)) fail("GET", loc, r.status, r.headers, r.error_body);
  if (r.curl_code != 0)
    throw std::runtime_error("GET " + loc.url() + ": " +
                             (r.stalled ? "stalled for " + std::to_string(o.low_speed_time_s) + "s" : r.curl_error));
  auto etag = r.headers.find("etag");
  return etag == r.headers.end() ? "" : etag->second;
}

HttpResponse S3Client::call(const std::string& method, const S3Location& loc, const Query& query, const std::string& body) {
  Target t = target(loc, query);
  HttpRequest req;
  req.method = method;
  req.url = t.url;
  req.body = body;
  req.headers = sign(method, t, query, sha256_hex(body));
  req.connect_timeout = std::chrono::milliseconds(config_.connect_timeout_ms);
  req.timeout = std::chrono::minutes(10);
  req.ca_file = config_.ca_file;
  req.insecure = config_.insecure;
  return http_call(req);
}

std::vector<S3Object> S3Client::list(const S3Location& prefix, int page_size) {
  std::vector<S3Object> out;
  std::string token;
  while (true) {
    Query q{{"list-type", "2"}, {"max-keys", std::to_string(page_size)}, {"prefix", prefix.key}};
    if (!token.empty()) q.emplace_back("continuation-token", token);
    HttpResponse r = call("GET", {prefix.bucket, "", prefix.scheme}, q, "");
    if (r.status != 200) fail("LIST", prefix, r.status, r.headers, r.body);
    for (size_t at = r.body.find("<Contents>"); at != std::string::npos; at = r.body.find("<Contents>", at + 1)) {
      const size_t end = r.body.find("</Contents>", at);
      const std::string item = r.body.substr(at, end == std::string::npos ? std::string::npos : end - at);
      S3Object o;
      o.key = xml_value(item, "Key");
      o.size = std::strtoull(xml_value(item, "Size").c_str(), nullptr, 10);
      std::tm tm{};  // LastModified: 2026-11-30T10:00:00.000Z
      if (strptime(xml_value(item, "LastModified").c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) o.last_modified_unix = timegm(&tm);
      out.push_back(std::move(o));
    }
    if (xml_value(r.body, "IsTruncated") != "true") return out;
    token = xml_value(r.body, "NextContinuationToken");
    if (token.empty()) throw std::runtime_error("LIST " + prefix.url() + ": a truncated listing without a continuation token");
  }
}

void S3Client::remove(const S3Location& loc) {
  HttpResponse r = call("DELETE", loc, {}, "");
  if (r.status != 204 && r.status != 200 && r.status != 404) fail("DELETE", loc, r.status, r.headers, r.body);
}

std::string S3Client::put(const S3Location& loc, const std::string& body) {
  HttpResponse r = call("PUT", loc, {}, body);
  if (r.status != 200) fail("PUT", loc, r.status, r.headers, r.body);
  return r.headers.count("etag") ? r.headers["etag"] : "";
}

std::string S3Client::put_file(const S3Location& loc, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + " to upload it to " + loc.url());
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto read_chunk = [&](uint64_t n) {
    std::string buf(n, '\0');
    in.read(buf.data(), static_cast<std::streamsize>(n));
    buf.resize(static_cast<size_t>(in.gcount()));
    return buf;
  };
  if (size <= config_.multipart_threshold) {
    last_upload_parts_ = 1;
    return put(loc, read_chunk(size));
  }

  HttpResponse init = call("POST", loc, {{"uploads", ""}}, "");
  if (init.status != 200) fail("POST (start multipart upload)", loc, init.status, init.headers, init.body);
  const std::string upload_id = xml_value(init.body, "UploadId");
  if (upload_id.empty()) throw std::runtime_error("POST " + loc.url() + ": no UploadId in the answer");
  try {
    std::string parts_xml;
    int part = 0;
    for (uint64_t done = 0; done < size;) {
      std::string chunk = read_chunk(std::min<uint64_t>(config_.part_size, size - done));
      if (chunk.empty()) throw std::runtime_error(path + " shrank while it was being uploaded");
      done += chunk.size();
      ++part;
      HttpResponse r = call("PUT", loc, {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}}, chunk);
      if (r.status != 200) fail("PUT (part " + std::to_string(part) + ")", loc, r.status, r.headers, r.body);
      parts_xml += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + r.headers["etag"] + "</ETag></Part>";
    }
    last_upload_parts_ = part;
    std::string complete = "<CompleteMultipartUpload>" + parts_xml + "</CompleteMultipartUpload>";
    HttpResponse r = call("POST", loc, {{"uploadId", upload_id}}, complete);
    if (r.status != 200 || !xml_value(r.body, "Code").empty())
      fail("POST (complete multipart upload)", loc, r.status == 200 ? 500 : r.status, r.headers, r.body);
    return strip_quotes(xml_value(r.body, "ETag"));
  } catch (...) {
    try {
      call("DELETE", loc, {{"uploadId", upload_id}}, "");  // abort: parts of a failed upload are not kept
    } catch (...) {
    }
    throw;
  }
}

}  // namespace haul::s3
