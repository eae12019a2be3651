// SPDX-License-Identifier: Apache-2.0
// Where S3 credentials and region come from, in the AWS SDKs' order:
//   1. keys in the pipeline config (access_key_id / secret_access_key)
//   2. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
//   3. the shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and
//      AWS_CONFIG_FILE (~/.aws/config), profile from config, AWS_PROFILE or "default"
//   4. container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI
//      (with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE])
//   5. EC2 instance metadata, IMDSv2 only (token PUT, role lookup), unless
//      AWS_EC2_METADATA_DISABLED=true; AWS_EC2_METADATA_SERVICE_ENDPOINT overrides
// Temporary credentials are cached and refreshed five minutes before expiry.
// The environment is passed in, so tests never read (or leak) the real one.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "net/environment.hpp"

namespace haul::s3 {

struct Credentials {
  std::string access_key_id, secret_access_key, session_token;
  std::optional<std::chrono::system_clock::time_point> expiration;
  std::string source;  // where they came from, for logs: "environment", "profile default", ...
};

using haul::net::Environment;
using haul::net::process_environment;

struct CredentialSettings {
  std::string access_key_id, secret_access_key, session_token;  // from the pipeline config
  std::string profile;                                           // overrides AWS_PROFILE
  std::chrono::milliseconds metadata_timeout{1000};
};

class CredentialChain {
 public:
  CredentialChain(CredentialSettings settings, Environment env);
  // Throws std::runtime_error listing every place that was tried.
  Credentials get();

 private:
  std::optional<Credentials> from_config() const;
  std::optional<Credentials> from_environment() const;
  std::optional<Credentials> from_shared_files() const;
  std::optional<Credentials> from_container() const;
  std::optional<Credentials> from_instance_metadata() const;

  CredentialSettings settings_;
  Environment env_;
  std::mutex mu_;
  std::optional<Credentials> cached_;
};

// Region: AWS_REGION, AWS_DEFAULT_REGION, then the profile's `region` in the
// config file; empty when none is set.
std::string resolve_region(const Environment& env, const std::string& profile);

// Reads one section of an INI-style AWS file; empty map when absent.
std::optional<std::string> ini_value(const std::string& path, const std::string& section, const std::string& key);

}  // namespace haul::s3
