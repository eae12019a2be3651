// SPDX-License-Identifier: Apache-2.0
// A small Cloud Storage client over the JSON API: streaming media download
// with Range resume (pinned to the first answer's generation with
// ifGenerationMatch, so a resumed download never splices two versions), and
// uploads — one request up to resumable_threshold, a resumable upload above
// it, sent in chunks, each chunk recovered from where the server says it
// stopped, and the session cancelled if the upload gives up — and, for
// `haul gc`, listing and deleting. A token the
// server refuses (401) is fetched again once. Errors name the gs:// URL, the
// HTTP status and Google's error reason; no token ever appears in one.
#pragma once

#include <haul/sdk.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "google_credentials.hpp"
#include "net/http_call.hpp"

namespace haul::gcs {

struct GcsLocation {
  std::string bucket, object;
  std::string url() const { return "gs://" + bucket + "/" + object; }
};

// "gs://bucket/path/to/object" → {bucket, object}; throws for anything else.
GcsLocation parse_gs_url(const std::string& url);
// "gs://bucket/" or "gs://bucket/some/prefix/" → {bucket, prefix}: what list() takes.
GcsLocation parse_gs_prefix(const std::string& url);

struct GcsObject {
  std::string name;
  uint64_t size = 0;
  int64_t updated_unix = 0;
};

struct GcsConfig {
  std::string endpoint = "https://storage.googleapis.com";
  bool anonymous = false;  // no Authorization: public objects, emulators
  std::string ca_file;
  bool insecure = false;
  long connect_timeout_ms = 10000;
  long low_speed_time_s = 30;
  uint64_t resumable_threshold = 8ull << 20;
  uint64_t chunk_size = 16ull << 20;  // a multiple of 256 KiB, as Google requires
  int chunk_recoveries = 5;           // per chunk: status query and resend after a 5xx/429/cut
  std::chrono::milliseconds recovery_wait{500};
  std::string user_agent = "haul";
};

class GcsClient {
 public:
  // credentials may be null only when config.anonymous.
  GcsClient(GcsConfig config, std::shared_ptr<GoogleCredentials> credentials);

  // Streams the object from offset into sink, pinned to its generation: the
  // answer's x-goog-generation goes to sink.pin as the headers arrive, and a
  // resume (sink.pinned()) asks with ifGenerationMatch for that generation
  // only. Returns the generation. Throws haul::sdk::ObjectChanged when it
  // changed, haul::sdk::PermanentError for 404, 403 and a 401 that a new
  // token did not mend.
  std::string get(const GcsLocation& loc, uint64_t offset, haul::sdk::Sink& sink, uint64_t length = 0);
  void put_file(const GcsLocation& loc, const std::string& path);
  // objects.list, every page: the objects whose names start with prefix.object.
  std::vector<GcsObject> list(const GcsLocation& prefix, int page_size = 1000);
  // objects.delete; an absent object is not an error.
  void remove(const GcsLocation& loc);

  const GcsConfig& config() const { return config_; }
  int last_upload_requests() const { return last_upload_requests_; }  // 1 = one simple upload

 private:
  struct Auth {
    std::string token, identity;  // empty when anonymous
  };
  // Runs attempt (which returns the HTTP status) with the current token; a
  // 401 drops that token and runs it once more with a new one. Returns the
  // credentials of the last attempt, for messages.
  Auth with_token(const std::function<long(const Auth&)>& attempt);
  // One small request through with_token; `auth` is set as it returns.
  haul::net::HttpResponse call(haul::net::HttpRequest req, Auth& auth);
  void resumable_upload(const GcsLocation& loc, const std::string& path, uint64_t size);
  [[noreturn]] void fail(const std::string& op, const GcsLocation& loc, long status, const std::string& body,
                         const Auth& auth) const;

  GcsConfig config_;
  std::shared_ptr<GoogleCredentials> credentials_;
  std::atomic<int> last_upload_requests_{0};
};

}  // namespace haul::gcs
