// SPDX-License-Identifier: Apache-2.0
// A small S3 client: streaming GET with Range resume (pinned with If-Match to
// the ETag, so a resumed download never splices two versions of an object),
// single PUT, and multipart upload with abort on failure. Requests are signed
// with SigV4 (sigv4.hpp). Addressing: virtual-hosted style on AWS
// (bucket.s3.REGION.amazonaws.com); path style for an endpoint override
// (MinIO, Ceph, s3rver) or when asked. S3's error documents become messages
// that name the bucket and key and say what to check; secrets never appear.
#pragma once

#include <haul/sdk.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aws_credentials.hpp"
#include "net/http_call.hpp"

namespace haul::s3 {

using haul::net::HttpRequest;
using haul::net::HttpResponse;
using haul::net::http_call;
using haul::net::curl_init_once;

struct S3Location {
  std::string bucket, key;
  std::string scheme = "s3";  // "gs" when Cloud Storage's XML API is spoken
  std::string url() const { return scheme + "://" + bucket + "/" + key; }
};

// "s3://bucket/path/to/key" → {bucket, key}; throws for anything else.
S3Location parse_s3_url(const std::string& url);
// "s3://bucket/" or "s3://bucket/some/prefix/" → {bucket, prefix}: what list()
// takes. scheme "gs" reads Cloud Storage's gs:// prefixes the same way.
S3Location parse_s3_prefix(const std::string& url, const std::string& scheme = "s3");

struct S3Object {
  std::string key;
  uint64_t size = 0;
  int64_t last_modified_unix = 0;
};

struct S3Config {
  std::string region;    // required on AWS; "us-east-1" is used for an endpoint override without one
  std::string endpoint;  // e.g. "http://127.0.0.1:4568"; empty = AWS
  bool force_path_style = false;
  std::string ca_file;
  bool insecure = false;
  long connect_timeout_ms = 10000;
  long low_speed_time_s = 30;
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 16ull << 20;
  std::string user_agent = "haul";
};

// Endpoint and region from the environment when the config leaves them out:
// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; AWS_REGION, AWS_DEFAULT_REGION, profile.
S3Config resolve_s3_config(S3Config config, const Environment& env, const std::string& profile);

class S3Client {
 public:
  S3Client(S3Config config, std::shared_ptr<CredentialChain> credentials);

  // Streams the object from offset into sink, pinned to its ETag: the
  // answer's ETag goes to sink.pin as the headers arrive, and a resume
  // (sink.pinned()) asks with If-Match for that ETag only. Returns the ETag.
  std::string get(const S3Location& loc, uint64_t offset, haul::sdk::Sink& sink, uint64_t length = 0);
  // One PUT; returns the ETag.
  std::string put(const S3Location& loc, const std::string& body);
  // PUT a file: one request up to multipart_threshold, multipart above it
  // (aborted on any failure, so no orphaned parts are billed). Returns the ETag.
  std::string put_file(const S3Location& loc, const std::string& path);

  // ListObjectsV2, every page (of page_size keys; S3's most is 1000): the
  // objects whose keys start with prefix.key.
  std::vector<S3Object> list(const S3Location& prefix, int page_size = 1000);
  // DeleteObject; an absent key is not an error (S3 says 204 either way).
  void remove(const S3Location& loc);

  const S3Config& config() const { return config_; }
  int last_upload_parts() const { return last_upload_parts_; }  // 1 = single PUT

 private:
  struct Target {
    std::string url, host, path;  // path: decoded, as signed
  };
  Target target(const S3Location& loc, const std::vector<std::pair<std::string, std::string>>& query) const;
  std::vector<std::pair<std::string, std::string>> sign(const std::string& method, const Target& t,
                                                        const std::vector<std::pair<std::string, std::string>>& query,
                                                        const std::string& payload_hash);
  HttpResponse call(const std::string& method, const S3Location& loc,
                    const std::vector<std::pair<std::string, std::string>>& query, const std::string& body);
  [[noreturn]] void fail(const std::string& op, const S3Location& loc, long status,
                         const std::map<std::string, std::string>& headers, const std::string& body) const;

  S3Config config_;
  std::shared_ptr<CredentialChain> credentials_;
  std::string last_access_key_;
  int last_upload_parts_ = 0;
};

}  // namespace haul::s3
