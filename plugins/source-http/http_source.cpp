// Source "http": http:// and https:// through libcurl. Redirects are
// followed (bounded), TLS is verified unless the operator says otherwise, a
// non-2xx answer is an error naming the URL and status, and a connection
// that stalls (below low_speed_limit for low_speed_time) is abandoned so
// the core can retry — resuming with a Range request from the last byte.
#include <curl/curl.h>
#include <haul/sdk.hpp>

#include <mutex>

namespace {

struct Transfer {
  const haul::sdk::Sink* sink;
  uint64_t skip;  // bytes to drop when the server ignored our Range
  long status = 0;
  bool checked = false;
  bool stopped = false;
  std::string error_body;
  CURL* curl;
};

size_t on_body(char* data, size_t size, size_t n, void* ctx) {
  auto* t = static_cast<Transfer*>(ctx);
  size_t len = size * n;
  if (!t->checked) {
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    t->checked = true;
    if (t->status == 206) t->skip = 0;  // the server honoured our Range
    if (t->status == 200 && t->skip == 0) {
      curl_off_t cl = -1;
      if (curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0)
        t->sink->set_total_size(static_cast<uint64_t>(cl));
    }
  }
  if (t->status < 200 || t->status >= 300) {
    if (t->error_body.size() < 512) t->error_body.append(data, std::min(len, 512 - t->error_body.size()));
    return len;
  }
  size_t drop = 0;
  if (t->status == 200 && t->skip) {  // Range ignored: discard what we already have
    drop = static_cast<size_t>(std::min<uint64_t>(t->skip, len));
    t->skip -= drop;
  }
  try {
    t->sink->write(data + drop, len - drop);
  } catch (const haul::sdk::Cancelled&) {
    t->stopped = true;
    return 0;  // aborts the transfer
  }
  return len;
}

int on_progress(void* ctx, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(ctx);
  if (t->sink->cancelled()) {
    t->stopped = true;
    return 1;
  }
  return 0;
}

class HttpSource {
 public:
  HttpSource(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : connect_timeout_ms_(cfg.duration("connect_timeout", std::chrono::seconds(10)).count()),
        low_speed_time_s_(std::max<long>(1, static_cast<long>(cfg.duration("low_speed_time", std::chrono::seconds(30)).count() / 1000))),
        low_speed_limit_(static_cast<long>(cfg.bytes("low_speed_limit", 1))),
        max_redirects_(static_cast<long>(cfg.integer("max_redirects", 10))),
        ca_file_(cfg.str("ca_file")),
        insecure_(cfg.boolean("insecure_skip_verify", false)),
        user_agent_("haul/" + host.version()) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (insecure_) host.warn("insecure_skip_verify is on: TLS certificates are NOT verified");
  }

  void fetch(const std::string& url, uint64_t offset, haul::sdk::Sink& sink) {
    CURL* curl = curl_easy_init();
    if (!curl) throw std::runtime_error("cannot create a libcurl handle");
    struct Cleanup {
      CURL* c;
      ~Cleanup() { curl_easy_cleanup(c); }
    } cleanup{curl};
    Transfer t{&sink, offset, 0, false, false, {}, curl};
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, max_redirects_);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms_);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, low_speed_limit_);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, low_speed_time_s_);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent_.c_str());
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    if (!ca_file_.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file_.c_str());
    if (insecure_) {
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    // CURLOPT_RANGE rather than RESUME_FROM: a server that ignores ranges
    // answers 200 and we skip the bytes ourselves instead of failing.
    const std::string range = std::to_string(offset) + "-";
    if (offset) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
    CURLcode rc = curl_easy_perform(curl);
    if (t.stopped) throw haul::sdk::Cancelled();
    if (!t.checked) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
    if (rc != CURLE_OK && !(t.status >= 300 && t.checked)) {
      if (rc == CURLE_TOO_MANY_REDIRECTS)
        throw std::runtime_error("GET " + url + ": more than " + std::to_string(max_redirects_) + " redirects");
      if (rc == CURLE_OPERATION_TIMEDOUT && t.checked)
        throw std::runtime_error("GET " + url + ": stalled (under " + std::to_string(low_speed_limit_) +
                                 " bytes/s for " + std::to_string(low_speed_time_s_) + "s)");
      throw std::runtime_error("GET " + url + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
    }
    if (t.status < 200 || t.status >= 300) {
      std::string msg = "GET " + url + ": HTTP " + std::to_string(t.status);
      if (t.status == 416) msg += " (the object is shorter than the resume offset " + std::to_string(offset) + ")";
      throw std::runtime_error(msg + "; expected 2xx");
    }
    if (t.skip) throw std::runtime_error("GET " + url + ": body ended before the resume offset");
  }

 private:
  long connect_timeout_ms_, low_speed_time_s_, low_speed_limit_, max_redirects_;
  std::string ca_file_;
  bool insecure_;
  std::string user_agent_;
};

const haul_config_field kFields[] = {
    {"connect_timeout", "duration", "10s", "give up connecting after this long", 0},
    {"low_speed_limit", "bytes", "1", "bytes/s under which a transfer counts as stalled", 0},
    {"low_speed_time", "duration", "30s", "how long a stall is tolerated before the attempt fails (retried)", 0},
    {"max_redirects", "int", "10", "redirects followed before giving up", 0},
    {"ca_file", "string", nullptr, "PEM bundle of CAs to trust instead of the system's", 0},
    {"insecure_skip_verify", "bool", "false", "do not verify TLS certificates (never in production)", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};
const char* const kSchemes[] = {"http", "https", nullptr};

}  // namespace

HAUL_SOURCE_PLUGIN(HttpSource, "http", "0.1.0", "fetches http:// and https:// URLs with libcurl", kFields, kSchemes)
