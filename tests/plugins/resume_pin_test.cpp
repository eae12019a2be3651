// SPDX-License-Identifier: Apache-2.0
// Pinned resumes, source by source, in-process: a transfer's first attempt
// reports the version of the object it reads (FetchSink::pin); a resume that
// carries it back is served from that version or refused (Kind::source_changed)
// — never spliced onto another one. And the core's side of the rule
// (fetch_stream): a change starts the transfer over when the consumer can take
// the bytes back, a source that named no version is never resumed, and a
// missing object is not waited out.
#include <gtest/gtest.h>

#include <fstream>

#include "net/etcd_api.hpp"
#include "plugin_fixture.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

// A first attempt cut after `cut` bytes (the sink stops it), as a dropped
// connection would leave it: what arrived, and the version reported.
struct FirstAttempt {
  std::string bytes, pin;
};
FirstAttempt cut_after(SourceInstance& src, const std::string& url, size_t cut) {
  FirstAttempt a;
  FetchSink sink{[&](const void* d, size_t n) {
                   a.bytes.append(static_cast<const char*>(d), std::min(n, cut - a.bytes.size()));
                   return a.bytes.size() < cut;
                 },
                 [] { return false; }, nullptr, [&](const std::string& v) { a.pin = v; }};
  src.fetch(url, 0, 0, sink);
  return a;
}

// The resume of that transfer: the rest, or the error that refused it.
struct Resume {
  std::string bytes, error;
  Error::Kind kind = Error::Kind::failed;
};
Resume resume(SourceInstance& src, const std::string& url, const FirstAttempt& first) {
  Resume r;
  FetchSink sink{[&](const void* d, size_t n) {
                   r.bytes.append(static_cast<const char*>(d), n);
                   return true;
                 },
                 [] { return false; }, nullptr, nullptr};
  try {
    src.fetch(url, first.bytes.size(), 0, sink, first.pin);
  } catch (const Error& e) {
    r.error = e.what();
    r.kind = e.kind();
  }
  return r;
}

struct Fetched {
  std::string bytes, log, error;
  Error::Kind kind = Error::Kind::failed;
};
// fetch_stream into a string; rewindable: the consumer can take the bytes back.
Fetched fetch(const std::string& url, const FetchPolicy& policy, bool rewindable) {
  SourceSet sources = all_sources();  // new instances: the flaky fixture counts its faults per instance
  StopSignal stop;
  DeployLog log("test");
  Fetched f;
  try {
    fetch_stream(
        sources, url, policy, stop, log,
        [&](const void* d, size_t n) {
          f.bytes.append(static_cast<const char*>(d), n);
          return true;
        },
        {}, rewindable ? std::function<void()>([&] { f.bytes.clear(); }) : std::function<void()>());
  } catch (const Error& e) {
    f.error = e.what();
    f.kind = e.kind();
  }
  f.log = log.text();
  return f;
}

// A flaky:// URL (the fixture source) serving `data` from a file in tmp.
std::string flaky(const TempDir& tmp, const std::string& data, const std::string& query) {
  write_file(tmp / "a.bin", data);
  return "flaky://" + (tmp / "a.bin").string() + "?" + query;
}

FetchPolicy retries(int n) {
  FetchPolicy p;
  p.retry = n;
  p.retry_wait = std::chrono::milliseconds(1);
  return p;
}

}  // namespace

TEST(FetchPin, TheFileSourceResumesTheFileItOpenedAndRefusesAReplacedOrRewrittenOne) {
  TempDir tmp;
  const std::string v1 = random_bytes(5000, 1), v2 = random_bytes(5000, 2);
  write_file(tmp / "app.bin", v1);
  const std::string url = file_url(tmp / "app.bin");
  auto src = instantiate<SourceInstance>("file", "chunk_size: 1000");

  FirstAttempt first = cut_after(*src, url, 2000);
  ASSERT_EQ(first.bytes, v1.substr(0, 2000));
  ASSERT_FALSE(first.pin.empty()) << "the file source names what it reads";
  Resume r = resume(*src, url, first);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(first.bytes + r.bytes, v1) << "the same file: resumed";

  // Replaced by a rename, as publish and every atomic writer do.
  write_file(tmp / ".app.bin.new", v2);
  fs::rename(tmp / ".app.bin.new", tmp / "app.bin");
  r = resume(*src, url, first);
  EXPECT_EQ(r.kind, Error::Kind::source_changed) << r.error;
  EXPECT_EQ(r.bytes, "") << "not one byte of the other file";
  EXPECT_NE(r.error.find((tmp / "app.bin").string() + ": the file changed since the download started"), std::string::npos)
      << r.error;

  // Rewritten in place, same size, its mtime put back (cp -p): ctime still moves.
  first = cut_after(*src, url, 2000);
  const auto mtime = fs::last_write_time(tmp / "app.bin");
  {
    std::ofstream(tmp / "app.bin", std::ios::binary | std::ios::in | std::ios::out) << std::string(5000, 'x');
  }
  fs::last_write_time(tmp / "app.bin", mtime);
  // ctime has a clock tick's resolution: wait until a rewrite is told apart.
  ASSERT_TRUE(wait_until([&] {
    r = resume(*src, url, first);
    if (r.kind == Error::Kind::source_changed) return true;
    std::ofstream(tmp / "app.bin", std::ios::binary | std::ios::in | std::ios::out) << std::string(5000, 'x');
    fs::last_write_time(tmp / "app.bin", mtime);
    return false;
  })) << r.error;
  EXPECT_EQ(r.bytes, "");
}

TEST(FetchPin, TheEtcdSourceResumesTheValueItReadAndRefusesANewerOne) {
  EtcdCluster etcd(1);
  net::EtcdSettings settings;
  settings.endpoints = etcd.endpoints();
  net::EtcdApi api(settings);
  const std::string v1 = random_bytes(4000, 1), v2 = random_bytes(4000, 2);
  api.put("haul/web/manifest.yml", v1);
  auto src = instantiate<SourceInstance>("etcd", "endpoints: [" + etcd.endpoint(0) + "]");
  const std::string url = "etcd://haul/web/manifest.yml";

  FirstAttempt first = cut_after(*src, url, 1000);
  ASSERT_EQ(first.bytes, v1.substr(0, 1000));
  ASSERT_NE(first.pin.find("mod_revision"), std::string::npos) << first.pin;
  Resume r = resume(*src, url, first);
  EXPECT_EQ(first.bytes + r.bytes, v1);

  api.put("haul/web/manifest.yml", v2);
  r = resume(*src, url, first);
  EXPECT_EQ(r.kind, Error::Kind::source_changed) << r.error;
  EXPECT_EQ(r.bytes, "");
  EXPECT_NE(r.error.find(url + ": the key's value changed since the download started"), std::string::npos) << r.error;
}

// Real nginx answers If-Range itself: the whole object (200) when the ETag
// moved, which the http source refuses instead of appending.
TEST(FetchPin, TheHttpSourceResumesWithIfRangeAndRefusesTheWholeObjectNginxSendsWhenItChanged) {
  TempDir root;
  const std::string v1 = random_bytes(100'000, 1), v2 = random_bytes(100'001, 2);
  write_file(root / "app.bin", v1);
  NginxServer nginx(root.path());
  const std::string url = nginx.url("/app.bin");
  auto src = instantiate<SourceInstance>("http");

  FirstAttempt first = cut_after(*src, url, 30'000);
  ASSERT_EQ(first.pin.rfind('"', 0), 0u) << "pinned to nginx's strong ETag: " << first.pin;
  Resume r = resume(*src, url, first);
  EXPECT_EQ(first.bytes + r.bytes, v1);

  write_file(root / ".app.bin.new", v2);
  fs::rename(root / ".app.bin.new", root / "app.bin");
  r = resume(*src, url, first);
  EXPECT_EQ(r.kind, Error::Kind::source_changed) << r.error;
  EXPECT_EQ(r.bytes, "");
  EXPECT_NE(r.error.find("GET " + url + ": the resume at byte 30000 was answered with the whole object (HTTP 200)"),
            std::string::npos)
      << r.error;
  // nginx's own verdict on the stale If-Range: a second 200 (the first was the cut attempt), not a 206.
  auto answers = [&](const std::string& status) {
    size_t n = 0;
    const std::string log = nginx.access_log(), needle = "\"GET /app.bin HTTP/1.1\" " + status + " ";
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return answers("200") == 2 && answers("206") == 1; }, std::chrono::seconds(10)))
      << nginx.access_log();
}

TEST(FetchPin, AChangedObjectStartsOverWhenTheConsumerCanTakeTheBytesBackAndFailsWhenItCannot) {
  TempDir tmp;
  const std::string data = random_bytes(2000, 3);
  const std::string url = flaky(tmp, data, "fail_at=500&failures=1&changed=1");
  Fetched f = fetch(url, retries(3), true);
  EXPECT_EQ(f.error, "");
  EXPECT_EQ(f.bytes, data) << "whole, from byte 0";
  EXPECT_NE(f.log.find("the object changed since the first attempt; fetching it again from its start"), std::string::npos)
      << f.log;

  f = fetch(url, retries(3), false);
  EXPECT_EQ(f.kind, Error::Kind::source_changed) << f.error;
  EXPECT_NE(f.error.find("the object changed since the first attempt"), std::string::npos) << f.error;
}

TEST(FetchPin, ASourceThatNamedNoVersionIsStartedOverNeverResumed) {
  TempDir tmp;
  const std::string data = random_bytes(5000, 4);
  const std::string url = flaky(tmp, data, "fail_at=1234&failures=1&unpinned=1");
  Fetched f = fetch(url, retries(2), true);
  EXPECT_EQ(f.error, "");
  EXPECT_EQ(f.bytes, data);
  EXPECT_NE(f.log.find("retry 1/2 in 1ms, from byte 0"), std::string::npos) << f.log;
  EXPECT_NE(f.log.find("cannot resume at byte 1234: the source named no version of the object"), std::string::npos) << f.log;
  EXPECT_EQ(f.log.find("resuming at byte"), std::string::npos) << f.log;

  f = fetch(url, retries(2), false);
  EXPECT_EQ(f.kind, Error::Kind::source_changed) << "the caller starts over: " << f.error;
}

TEST(FetchPin, AMissingFileIsNotWaitedOutUnlessRetryMissingIsAsked) {
  TempDir tmp;
  FetchPolicy p = retries(3);
  p.retry_wait = std::chrono::seconds(5);
  Fetched f = fetch(file_url(tmp / "missing.bin"), p, true);
  EXPECT_EQ(f.kind, Error::Kind::permanent);
  EXPECT_NE(f.error.find("open " + (tmp / "missing.bin").string() + ": No such file or directory"), std::string::npos)
      << f.error;
  EXPECT_NE(f.error.find("not retried"), std::string::npos) << f.error;
  EXPECT_EQ(f.log.find("retry 1/3"), std::string::npos) << "no wait, no second attempt: " << f.log;

  p = retries(2);
  p.retry_missing = true;
  f = fetch(file_url(tmp / "missing.bin"), p, true);
  EXPECT_NE(f.log.find("retry 2/2"), std::string::npos) << f.log;
  EXPECT_NE(f.error.find("(after 3 attempts)"), std::string::npos) << f.error;
}
