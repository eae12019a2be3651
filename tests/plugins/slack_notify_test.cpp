// SPDX-License-Identifier: Apache-2.0
// slack-notify against a local receiver that records what it was sent.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "http_stub_server.hpp"
#include "plugin_fixture.hpp"

using namespace haul;
using namespace haul::test;

namespace {

std::string all(const Phase& p) {
  std::string out;
  for (const auto& l : p.lines) out += l + "\n";
  return out;
}

Phase failure() {
  Phase p;
  p.phase = HAUL_PHASE_FAILURE;
  p.error = "checksum mismatch for s3://releases/app.tgz";
  p.log_in = "line 1\nline 2\nDeploy manifest failed: checksum mismatch\n";
  p.started_ms = 1000;
  p.finished_ms = 3500;
  p.release = "20261126-101500";
  return p;
}

}  // namespace

TEST(SlackNotify, FailureNoticeHasBlocksTextFallbackAndTheLogTail) {
  HttpStubServer slack([](const StubRequest&) { return StubResponse{200, "ok"}; });
  auto hook = instantiate<HookInstance>(
      "slack-notify", "{webhook_url: '" + slack.url("/services/T0/B0/SECRETTOKEN") + "', channel: '#deploys', username: haul}");
  Phase p = failure();
  EXPECT_EQ(run(*hook, p), "");
  auto reqs = slack.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
  auto msg = nlohmann::json::parse(reqs[0].body);
  EXPECT_NE(msg["text"].get<std::string>().find("deploy failure: web on test-node"), std::string::npos) << msg.dump();
  EXPECT_NE(msg["text"].get<std::string>().find("checksum mismatch"), std::string::npos);
  EXPECT_EQ(msg["channel"], "#deploys");
  EXPECT_EQ(msg["username"], "haul");
  std::string blocks = msg["blocks"].dump();
  for (const char* part : {"*Host:* test-node", "*Pipeline:* web", "*Release:* 20261126-101500",
                           "*Manifest:* s3://releases/web.yml", "*Duration:* 2.5s", "*Error:* checksum mismatch",
                           "Deploy manifest failed"})
    EXPECT_NE(blocks.find(part), std::string::npos) << part << " in " << blocks;
  EXPECT_EQ(all(p).find("SECRETTOKEN"), std::string::npos) << "the webhook URL is redacted: " << all(p);
}

TEST(SlackNotify, OnlyTheConfiguredPhasesNotify) {
  HttpStubServer slack([](const StubRequest&) { return StubResponse{200, "ok"}; });
  auto hook = instantiate<HookInstance>("slack-notify", "{webhook_url: '" + slack.url("/x") + "', on: [failure]}");
  Phase ok;
  ok.phase = HAUL_PHASE_SUCCESS;
  EXPECT_EQ(run(*hook, ok), "");
  EXPECT_EQ(slack.requests().size(), 0u);
  Phase bad = failure();
  run(*hook, bad);
  EXPECT_EQ(slack.requests().size(), 1u);
  EXPECT_THROW(instantiate<HookInstance>("slack-notify", "{webhook_url: 'https://x/y', on: [deploy]}"), Error);
}

TEST(SlackNotify, RetriesA429HonouringRetryAfterAndA500) {
  int calls = 0;
  HttpStubServer slack([&](const StubRequest&) {
    ++calls;
    if (calls == 1) return StubResponse{429, "rate_limited", {{"Retry-After", "1"}}};
    if (calls == 2) return StubResponse{500, "oops"};
    return StubResponse{200, "ok"};
  });
  auto hook = instantiate<HookInstance>("slack-notify", "{webhook_url: '" + slack.url("/services/T/B/TOKEN") + "', retry_wait: 10ms}");
  Phase p = failure();
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run(*hook, p), "");
  EXPECT_EQ(calls, 3);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << "Retry-After: 1 was honoured";
  EXPECT_NE(all(p).find("HTTP 429"), std::string::npos) << all(p);
  EXPECT_NE(all(p).find("retrying in 1000ms"), std::string::npos) << all(p);
}

TEST(SlackNotify, AnUndeliverableNoticeNeverFailsTheDeploy) {
  // A receiver slower than the timeout, then one that refuses.
  HttpStubServer slow([](const StubRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the peer being slow is the point
    return StubResponse{200, "ok"};
  });
  auto hook = instantiate<HookInstance>("slack-notify", "{webhook_url: '" + slow.url("/services/T/B/SLOWSECRET") +
                                                            "', timeout: 200ms, retries: 1, retry_wait: 10ms}");
  Phase p = failure();
  EXPECT_EQ(run(*hook, p), "") << "a notification failure is logged, not thrown";
  EXPECT_NE(all(p).find("slack-notify: not delivered"), std::string::npos) << all(p);
  EXPECT_EQ(all(p).find("SLOWSECRET"), std::string::npos) << all(p);
  HttpStubServer gone([](const StubRequest&) { return StubResponse{404, "no_service"}; });
  auto hook2 = instantiate<HookInstance>("slack-notify", "{webhook_url: '" + gone.url("/services/T/B/GONE") + "'}");
  Phase q = failure();
  EXPECT_EQ(run(*hook2, q), "");
  EXPECT_EQ(gone.requests().size(), 1u) << "a 404 is not retried";
  EXPECT_NE(all(q).find("HTTP 404 no_service (after 1 attempt(s))"), std::string::npos) << all(q);
}
