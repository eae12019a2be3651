// SPDX-License-Identifier: Apache-2.0
// Where Google access tokens come from: Application Default Credentials, in
// the order Google documents for its client libraries:
//   1. credentials_file in the pipeline config
//   2. GOOGLE_APPLICATION_CREDENTIALS
//   3. gcloud's ADC file: $CLOUDSDK_CONFIG/application_default_credentials.json,
//      else ~/.config/gcloud/application_default_credentials.json
//   4. the metadata server (GCE, GKE, Cloud Run): GCE_METADATA_HOST, else
//      metadata.google.internal; skipped when NO_GCE_CHECK=true
// A key file is a service account key (a JWT signed RS256 with its private
// key, exchanged at its token_uri) or an authorized_user file (its refresh
// token exchanged). As in ADC, the first place that is configured decides: a
// key file that cannot be used is an error, never a reason to act as another
// identity. Tokens are cached until shortly before they expire; a token the
// server refused is dropped with invalidate(). No secret — private key,
// client secret, refresh token, access token — is ever put in a message.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "net/environment.hpp"

namespace haul::gcs {

using haul::net::Environment;
using haul::net::process_environment;

inline const char* const kReadWriteScope = "https://www.googleapis.com/auth/devstorage.read_write";

struct AccessToken {
  std::string token;
  std::chrono::system_clock::time_point expiry;
  std::string identity;  // for messages: "service account a@b (GOOGLE_APPLICATION_CREDENTIALS=/k.json)"
};

struct GoogleCredentialSettings {
  std::string credentials_file;  // from the pipeline config; overrides GOOGLE_APPLICATION_CREDENTIALS
  std::string metadata_host;     // overrides GCE_METADATA_HOST
  std::string scope = kReadWriteScope;
  std::chrono::milliseconds metadata_timeout{1000};
  // A cached token is used until this long before it expires (Google's
  // libraries refresh 3m45s early, so a token is never sent at its last second).
  std::chrono::seconds refresh_margin{225};
};

class GoogleCredentials {
 public:
  GoogleCredentials(GoogleCredentialSettings settings, Environment env);
  // Throws std::runtime_error naming the place that decided (or every place tried).
  AccessToken get();
  // The server refused this token (HTTP 401): the next get() fetches a new one.
  void invalidate(const std::string& token);

 private:
  AccessToken fetch() const;
  AccessToken from_key_file(const std::string& path, const std::string& origin) const;
  std::optional<AccessToken> from_metadata_server(std::string& outcome) const;

  GoogleCredentialSettings settings_;
  Environment env_;
  std::mutex mu_;
  std::optional<AccessToken> cached_;
};

}  // namespace haul::gcs
