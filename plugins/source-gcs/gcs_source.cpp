// SPDX-License-Identifier: Apache-2.0
// Source "gcs": gs://bucket/object, as stretcher reads it. Two ways in:
//   - the JSON API with OAuth access tokens from Application Default
//     Credentials (google_credentials.hpp) — the default;
//   - the XML API with HMAC interoperability keys (hmac_access_id /
//     hmac_secret), signed with the S3 client's SigV4 signer, which Cloud
//     Storage accepts (region "auto").
// The endpoint can be pointed at an emulator: `endpoint`, or
// STORAGE_EMULATOR_HOST as Google's client libraries read it (and, like them,
// without credentials). A resumed download is pinned to the generation (JSON
// API) or ETag (XML API) of the first attempt's answer.
#include <haul/sdk.hpp>

#include <algorithm>
#include <fstream>
#include <memory>

#include "gcs_client.hpp"
#include "s3_client.hpp"

namespace {

using namespace haul::gcs;

class GcsSource {
 public:
  GcsSource(const haul::sdk::Config& cfg, const haul::sdk::Host& host) {
    Environment env = process_environment();
    const long connect_ms = static_cast<long>(cfg.duration("connect_timeout", std::chrono::seconds(10)).count());
    const long low_speed_s = std::max<long>(1, static_cast<long>(cfg.duration("low_speed_time", std::chrono::seconds(30)).count() / 1000));
    std::string endpoint = cfg.str("endpoint");
    bool anonymous = cfg.boolean("anonymous");
    if (endpoint.empty())
      if (auto emulator = env("STORAGE_EMULATOR_HOST"); emulator && !emulator->empty()) {
        endpoint = *emulator;
        anonymous = anonymous || cfg.str("credentials_file").empty();
      }
    if (endpoint.empty()) endpoint = "https://storage.googleapis.com";

    if (!cfg.str("hmac_access_id").empty() || !cfg.str("hmac_secret").empty()) {
      if (cfg.str("hmac_access_id").empty() || cfg.str("hmac_secret").empty())
        throw std::runtime_error("hmac_access_id and hmac_secret go together: set both, or neither for OAuth");
      haul::s3::S3Config c;
      c.endpoint = endpoint.find("://") == std::string::npos ? "https://" + endpoint : endpoint;
      c.region = "auto";
      c.force_path_style = true;
      c.ca_file = cfg.str("ca_file");
      c.insecure = cfg.boolean("insecure_skip_verify");
      c.connect_timeout_ms = connect_ms;
      c.low_speed_time_s = low_speed_s;
      c.multipart_threshold = cfg.bytes("resumable_threshold", 8ull << 20);
      c.user_agent = "haul/" + host.version();
      haul::s3::CredentialSettings keys;
      keys.access_key_id = cfg.str("hmac_access_id");
      keys.secret_access_key = cfg.str("hmac_secret");
      xml_ = std::make_unique<haul::s3::S3Client>(c, std::make_shared<haul::s3::CredentialChain>(keys, env));
      return;
    }
    GcsConfig c;
    c.endpoint = endpoint;
    c.anonymous = anonymous;
    c.ca_file = cfg.str("ca_file");
    c.insecure = cfg.boolean("insecure_skip_verify");
    c.connect_timeout_ms = connect_ms;
    c.low_speed_time_s = low_speed_s;
    c.resumable_threshold = cfg.bytes("resumable_threshold", 8ull << 20);
    c.chunk_size = cfg.bytes("chunk_size", 16ull << 20);
    c.user_agent = "haul/" + host.version();
    if (c.chunk_size == 0 || c.chunk_size % (256 * 1024) != 0)
      throw std::runtime_error("chunk_size must be a multiple of 256KiB (Google's resumable upload unit), e.g. 16MiB");
    std::shared_ptr<GoogleCredentials> creds;
    // A key file named in the config is checked now, so a typo stops the
    // agent at startup instead of failing the first deploy.
    if (!cfg.str("credentials_file").empty() && !std::ifstream(cfg.str("credentials_file")).good())
      throw std::runtime_error("credentials_file " + cfg.str("credentials_file") + ": cannot read the file");
    if (!c.anonymous) {
      GoogleCredentialSettings s;
      s.credentials_file = cfg.str("credentials_file");
      s.metadata_host = cfg.str("metadata_host");
      creds = std::make_shared<GoogleCredentials>(s, env);
    }
    json_ = std::make_unique<GcsClient>(c, creds);
  }

  void fetch(const std::string& url, uint64_t offset, uint64_t length, haul::sdk::Sink& sink) {
    if (xml_) xml_->get(as_s3(url), offset, sink, length);
    else json_->get(parse_gs_url(url), offset, sink, length);
  }

  void store(const std::string& url, const std::string& path, const std::string&) {
    if (xml_) xml_->put_file(as_s3(url), path);
    else json_->put_file(parse_gs_url(url), path);
  }

  void list(const std::string& prefix_url, const std::function<void(const haul::sdk::StoredObject&)>& each) {
    const GcsLocation prefix = parse_gs_prefix(prefix_url);
    if (xml_) {
      for (const auto& o : xml_->list({prefix.bucket, prefix.object, "gs"}))
        each({o.key.substr(prefix.object.size()), o.size, o.last_modified_unix});
    } else {
      for (const auto& o : json_->list(prefix)) each({o.name.substr(prefix.object.size()), o.size, o.updated_unix});
    }
  }

  void remove(const std::string& url) {
    if (xml_) xml_->remove(as_s3(url));
    else json_->remove(parse_gs_url(url));
  }

 private:
  static haul::s3::S3Location as_s3(const std::string& url) {
    GcsLocation g = parse_gs_url(url);
    return {g.bucket, g.object, "gs"};
  }

  std::unique_ptr<GcsClient> json_;
  std::unique_ptr<haul::s3::S3Client> xml_;
};

const haul_config_field kFields[] = {
    {"credentials_file", "string", nullptr,
     "service account key or authorized_user JSON (default: GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server)", 0},
    {"endpoint", "string", nullptr, "Cloud Storage endpoint (default: STORAGE_EMULATOR_HOST, https://storage.googleapis.com)", 0},
    {"anonymous", "bool", "false", "send no credentials (public objects)", 0},
    {"metadata_host", "string", nullptr, "metadata server host (default: GCE_METADATA_HOST, metadata.google.internal)", 0},
    {"hmac_access_id", "string", nullptr, "HMAC interoperability key id: use the XML API with SigV4 instead of OAuth", 0},
    {"hmac_secret", "string", nullptr, "HMAC interoperability secret; never logged", 0},
    {"ca_file", "string", nullptr, "PEM bundle of CAs to trust for the endpoint", 0},
    {"insecure_skip_verify", "bool", "false", "do not verify TLS certificates (never in production)", 0},
    {"connect_timeout", "duration", "10s", "give up connecting after this long", 0},
    {"low_speed_time", "duration", "30s", "a transfer with no progress for this long fails (and is retried)", 0},
    {"resumable_threshold", "bytes", "8MiB", "uploads above this size are resumable (multipart with HMAC keys)", 0},
    {"chunk_size", "bytes", "16MiB", "size of each resumable upload chunk (a multiple of 256KiB)", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};
const char* const kSchemes[] = {"gs", nullptr};

}  // namespace

HAUL_SOURCE_PLUGIN(GcsSource, "gcs", "0.1.0", "fetches and stores gs://bucket/object with Google credentials or HMAC keys",
                   kFields, kSchemes)
