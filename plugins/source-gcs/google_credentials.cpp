// SPDX-License-Identifier: Apache-2.0
#include "google_credentials.hpp"

#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "jwt_rs256.hpp"
#include "net/http_call.hpp"
#include "sigv4.hpp"

namespace haul::gcs {
namespace {

using Clock = std::chrono::system_clock;
using haul::net::HttpRequest;
using haul::net::HttpResponse;
using haul::net::http_call;
using json = nlohmann::json;

const char* const kDefaultTokenUri = "https://oauth2.googleapis.com/token";

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) out += (out.empty() ? "" : "&") + k + "=" + haul::s3::uri_encode(v, false);
  return out;
}

// A string field of a key file, required; the error names file and field.
std::string field(const json& j, const char* name, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string() || it->get<std::string>().empty())
    throw std::runtime_error(where + ": field \"" + name + "\" is missing or not a string");
  return it->get<std::string>();
}

// Google's OAuth error document: {"error": "invalid_grant", "error_description": "..."}.
std::string oauth_error(const HttpResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  std::string text = "HTTP " + std::to_string(r.status);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    text += " " + j["error"].get<std::string>();
    if (j.contains("error_description") && j["error_description"].is_string())
      text += ": " + j["error_description"].get<std::string>();
  }
  return text;
}

AccessToken token_from(const HttpResponse& r, const std::string& from, const std::string& identity) {
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string())
    throw std::runtime_error(from + " answered without an access_token");
  long long expires_in = j.contains("expires_in") && j["expires_in"].is_number() ? j["expires_in"].get<long long>() : 3600;
  return {j["access_token"].get<std::string>(), Clock::now() + std::chrono::seconds(expires_in), identity};
}

HttpResponse post_form(const std::string& url, const std::string& body) {
  HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.body = body;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  req.timeout = std::chrono::seconds(30);
  return http_call(req);
}

}  // namespace

GoogleCredentials::GoogleCredentials(GoogleCredentialSettings settings, Environment env)
    : settings_(std::move(settings)), env_(std::move(env)) {}

AccessToken GoogleCredentials::get() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_ && Clock::now() < cached_->expiry - settings_.refresh_margin) return *cached_;
  cached_ = fetch();
  return *cached_;
}

void GoogleCredentials::invalidate(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_ && cached_->token == token) cached_.reset();
}

AccessToken GoogleCredentials::fetch() const {
  if (!settings_.credentials_file.empty())
    return from_key_file(settings_.credentials_file, "credentials_file " + settings_.credentials_file);
  if (auto v = env_("GOOGLE_APPLICATION_CREDENTIALS"); v && !v->empty())
    return from_key_file(*v, "GOOGLE_APPLICATION_CREDENTIALS=" + *v);
  std::string gcloud_dir = env_("CLOUDSDK_CONFIG").value_or("");
  if (gcloud_dir.empty()) gcloud_dir = env_("HOME").value_or("/root") + "/.config/gcloud";
  const std::string adc = gcloud_dir + "/application_default_credentials.json";
  if (std::ifstream(adc).good()) return from_key_file(adc, "gcloud's application default credentials " + adc);
  std::string metadata = "none";
  if (auto t = from_metadata_server(metadata)) return *t;
  throw std::runtime_error("no Google credentials found; tried credentials_file in the pipeline config: none; "
                           "GOOGLE_APPLICATION_CREDENTIALS: not set; " + adc + ": none; the metadata server: " + metadata +
                           ". Set GOOGLE_APPLICATION_CREDENTIALS to a service account key, run `gcloud auth "
                           "application-default login`, or use hmac_access_id/hmac_secret");
}

AccessToken GoogleCredentials::from_key_file(const std::string& path, const std::string& origin) const {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(origin + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (!j.is_object()) throw std::runtime_error(origin + ": not a JSON credentials file");
  const std::string type = j.value("type", std::string());
  const std::string token_uri = j.contains("token_uri") && j["token_uri"].is_string() ? j["token_uri"].get<std::string>()
                                                                                        : kDefaultTokenUri;
  if (type == "service_account") {
    const std::string email = field(j, "client_email", origin);
    const std::string identity = "service account " + email + " (" + origin + ")";
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
    json header = {{"alg", "RS256"}, {"typ", "JWT"}};
    if (j.contains("private_key_id") && j["private_key_id"].is_string()) header["kid"] = j["private_key_id"];
    json claims = {{"iss", email}, {"scope", settings_.scope}, {"aud", token_uri}, {"iat", now}, {"exp", now + 3600}};
    std::string assertion = sign_jwt_rs256(header, claims, field(j, "private_key", origin), origin);
    HttpResponse r = post_form(token_uri, form({{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
                                                {"assertion", assertion}}));
    if (r.status != 200)
      throw std::runtime_error("the token endpoint " + token_uri + " refused the assertion of " + identity + ": " + oauth_error(r));
    return token_from(r, "the token endpoint " + token_uri, identity);
  }
  if (type == "authorized_user") {
    const std::string identity = "user credentials (" + origin + ")";
    HttpResponse r = post_form(token_uri, form({{"grant_type", "refresh_token"},
                                                {"client_id", field(j, "client_id", origin)},
                                                {"client_secret", field(j, "client_secret", origin)},
                                                {"refresh_token", field(j, "refresh_token", origin)}}));
    if (r.status != 200)
      throw std::runtime_error("the token endpoint " + token_uri + " refused the refresh token of " + identity + ": " +
                               oauth_error(r) + "; run `gcloud auth application-default login` again");
    return token_from(r, "the token endpoint " + token_uri, identity);
  }
  throw std::runtime_error(origin + ": credentials of type \"" + type + "\" are not supported; expected \"service_account\" "
                           "(a key file) or \"authorized_user\" (gcloud auth application-default login)");
}

std::optional<AccessToken> GoogleCredentials::from_metadata_server(std::string& outcome) const {
  if (auto off = env_("NO_GCE_CHECK"); off && (*off == "true" || *off == "True" || *off == "1")) {
    outcome = "skipped (NO_GCE_CHECK)";
    return std::nullopt;
  }
  std::string host = settings_.metadata_host;
  if (host.empty()) host = env_("GCE_METADATA_HOST").value_or("metadata.google.internal");
  HttpRequest req;
  req.url = "http://" + host + "/computeMetadata/v1/instance/service-accounts/default/token";
  req.headers = {{"Metadata-Flavor", "Google"}};
  req.connect_timeout = settings_.metadata_timeout;
  req.timeout = settings_.metadata_timeout * 3;
  HttpResponse r;
  try {
    r = http_call(req);
  } catch (const std::exception&) {
    outcome = host + " did not answer (not on Google Cloud)";
    return std::nullopt;
  }
  // Only the metadata server says Metadata-Flavor: Google; anything else at
  // that name (a captive portal, a proxy) is not a source of tokens.
  auto flavor = r.headers.find("metadata-flavor");
  if (flavor == r.headers.end() || flavor->second != "Google") {
    outcome = host + " answered without Metadata-Flavor: Google (not a metadata server)";
    return std::nullopt;
  }
  const std::string identity = "the default service account of the metadata server " + host;
  if (r.status == 404) throw std::runtime_error("the metadata server " + host + " has no default service account for this instance");
  if (r.status != 200) throw std::runtime_error("the metadata server " + host + " answered HTTP " + std::to_string(r.status) +
                                                " to a token request");
  return token_from(r, "the metadata server " + host, identity);
}

}  // namespace haul::gcs
