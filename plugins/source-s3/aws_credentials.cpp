// SPDX-License-Identifier: Apache-2.0
#include "aws_credentials.hpp"

#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "net/http_call.hpp"

namespace haul::s3 {

using haul::net::HttpRequest;
using haul::net::HttpResponse;
using haul::net::http_call;
namespace {

using haul::sdk::trim;

using Clock = std::chrono::system_clock;

std::string home_path(const Environment& env, const std::string& rel) {
  auto home = env("HOME");
  return (home ? *home : std::string("/root")) + "/" + rel;
}

// "2026-11-26T10:00:00Z" → time_point
std::optional<Clock::time_point> parse_iso8601(const std::string& s) {
  std::tm tm{};
  std::istringstream in(s);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  return Clock::from_time_t(timegm(&tm));
}

Credentials from_json(const std::string& body, const std::string& source) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("AccessKeyId") || !j.contains("SecretAccessKey"))
    throw std::runtime_error(source + " answered without AccessKeyId/SecretAccessKey");
  Credentials c;
  c.access_key_id = j["AccessKeyId"].get<std::string>();
  c.secret_access_key = j["SecretAccessKey"].get<std::string>();
  c.session_token = j.value("Token", std::string());
  if (j.contains("Expiration") && j["Expiration"].is_string()) c.expiration = parse_iso8601(j["Expiration"].get<std::string>());
  c.source = source;
  return c;
}

}  // namespace

std::optional<std::string> ini_value(const std::string& path, const std::string& section, const std::string& key) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line, current;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      current = trim(line.substr(1, line.size() - 2));
      continue;
    }
    size_t eq = line.find('=');
    if (current == section && eq != std::string::npos && trim(line.substr(0, eq)) == key)
      return trim(line.substr(eq + 1));
  }
  return std::nullopt;
}

std::string resolve_region(const Environment& env, const std::string& profile_override) {
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (auto v = env(name); v && !v->empty()) return *v;
  std::string profile = profile_override;
  if (profile.empty()) profile = env("AWS_PROFILE").value_or("default");
  std::string config = env("AWS_CONFIG_FILE").value_or(home_path(env, ".aws/config"));
  std::string section = profile == "default" ? "default" : "profile " + profile;
  return ini_value(config, section, "region").value_or("");
}

CredentialChain::CredentialChain(CredentialSettings settings, Environment env)
    : settings_(std::move(settings)), env_(std::move(env)) {}

std::optional<Credentials> CredentialChain::from_config() const {
  if (settings_.access_key_id.empty()) return std::nullopt;
  if (settings_.secret_access_key.empty())
    throw std::runtime_error("access_key_id is set in the pipeline config but secret_access_key is not");
  return Credentials{settings_.access_key_id, settings_.secret_access_key, settings_.session_token, std::nullopt,
                     "pipeline config"};
}

std::optional<Credentials> CredentialChain::from_environment() const {
  auto id = env_("AWS_ACCESS_KEY_ID"), secret = env_("AWS_SECRET_ACCESS_KEY");
  if (!id || id->empty()) return std::nullopt;
  if (!secret || secret->empty())
    throw std::runtime_error("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  return Credentials{*id, *secret, env_("AWS_SESSION_TOKEN").value_or(""), std::nullopt, "environment"};
}

std::optional<Credentials> CredentialChain::from_shared_files() const {
  std::string profile = settings_.profile;
  if (profile.empty()) profile = env_("AWS_PROFILE").value_or("default");
  const std::string creds_file = env_("AWS_SHARED_CREDENTIALS_FILE").value_or(home_path(env_, ".aws/credentials"));
  const std::string config_file = env_("AWS_CONFIG_FILE").value_or(home_path(env_, ".aws/config"));
  struct Place {
    std::string file, section;
  };
  for (const Place& p : {Place{creds_file, profile},
                         Place{config_file, profile == "default" ? "default" : "profile " + profile}}) {
    auto id = ini_value(p.file, p.section, "aws_access_key_id");
    if (!id) continue;
    auto secret = ini_value(p.file, p.section, "aws_secret_access_key");
    if (!secret) throw std::runtime_error(p.file + " [" + p.section + "] has aws_access_key_id but no aws_secret_access_key");
    return Credentials{*id, *secret, ini_value(p.file, p.section, "aws_session_token").value_or(""), std::nullopt,
                       "profile " + profile + " in " + p.file};
  }
  return std::nullopt;
}

std::optional<Credentials> CredentialChain::from_container() const {
  std::string url;
  if (auto full = env_("AWS_CONTAINER_CREDENTIALS_FULL_URI"); full && !full->empty()) url = *full;
  else if (auto rel = env_("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel && !rel->empty())
    url = "http://169.254.170.2" + *rel;
  if (url.empty()) return std::nullopt;
  HttpRequest req;
  req.url = url;
  req.timeout = settings_.metadata_timeout * 2;
  req.connect_timeout = settings_.metadata_timeout;
  std::string token = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN").value_or("");
  if (auto file = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); file && !file->empty()) {
    std::ifstream in(*file);
    std::getline(in, token);
  }
  if (!token.empty()) req.headers.emplace_back("Authorization", trim(token));
  HttpResponse r = http_call(req);
  if (r.status != 200)
    throw std::runtime_error("container credentials at " + url + " answered HTTP " + std::to_string(r.status));
  return from_json(r.body, "container credentials");
}

std::optional<Credentials> CredentialChain::from_instance_metadata() const {
  if (auto off = env_("AWS_EC2_METADATA_DISABLED"); off && (*off == "true" || *off == "TRUE" || *off == "1"))
    return std::nullopt;
  std::string base = env_("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
  while (!base.empty() && base.back() == '/') base.pop_back();
  HttpRequest put;
  put.method = "PUT";
  put.url = base + "/latest/api/token";
  put.headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds", "21600");
  put.timeout = settings_.metadata_timeout * 2;
  put.connect_timeout = settings_.metadata_timeout;
  HttpResponse tok;
  try {
    tok = http_call(put);
  } catch (const std::exception&) {
    return std::nullopt;  // not on EC2 (or IMDS blocked): not an error, just not a source
  }
  if (tok.status != 200)
    throw std::runtime_error("instance metadata token request (IMDSv2) answered HTTP " + std::to_string(tok.status));
  HttpRequest get = put;
  get.method = "GET";
  get.headers = {{"X-aws-ec2-metadata-token", tok.body}};
  get.url = base + "/latest/meta-data/iam/security-credentials/";
  HttpResponse role = http_call(get);
  if (role.status == 404) throw std::runtime_error("this instance has no IAM role (instance metadata has no credentials)");
  if (role.status != 200) throw std::runtime_error("instance metadata role lookup answered HTTP " + std::to_string(role.status));
  std::string name = trim(role.body.substr(0, role.body.find('\n')));
  get.url += name;
  HttpResponse creds = http_call(get);
  if (creds.status != 200)
    throw std::runtime_error("instance metadata credentials for role " + name + " answered HTTP " + std::to_string(creds.status));
  return from_json(creds.body, "instance metadata (role " + name + ")");
}

Credentials CredentialChain::get() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_ && (!cached_->expiration || Clock::now() < *cached_->expiration - std::chrono::minutes(5)))
    return *cached_;
  // Each place in AWS's documented order; one that fails (an instance
  // metadata service that answers 403 off EC2) is noted and the search goes
  // on, so the answer is "none found, here is what was tried", not the last
  // place's HTTP status.
  using Provider = std::optional<Credentials> (CredentialChain::*)() const;
  const std::pair<Provider, const char*> providers[] = {
      {&CredentialChain::from_config, "the pipeline config (access_key_id)"},
      {&CredentialChain::from_environment, "AWS_ACCESS_KEY_ID"},
      {&CredentialChain::from_shared_files, "the shared files (~/.aws/credentials, ~/.aws/config)"},
      {&CredentialChain::from_container, "container credentials (AWS_CONTAINER_CREDENTIALS_*)"},
      {&CredentialChain::from_instance_metadata, "EC2 instance metadata"}};
  std::string tried;
  for (const auto& [provider, name] : providers) {
    std::string outcome = "none";
    try {
      if (auto c = (this->*provider)()) {
        cached_ = c;
        return *c;
      }
    } catch (const std::exception& e) {
      outcome = e.what();
    }
    tried += std::string(tried.empty() ? "" : "; ") + name + ": " + outcome;
  }
  throw std::runtime_error("no AWS credentials found; tried " + tried);
}

}  // namespace haul::s3
