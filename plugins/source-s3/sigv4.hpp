// SPDX-License-Identifier: Apache-2.0
// AWS Signature Version 4, written by hand because Debian ships no AWS SDK
// for C++ (and the C runtime, aws-c-auth, is not packaged either). HMAC and
// SHA-256 come from OpenSSL. Each stage is exposed so tests can check it
// against AWS's official vectors: canonical request → string to sign →
// signature → Authorization header.
//
// Two URI modes: generic services normalise the path (dot segments, repeated
// slashes); S3 does not — a key "a//b/../c" is signed as is — and each path
// segment is percent-encoded exactly once.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace haul::s3 {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SigningRequest {
  std::string method;       // "GET"
  std::string path;         // decoded, e.g. "/bucket/my key.tgz"
  HeaderList query;         // decoded key/value pairs, any order
  HeaderList headers;       // as sent, e.g. {"Host", "example.com"}; any case, may repeat
  std::string payload_hash; // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct SigningParams {
  std::string access_key_id, secret_access_key, session_token;
  std::string region, service;
  std::string amz_date;            // "20150830T123600Z"
  bool normalize_path = false;     // true for non-S3 services
  bool add_content_sha256 = true;  // S3 signs x-amz-content-sha256
  bool sign_session_token = true;  // false: token sent but not signed (some STS flows)
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header's value
  HeaderList added_headers;   // X-Amz-Date, and x-amz-content-sha256 / x-amz-security-token
};

Signature sign(const SigningRequest& request, const SigningParams& params);

// Building blocks, exposed for tests and the S3 client.
std::string uri_encode(const std::string& s, bool keep_slash);
std::string normalize_path(const std::string& path);
std::string sha256_hex(const std::string& data);
std::string hmac_sha256(const std::string& key, const std::string& data);  // raw bytes
std::string amz_date_now();  // current UTC time as "YYYYMMDDTHHMMSSZ"

}  // namespace haul::s3
