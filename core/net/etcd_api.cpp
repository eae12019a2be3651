// SPDX-License-Identifier: Apache-2.0
#include "net/etcd_api.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "net/consul_api.hpp"  // base64
#include "net/http_call.hpp"

namespace haul::net {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The gateway writes int64 as strings and leaves out zero values.
int64_t i64(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return 0;
  const auto& v = j[key];
  if (v.is_string()) return std::strtoll(v.get<std::string>().c_str(), nullptr, 10);
  return v.is_number() ? v.get<int64_t>() : 0;
}

EtcdKv kv_of(const nlohmann::json& j) {
  EtcdKv kv;
  kv.key = base64_decode(j.value("key", ""));
  kv.value = base64_decode(j.value("value", ""));
  kv.create_revision = i64(j, "create_revision");
  kv.mod_revision = i64(j, "mod_revision");
  kv.lease = i64(j, "lease");
  return kv;
}

// etcd refuses a stale or unknown auth token with these.
bool token_refused(const std::string& body) {
  return body.find("invalid auth token") != std::string::npos ||
         body.find("user name is empty") != std::string::npos;
}

}  // namespace

std::string etcd_prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string etcd_endpoint_lines(const std::string& comma_separated) {
  std::stringstream in(comma_separated);
  std::string lines;
  for (std::string e; std::getline(in, e, ',');)
    if (!haul::sdk::trim(e).empty()) lines += (lines.empty() ? "" : "\n") + haul::sdk::trim(e);
  return lines;
}

EtcdSettings etcd_settings_from_config(const haul::sdk::Config& cfg) {
  EtcdSettings s;
  s.endpoints = cfg.list("endpoints");
  if (s.endpoints.empty()) {
    const std::string from_env = etcd_endpoint_lines(env("ETCDCTL_ENDPOINTS"));
    const haul_kv field{"endpoints", from_env.c_str()};
    s.endpoints = haul::sdk::Config(&field, 1).list("endpoints");
  }
  if (s.endpoints.empty()) s.endpoints.push_back("http://127.0.0.1:2379");
  for (auto& e : s.endpoints) {
    if (e.find("://") == std::string::npos) e = "http://" + e;
    while (!e.empty() && e.back() == '/') e.pop_back();
  }
  s.user = cfg.str("user");
  s.password = cfg.str("password");
  s.ca_file = cfg.str("ca_file", env("ETCDCTL_CACERT"));
  s.cert_file = cfg.str("cert_file", env("ETCDCTL_CERT"));
  s.key_file = cfg.str("key_file", env("ETCDCTL_KEY"));
  s.insecure = cfg.boolean("insecure_skip_verify");
  return s;
}

EtcdApi::EtcdApi(EtcdSettings s) : s_(std::move(s)) {
  if (s_.endpoints.empty()) throw std::runtime_error("no etcd endpoints");
}

std::string EtcdApi::endpoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return s_.endpoints[current_];
}

// An answer in an error message: what is not etcd (an HTML error page)
// is cut to its start, on one line.
static std::string excerpt(const std::string& body) {
  std::string out = body.substr(0, 200);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return body.size() > 200 ? out + "… (" + std::to_string(body.size()) + " bytes)" : out;
}

nlohmann::json EtcdApi::post_once(const std::string& endpoint, const std::string& path, const std::string& body,
                                  long& status) {
  HttpRequest req;
  req.method = "POST";
  req.url = endpoint + path;
  req.body = body;
  req.headers.emplace_back("Content-Type", "application/json");
  if (path != "/v3/auth/authenticate") {
    const std::string t = token();
    if (!t.empty()) req.headers.emplace_back("Authorization", t);
  }
  req.timeout = s_.request_timeout;
  req.connect_timeout = std::min<std::chrono::milliseconds>(s_.request_timeout, std::chrono::seconds(3));
  req.ca_file = s_.ca_file;
  req.cert_file = s_.cert_file;
  req.key_file = s_.key_file;
  req.insecure = s_.insecure;
  HttpResponse r = http_call(req);  // throws on transport failure
  status = r.status;
  if (r.status >= 500 || r.status == 0)
    throw EtcdUnavailable("POST " + req.url + ": HTTP " + std::to_string(r.status) + ": " + excerpt(r.body));
  if (r.status != 200) {
    if (token_refused(r.body)) {
      std::lock_guard<std::mutex> lock(mu_);
      token_.clear();  // fetched again on the next call
    }
    throw std::runtime_error("POST " + req.url + ": HTTP " + std::to_string(r.status) + ": " + excerpt(r.body));
  }
  return nlohmann::json::parse(r.body);
}

// Tries each endpoint from the last good one; only when none answers is it
// EtcdUnavailable. A refused auth token is fetched again once.
nlohmann::json EtcdApi::post(const std::string& path, const nlohmann::json& body) {
  const std::string text = body.dump();
  std::string errors;
  size_t first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = current_;
  }
  for (size_t i = 0; i < s_.endpoints.size(); ++i) {
    const size_t n = (first + i) % s_.endpoints.size();
    long status = 0;
    try {
      try {
        nlohmann::json out = post_once(s_.endpoints[n], path, text, status);
        std::lock_guard<std::mutex> lock(mu_);
        current_ = n;
        return out;
      } catch (const EtcdUnavailable&) {
        throw;
      } catch (const std::runtime_error& e) {
        if (status == 0) throw EtcdUnavailable(e.what());  // transport: the next endpoint
        if (!s_.user.empty() && token_refused(e.what())) return post_once(s_.endpoints[n], path, text, status);
        throw;
      }
    } catch (const EtcdUnavailable& e) {
      errors += std::string(errors.empty() ? "" : "; ") + e.what();
    }
  }
  throw EtcdUnavailable("no etcd endpoint answered: " + errors);
}

std::string EtcdApi::token() {
  if (s_.user.empty()) return "";
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!token_.empty()) return token_;
  }
  long status = 0;
  std::string errors;
  for (const auto& e : s_.endpoints) {
    try {
      const nlohmann::json r =
          post_once(e, "/v3/auth/authenticate", nlohmann::json{{"name", s_.user}, {"password", s_.password}}.dump(), status);
      std::lock_guard<std::mutex> lock(mu_);
      token_ = r.value("token", "");
      return token_;
    } catch (const EtcdUnavailable& ex) {
      errors += std::string(errors.empty() ? "" : "; ") + ex.what();
    } catch (const std::runtime_error& ex) {
      if (status == 0) {
        errors += std::string(errors.empty() ? "" : "; ") + ex.what();
        continue;
      }
      throw std::runtime_error("etcd refused user '" + s_.user + "': " + ex.what());
    }
  }
  throw EtcdUnavailable("no etcd endpoint answered the authentication: " + errors);
}

std::vector<EtcdKv> EtcdApi::range(const std::string& key, bool prefix, int64_t* revision) {
  nlohmann::json body = {{"key", base64_encode(key)}};
  if (prefix) body["range_end"] = base64_encode(etcd_prefix_end(key));
  const nlohmann::json r = post("/v3/kv/range", body);
  if (revision) *revision = i64(r.value("header", nlohmann::json::object()), "revision");
  std::vector<EtcdKv> out;
  for (const auto& kv : r.value("kvs", nlohmann::json::array())) out.push_back(kv_of(kv));
  return out;
}

void EtcdApi::put(const std::string& key, const std::string& value, int64_t lease) {
  nlohmann::json body = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease) body["lease"] = std::to_string(lease);
  post("/v3/kv/put", body);
}

void EtcdApi::del(const std::string& key) { post("/v3/kv/deleterange", {{"key", base64_encode(key)}}); }

bool EtcdApi::put_if(const std::string& key, const std::string& value, int64_t mod_revision) {
  nlohmann::json compare = {{"key", base64_encode(key)}, {"result", "EQUAL"}};
  if (mod_revision == 0) {
    compare["target"] = "CREATE";
    compare["create_revision"] = "0";
  } else {
    compare["target"] = "MOD";
    compare["mod_revision"] = std::to_string(mod_revision);
  }
  const nlohmann::json r = post("/v3/kv/txn", {{"compare", {compare}},
                                               {"success", {{{"request_put", {{"key", base64_encode(key)},
                                                                              {"value", base64_encode(value)}}}}}}});
  return r.value("succeeded", false);
}

int64_t EtcdApi::lease_grant(std::chrono::seconds ttl) {
  return i64(post("/v3/lease/grant", {{"TTL", std::to_string(ttl.count())}}), "ID");
}

bool EtcdApi::lease_keepalive(int64_t id) {
  const nlohmann::json r = post("/v3/lease/keepalive", {{"ID", std::to_string(id)}});
  return i64(r.value("result", nlohmann::json::object()), "TTL") > 0;
}

void EtcdApi::lease_revoke(int64_t id) { post("/v3/lease/revoke", {{"ID", std::to_string(id)}}); }

namespace {

// The watch stream as it arrives: one JSON object per line; it ends the
// transfer (by refusing bytes) at the first events or compaction.
struct WatchStream {
  std::string buffer;
  bool changed = false;
  std::string error;
  const std::function<bool()>* cancelled = nullptr;
  std::chrono::steady_clock::time_point deadline;
  bool timed_out = false;
};

size_t on_watch_bytes(char* data, size_t size, size_t n, void* ctx) {
  auto* w = static_cast<WatchStream*>(ctx);
  w->buffer.append(data, size * n);
  size_t nl;
  while ((nl = w->buffer.find('\n')) != std::string::npos) {
    const std::string line = w->buffer.substr(0, nl);
    w->buffer.erase(0, nl + 1);
    const nlohmann::json msg = nlohmann::json::parse(line, nullptr, false);
    if (msg.is_discarded()) continue;
    if (msg.contains("error")) {
      w->error = msg["error"].dump();
      return 0;
    }
    const nlohmann::json result = msg.value("result", nlohmann::json::object());
    if (result.contains("events") || i64(result, "compact_revision") > 0 || result.value("canceled", false)) {
      w->changed = true;
      return 0;
    }
  }
  return size * n;
}

int on_watch_progress(void* ctx, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* w = static_cast<WatchStream*>(ctx);
  if (*w->cancelled && (*w->cancelled)()) return 1;
  if (std::chrono::steady_clock::now() >= w->deadline) {
    w->timed_out = true;
    return 1;
  }
  return 0;
}

}  // namespace

bool EtcdApi::watch(const std::string& key, bool prefix, int64_t start_revision, std::chrono::milliseconds timeout,
                    const std::function<bool()>& cancelled) {
  curl_init_once();
  nlohmann::json create = {{"key", base64_encode(key)}, {"start_revision", std::to_string(start_revision)}};
  if (prefix) create["range_end"] = base64_encode(etcd_prefix_end(key));
  const std::string body = nlohmann::json{{"create_request", create}}.dump();
  WatchStream w;
  w.cancelled = &cancelled;
  w.deadline = std::chrono::steady_clock::now() + timeout;
  const std::string url = endpoint() + "/v3/watch";
  CURL* curl = curl_easy_init();
  struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  const std::string t = token();
  const std::string auth = "Authorization: " + t;
  if (!t.empty()) headers = curl_slist_append(headers, auth.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_watch_bytes);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &w);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &on_watch_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &w);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!s_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, s_.ca_file.c_str());
  if (!s_.cert_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT, s_.cert_file.c_str());
  if (!s_.key_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, s_.key_file.c_str());
  if (s_.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (w.changed) return true;
  if (w.timed_out) return false;
  if (cancelled && cancelled()) return false;
  if (!w.error.empty()) {
    if (token_refused(w.error)) {
      std::lock_guard<std::mutex> lock(mu_);
      token_.clear();  // fetched again by the next call
    }
    throw EtcdUnavailable("watch at " + url + ": " + w.error);
  }
  if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR)
    throw EtcdUnavailable("watch at " + url + ": " + curl_easy_strerror(rc));
  if (status != 200) throw EtcdUnavailable("watch at " + url + ": HTTP " + std::to_string(status));
  return false;  // the member ended the stream: read again
}

}  // namespace haul::net
