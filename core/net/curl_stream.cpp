// SPDX-License-Identifier: Apache-2.0
#include "net/curl_stream.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <exception>
#include <mutex>

#include "net/stall_check.hpp"

namespace haul::net {
namespace {

struct Transfer {
  haul::sdk::Sink* sink;
  CURL* curl;
  uint64_t skip;
  bool checked = false;
  bool stopped = false;
  CurlStreamResult* result;
  StallCheck stall;
  bool stalled = false;
  const CurlStreamOptions* options = nullptr;
  std::exception_ptr failure;  // thrown in a callback: carried past libcurl's C frames, thrown after
};

size_t on_header(char* data, size_t size, size_t n, void* ctx) {
  auto* r = static_cast<Transfer*>(ctx)->result;
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // a new response: after a redirect, only the last one counts
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string value = line.substr(colon + 1);
  value.erase(0, value.find_first_not_of(" \t"));
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
  r->headers[name] = value;
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* ctx) {
  auto* t = static_cast<Transfer*>(ctx);
  auto* r = t->result;
  size_t len = size * n;
  if (!t->checked) {
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &r->status);
    t->checked = true;
    if (r->status == 206) t->skip = 0;  // the server honoured our Range
    if (r->status == 200 && t->skip == 0) {
      curl_off_t cl = -1;
      if (curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0)
        t->sink->set_total_size(static_cast<uint64_t>(cl));
    }
    if (r->status >= 200 && r->status < 300 && t->options->on_response) {
      try {
        t->options->on_response(r->status, r->headers);
      } catch (...) {
        t->failure = std::current_exception();
        return 0;
      }
    }
  }
  if (r->status < 200 || r->status >= 300) {
    if (r->error_body.size() < 4096) r->error_body.append(data, std::min(len, 4096 - r->error_body.size()));
    return len;
  }
  size_t drop = 0;
  if (t->skip) {  // Range ignored: drop what the sink already has
    drop = static_cast<size_t>(std::min<uint64_t>(t->skip, len));
    t->skip -= drop;
  }
  try {
    t->sink->write(data + drop, len - drop);
    r->delivered += len - drop;
  } catch (const haul::sdk::Cancelled&) {
    t->stopped = true;
    return 0;
  } catch (...) {
    t->failure = std::current_exception();
    return 0;
  }
  return len;
}

int on_progress(void* ctx, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(ctx);
  if (t->sink->cancelled()) {
    t->stopped = true;
    return 1;
  }
  if (t->stall.stalled(static_cast<uint64_t>(std::max<curl_off_t>(0, dlnow)), StallCheck::Clock::now())) {
    t->stalled = true;
    return 1;
  }
  return 0;
}

// One handle per thread, reset between transfers: its connection cache
// keeps the connection to a server open for the next request, which is what
// makes a delta deploy's many small chunk fetches cheap (a new TCP — or TLS
// — connection per chunk cost more than the chunk).
class ThreadHandle {
 public:
  ~ThreadHandle() {
    if (curl_) curl_easy_cleanup(curl_);
  }
  CURL* get() {
    if (curl_)
      curl_easy_reset(curl_);
    else
      curl_ = curl_easy_init();
    return curl_;
  }

 private:
  CURL* curl_ = nullptr;
};

}  // namespace

CurlStreamResult curl_stream(const CurlStreamOptions& o, haul::sdk::Sink& sink) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  thread_local ThreadHandle handle;
  CURL* curl = handle.get();
  if (!curl) throw std::runtime_error("cannot create a libcurl handle");
  CurlStreamResult result;
  Transfer t{&sink, curl, o.offset, false, false, &result, StallCheck(o.low_speed_limit, o.low_speed_time_s), false, &o,
             nullptr};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& h : o.headers) headers = curl_slist_append(headers, h.c_str());
  // CURLOPT_RANGE rather than RESUME_FROM: a server that ignores ranges
  // answers 200 and we skip the bytes ourselves instead of failing.
  const std::string range =
      std::to_string(o.offset) + "-" + (o.length ? std::to_string(o.offset + o.length - 1) : std::string());
  curl_easy_setopt(curl, CURLOPT_URL, o.url.c_str());
  // 256 KiB reads instead of libcurl's 16 KiB: a sixteenth of the recv calls
  // and write callbacks, and the chunk size the pipe to the extractor moves.
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 256L << 10);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, o.max_redirects > 0 ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, o.max_redirects);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, o.connect_timeout_ms);
  if (!o.user_agent.empty()) curl_easy_setopt(curl, CURLOPT_USERAGENT, o.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  if (!o.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, o.ca_file.c_str());
  if (o.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (o.offset || o.length) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  CURLcode rc = curl_easy_perform(curl);
  if (!t.checked) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  const std::string error_text = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  // The handle outlives this call: it keeps no pointer to the call's buffer or header list.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  if (t.failure) std::rethrow_exception(t.failure);
  if (t.stopped) throw haul::sdk::Cancelled();
  result.curl_code = rc;
  result.curl_error = error_text;
  result.stalled = t.stalled;
  if (t.stalled)
    result.curl_error = "under " + std::to_string(o.low_speed_limit) + " bytes/s for " +
                        std::to_string(o.low_speed_time_s) + "s (stalled)";
  result.too_many_redirects = rc == CURLE_TOO_MANY_REDIRECTS;
  // A resume at exactly the object's end (its Content-Length promised more
  // than it sent): the server answers 416 with "Content-Range: bytes */N".
  // When N is the offset, every byte is here: the transfer is complete.
  if (result.status == 416 && o.offset > 0) {
    auto cr = result.headers.find("content-range");
    if (cr != result.headers.end() && cr->second == "bytes */" + std::to_string(o.offset)) {
      result.status = 206;
      result.error_body.clear();
      result.curl_code = 0;
      result.complete_at_offset = true;
    }
  }
  if (rc == CURLE_OK && t.skip && result.status == 200) {
    result.curl_code = -1;
    result.curl_error = "the body ended before the resume offset " + std::to_string(o.offset);
  }
  return result;
}

}  // namespace haul::net
