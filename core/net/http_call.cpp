// SPDX-License-Identifier: Apache-2.0
#include "net/http_call.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace haul::net {

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

namespace {

size_t on_body(char* data, size_t size, size_t n, void* ctx) {
  static_cast<std::string*>(ctx)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* ctx) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(ctx);
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    (*headers)[name] = value;
  } else if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new response (after a redirect or 100-continue)
  }
  return size * n;
}

size_t on_upload(char* data, size_t size, size_t n, void* ctx) {
  return std::fread(data, 1, size * n, static_cast<FILE*>(ctx));
}

int on_progress(void* ctx, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* req = static_cast<const HttpRequest*>(ctx);
  return req->cancelled && req->cancelled() ? 1 : 0;
}

}  // namespace

HttpResponse http_call(const HttpRequest& req) {
  curl_init_once();
  CURL* curl = curl_easy_init();
  if (!curl) throw std::runtime_error("cannot create a libcurl handle");
  HttpResponse resp;
  char err[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers) headers = curl_slist_append(headers, (k + ": " + v).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &resp.headers);
  if (req.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  std::unique_ptr<FILE, int (*)(FILE*)> upload(nullptr, &std::fclose);
  if (!req.body_file.empty()) {
    upload.reset(std::fopen(req.body_file.c_str(), "rb"));
    if (!upload) {
      curl_slist_free_all(headers);
      curl_easy_cleanup(curl);
      throw std::runtime_error(req.method + " " + req.url + ": cannot read " + req.body_file);
    }
    std::fseek(upload.get(), 0, SEEK_END);
    const long size = std::ftell(upload.get());
    std::rewind(upload.get());
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(curl, CURLOPT_READDATA, upload.get());
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
  } else if (req.method != "GET" && req.method != "HEAD") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  if (!req.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, req.ca_file.c_str());
  if (!req.cert_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT, req.cert_file.c_str());
  if (!req.key_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, req.key_file.c_str());
  if (req.cancelled) {
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &req);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  }
  if (req.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc == CURLE_ABORTED_BY_CALLBACK) throw std::runtime_error(req.method + " " + req.url + ": cancelled");
  if (rc != CURLE_OK)
    throw std::runtime_error(req.method + " " + req.url + ": " + (err[0] ? err : curl_easy_strerror(rc)));
  return resp;
}

}  // namespace haul::net
