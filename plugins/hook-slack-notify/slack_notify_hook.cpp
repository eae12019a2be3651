// SPDX-License-Identifier: Apache-2.0
// Hook "slack-notify": posts a deploy's outcome to a Slack incoming webhook
// on the phases listed in `on` (success and failure by default): host,
// pipeline, release, manifest URL, result, duration, and for failures the
// error and the last lines of the log — as Block Kit blocks with a plain
// `text` fallback. 429 (honouring Retry-After) and 5xx are retried with
// back-off. A notification that cannot be delivered is logged and never
// fails the deploy, and the webhook URL (a secret) is never logged in full.
#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "net/http_call.hpp"

namespace {

using namespace haul::net;

// "https://hooks.slack.com/services/T000/B000/XXXX" -> "https://hooks.slack.com/services/…"
std::string redact(const std::string& url) {
  size_t scheme = url.find("://");
  size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos) return url.substr(0, std::min<size_t>(url.size(), 12)) + "…";
  size_t second = url.find('/', path + 1);
  return url.substr(0, second == std::string::npos ? path + 1 : second + 1) + "…";
}

std::string last_lines(std::string_view log, size_t lines) {
  size_t pos = log.size();
  if (pos && log[pos - 1] == '\n') --pos;
  for (size_t n = 0; n < lines && pos > 0; ++n) {
    size_t nl = log.rfind('\n', pos - 1);
    pos = nl == std::string_view::npos ? 0 : nl;
  }
  std::string out(log.substr(pos));
  while (!out.empty() && out.front() == '\n') out.erase(0, 1);
  if (out.size() > 2800) out = "…" + out.substr(out.size() - 2800);  // Slack caps a section at 3000 characters
  return out;
}

class SlackNotify {
 public:
  SlackNotify(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : host_(host),
        url_(cfg.str("webhook_url")),
        channel_(cfg.str("channel")),
        username_(cfg.str("username")),
        icon_(cfg.str("icon_emoji")),
        retries_(static_cast<int>(cfg.integer("retries", 3))),
        timeout_(cfg.duration("timeout", std::chrono::seconds(10))),
        backoff_(cfg.duration("retry_wait", std::chrono::seconds(1))),
        log_lines_(static_cast<size_t>(cfg.integer("log_lines", 20))) {
    if (url_.rfind("https://", 0) != 0 && url_.rfind("http://", 0) != 0)
      throw std::runtime_error("webhook_url must be an http(s) URL (a Slack incoming webhook), got '" + redact(url_) + "'");
    for (const auto& p : cfg.list("on")) {
      if (p != "pre" && p != "post" && p != "verify" && p != "success" && p != "failure" && p != "rollback")
        throw std::runtime_error("on: unknown phase '" + p + "'; expected pre, post, verify, success, failure or rollback");
      on_.push_back(p);
    }
    if (on_.empty()) on_ = {"success", "failure"};
  }

  void on_phase(const haul::sdk::HookContext& ctx) {
    if (std::find(on_.begin(), on_.end(), ctx.phase_name()) == on_.end()) return;
    try {
      post(message(ctx), ctx);
    } catch (const std::exception& e) {
      ctx.log(HAUL_LOG_WARN, std::string("slack-notify: not delivered to ") + redact(url_) + ": " + e.what());
    }
  }

 private:
  nlohmann::json message(const haul::sdk::HookContext& ctx) const {
    const std::string phase = ctx.phase_name();
    const bool failed = phase == "failure" || phase == "rollback";
    const std::string emoji = failed ? ":x:" : phase == "success" ? ":white_check_mark:" : ":arrow_forward:";
    const std::string release = ctx.release().empty() ? ctx.manifest_url() : ctx.release();
    std::string duration;
    if (ctx.finished_at_unix_ms() >= ctx.started_at_unix_ms() && ctx.finished_at_unix_ms()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ctx.finished_at_unix_ms() - ctx.started_at_unix_ms()) / 1000.0);
      duration = buf;
    }
    const std::string headline = emoji + " deploy " + phase + ": " + ctx.pipeline() + " on " + ctx.node();
    std::string fields = "*Host:* " + ctx.node() + "\n*Pipeline:* " + ctx.pipeline() + "\n*Release:* " + release +
                         "\n*Manifest:* " + ctx.manifest_url() + "\n*Result:* " + phase +
                         (duration.empty() ? "" : "\n*Duration:* " + duration);
    nlohmann::json blocks = nlohmann::json::array();
    blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", headline}}}});
    blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", fields}}}});
    std::string text = headline + " — " + release + (duration.empty() ? "" : " in " + duration);
    if (failed) {
      blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", "*Error:* " + ctx.error()}}}});
      const std::string tail = last_lines(ctx.deploy_log(), log_lines_);
      if (!tail.empty())
        blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", "```" + tail + "```"}}}});
      text += ": " + ctx.error();
    }
    nlohmann::json msg = {{"text", text}, {"blocks", blocks}};
    if (!channel_.empty()) msg["channel"] = channel_;
    if (!username_.empty()) msg["username"] = username_;
    if (!icon_.empty()) msg["icon_emoji"] = icon_;
    return msg;
  }

  void post(const nlohmann::json& msg, const haul::sdk::HookContext& ctx) const {
    HttpRequest req;
    req.method = "POST";
    req.url = url_;
    req.headers = {{"Content-Type", "application/json"}};
    req.body = msg.dump();
    req.timeout = timeout_;
    req.cancelled = [&ctx] { return ctx.cancelled(); };
    std::chrono::milliseconds wait = backoff_;
    for (int attempt = 0;; ++attempt) {
      std::string problem;
      bool retryable = true;  // network errors, 429 and 5xx; other answers will not change
      try {
        HttpResponse r = http_call(req);
        if (r.status >= 200 && r.status < 300) {
          ctx.log(HAUL_LOG_INFO, "slack-notify: posted the " + std::string(ctx.phase_name()) + " notice to " + redact(url_));
          return;
        }
        problem = "HTTP " + std::to_string(r.status) + (r.body.empty() ? "" : " " + r.body.substr(0, 200));
        retryable = r.status == 429 || r.status >= 500;
        if (r.status == 429 && r.headers.count("retry-after")) {
          try {
            wait = std::chrono::seconds(std::clamp(std::stol(r.headers.at("retry-after")), 0L, 60L));
          } catch (const std::exception&) {
          }
        }
      } catch (const std::exception& e) {
        problem = e.what();
        // libcurl names the URL in its messages: keep the secret part out.
        for (size_t at; (at = problem.find(url_)) != std::string::npos;) problem.replace(at, url_.size(), redact(url_));
      }
      if (!retryable || attempt >= retries_)
        throw std::runtime_error(problem + " (after " + std::to_string(attempt + 1) + " attempt(s))");
      ctx.log(HAUL_LOG_INFO, "slack-notify: " + problem + "; retrying in " + std::to_string(wait.count()) + "ms");
      for (auto until = std::chrono::steady_clock::now() + wait; std::chrono::steady_clock::now() < until;) {
        if (ctx.cancelled()) throw std::runtime_error("cancelled: haul is stopping");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      wait = std::min(wait * 2, std::chrono::milliseconds(30000));
    }
  }

  haul::sdk::Host host_;
  std::string url_, channel_, username_, icon_;
  int retries_;
  std::chrono::milliseconds timeout_, backoff_;
  size_t log_lines_;
  std::vector<std::string> on_;
};

const haul_config_field kFields[] = {
    {"webhook_url", "string", nullptr, "Slack incoming-webhook URL, e.g. '{{ must_env \"SLACK_WEBHOOK_URL\" }}'; never logged", 1},
    {"on", "list", "success\nfailure", "phases to notify: pre, post, verify, success, failure, rollback", 0},
    {"channel", "string", nullptr, "override the webhook's channel", 0},
    {"username", "string", nullptr, "override the poster's name", 0},
    {"icon_emoji", "string", nullptr, "override the poster's icon, e.g. :rocket:", 0},
    {"retries", "int", "3", "retries after a 429 or 5xx answer or a network error", 0},
    {"retry_wait", "duration", "1s", "first wait between retries (doubles; a 429's Retry-After wins)", 0},
    {"timeout", "duration", "10s", "limit for one attempt", 0},
    {"log_lines", "int", "20", "how many last lines of the deploy log a failure notice carries", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

}  // namespace

HAUL_HOOK_PLUGIN(SlackNotify, "slack-notify", "0.1.0", "posts deploy results to a Slack incoming webhook", kFields)
