// SPDX-License-Identifier: Apache-2.0
// Source "s3": s3://bucket/key through the S3 REST API with SigV4. Region,
// endpoint and credentials come from the pipeline config or, like the AWS
// SDKs, from the environment, the shared files, container credentials or
// EC2 instance metadata (aws_credentials.hpp). A resumed download is pinned
// to the ETag of the first attempt's answer with If-Match (s3_client.hpp).
#include <haul/sdk.hpp>

#include <algorithm>
#include <memory>

#include "s3_client.hpp"

namespace {

using namespace haul::s3;

class S3Source {
 public:
  S3Source(const haul::sdk::Config& cfg, const haul::sdk::Host& host) : host_(host) {
    Environment env = process_environment();
    CredentialSettings creds;
    creds.access_key_id = cfg.str("access_key_id");
    creds.secret_access_key = cfg.str("secret_access_key");
    creds.session_token = cfg.str("session_token");
    creds.profile = cfg.str("profile");
    S3Config c;
    c.region = cfg.str("region");
    c.endpoint = cfg.str("endpoint");
    c.force_path_style = cfg.boolean("force_path_style");
    c.ca_file = cfg.str("ca_file");
    c.insecure = cfg.boolean("insecure_skip_verify");
    c.connect_timeout_ms = static_cast<long>(cfg.duration("connect_timeout", std::chrono::seconds(10)).count());
    c.low_speed_time_s = std::max<long>(1, static_cast<long>(cfg.duration("low_speed_time", std::chrono::seconds(30)).count() / 1000));
    c.multipart_threshold = cfg.bytes("multipart_threshold", 64ull << 20);
    c.part_size = cfg.bytes("part_size", 16ull << 20);
    c.user_agent = "haul/" + host.version();
    if (c.part_size < (5ull << 20)) throw std::runtime_error("part_size must be at least 5MiB (S3's minimum part size)");
    client_ = std::make_unique<S3Client>(resolve_s3_config(c, env, creds.profile),
                                         std::make_shared<CredentialChain>(creds, env));
  }

  void fetch(const std::string& url, uint64_t offset, uint64_t length, haul::sdk::Sink& sink) {
    client_->get(parse_s3_url(url), offset, sink, length);
  }

  void list(const std::string& prefix_url, const std::function<void(const haul::sdk::StoredObject&)>& each) {
    const S3Location prefix = parse_s3_prefix(prefix_url);
    for (const S3Object& o : client_->list(prefix))
      each({o.key.substr(prefix.key.size()), o.size, o.last_modified_unix});
  }

  void remove(const std::string& url) { client_->remove(parse_s3_url(url)); }

  // One PUT, or multipart above multipart_threshold: S3 makes the object
  // visible only when the upload completes, never a part of it.
  void store(const std::string& url, const std::string& path, const std::string&) {
    client_->put_file(parse_s3_url(url), path);
  }

 private:
  haul::sdk::Host host_;
  std::unique_ptr<S3Client> client_;
};

const haul_config_field kFields[] = {
    {"region", "string", nullptr, "AWS region of the buckets (default: AWS_REGION, AWS_DEFAULT_REGION, the profile)", 0},
    {"endpoint", "string", nullptr, "S3-compatible endpoint, path-style (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS)", 0},
    {"force_path_style", "bool", "false", "path-style addressing on AWS too", 0},
    {"access_key_id", "string", nullptr, "static access key id (default: the AWS credential chain)", 0},
    {"secret_access_key", "string", nullptr, "static secret access key; never logged", 0},
    {"session_token", "string", nullptr, "session token for temporary static credentials; never logged", 0},
    {"profile", "string", nullptr, "profile in the shared files (default: AWS_PROFILE or default)", 0},
    {"ca_file", "string", nullptr, "PEM bundle of CAs to trust for the endpoint", 0},
    {"insecure_skip_verify", "bool", "false", "do not verify TLS certificates (never in production)", 0},
    {"connect_timeout", "duration", "10s", "give up connecting after this long", 0},
    {"low_speed_time", "duration", "30s", "a transfer with no progress for this long fails (and is retried)", 0},
    {"multipart_threshold", "bytes", "64MiB", "uploads above this size use multipart", 0},
    {"part_size", "bytes", "16MiB", "size of each multipart part (at least 5MiB)", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};
const char* const kSchemes[] = {"s3", nullptr};

}  // namespace

HAUL_SOURCE_PLUGIN(S3Source, "s3", "0.1.0", "fetches and stores s3://bucket/key with SigV4 and the AWS credential chain", kFields, kSchemes)
