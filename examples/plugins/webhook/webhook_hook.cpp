// SPDX-License-Identifier: Apache-2.0
// Hook "webhook": POSTs each phase of a deploy as JSON to any URL — an
// example of a third-party plugin written against haul's SDK alone.
#include <curl/curl.h>
#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace {

class WebhookHook {
 public:
  WebhookHook(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : url_(cfg.str("url")), phases_(cfg.list("on")), timeout_(cfg.duration("timeout")) {
    if (url_.empty()) throw std::runtime_error("url is required");
    if (phases_.empty()) phases_ = {"success", "failure"};
    host.info("webhook hook posting to " + url_.substr(0, url_.find('/', url_.find("://") + 3)) + "/…");
  }

  void on_phase(const haul::sdk::HookContext& ctx) {
    if (std::find(phases_.begin(), phases_.end(), ctx.phase_name()) == phases_.end()) return;
    nlohmann::json body = {{"phase", ctx.phase_name()},       {"pipeline", ctx.pipeline()},
                           {"node", ctx.node()},              {"manifest_url", ctx.manifest_url()},
                           {"release", ctx.release()},        {"event_id", ctx.event_id()},
                           {"error", ctx.error()}};
    const std::string text = body.dump();
    CURL* curl = curl_easy_init();
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text.c_str());
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) throw std::runtime_error(std::string("webhook: ") + curl_easy_strerror(rc));
    if (status < 200 || status >= 300) throw std::runtime_error("webhook: HTTP " + std::to_string(status));
    ctx.log(HAUL_LOG_INFO, std::string("webhook: posted ") + ctx.phase_name());
  }

 private:
  std::string url_;
  std::vector<std::string> phases_;
  std::chrono::milliseconds timeout_;
};

const haul_config_field kFields[] = {
    {"url", "string", nullptr, "where to POST the JSON", 1},
    {"on", "list", "success\nfailure", "phases to post: pre, post, verify, success, failure, rollback", 0},
    {"timeout", "duration", "10s", "limit for one POST", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

}  // namespace

HAUL_HOOK_PLUGIN(WebhookHook, "webhook", "1.0.0", "POSTs deploy phases as JSON to any URL", kFields)
