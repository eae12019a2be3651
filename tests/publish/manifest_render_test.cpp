// SPDX-License-Identifier: Apache-2.0
// Hooks files in capistrano-stretcher's shape, and the manifests rendered
// from them: deterministic bytes that parse back to what was asked for.
#include <gtest/gtest.h>

#include "config/desired_pointer.hpp"
#include "publish/manifest_render.hpp"
#include "publish/release_project.hpp"
#include "test_support.hpp"
#include "util/error.hpp"

using namespace haul;
using haul::test::error_of;

namespace {

const char* kHooks = R"(default: &default
  pre:
    - echo pre
  success:
    - echo success
  failure:
    - echo failure
web:
  <<: *default
  post:
    - echo restart web
worker:
  <<: *default
  pre: []
  post: [echo restart worker]
)";

}  // namespace

TEST(HooksFile, RolesInheritDefaultThroughMergeKeys) {
  HooksFile h = parse_hooks_file(kHooks, "hooks.yml");
  Commands web = h.for_role("web");
  EXPECT_EQ(web.pre, std::vector<std::string>{"echo pre"});
  EXPECT_EQ(web.post, std::vector<std::string>{"echo restart web"});
  EXPECT_EQ(web.success, std::vector<std::string>{"echo success"});
  EXPECT_EQ(web.failure, std::vector<std::string>{"echo failure"});
  Commands worker = h.for_role("worker");
  EXPECT_TRUE(worker.pre.empty()) << "an empty list clears default's phase";
  EXPECT_EQ(worker.post, std::vector<std::string>{"echo restart worker"});
  Commands other = h.for_role("cron");
  EXPECT_EQ(other.pre, std::vector<std::string>{"echo pre"}) << "a role without a block gets default";
  EXPECT_TRUE(other.post.empty());
}

TEST(HooksFile, RolesInheritDefaultWithoutMergeKeysToo) {
  HooksFile h = parse_hooks_file("default:\n  pre: [a]\nweb:\n  post: [b]\n", "hooks.yml");
  EXPECT_EQ(h.for_role("web").pre, std::vector<std::string>{"a"});
  EXPECT_EQ(h.for_role("web").post, std::vector<std::string>{"b"});
}

TEST(HooksFile, UnknownPhaseIsAnErrorWithItsLine) {
  auto e = error_of([] { parse_hooks_file("default:\n  pre: [a]\nweb:\n  restart: [b]\n", "hooks.yml"); });
  EXPECT_NE(e.find("hooks.yml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown phase 'restart'"), std::string::npos) << e;
  EXPECT_NE(e.find("pre, post, verify, success, failure, rollback"), std::string::npos) << e;
}

TEST(RenderManifest, ExactBytesAndRoundTrip) {
  ManifestSpec s;
  s.role = "web";
  s.stage = "production";
  s.src = "s3://bucket/app/r1/app.tar.gz";
  s.checksum = std::string(64, 'a');
  s.dest = "/srv/app";
  s.dest_mode = 0750;
  s.sync_strategy = SyncStrategy::release;
  s.release = "r1";
  s.created_at = 1795687930;
  s.keep_releases = 3;
  s.linked_dirs = {"log"};
  s.excludes = {"*.pid", "tmp/"};
  s.commands = parse_hooks_file(kHooks, "hooks.yml").for_role("web");
  s.commands.verify = {"curl -fsS http://127.0.0.1/health: ok"};
  const std::string expected =
      "# haul publish: role web, stage production\n"
      "src: s3://bucket/app/r1/app.tar.gz\n"
      "checksum: " + std::string(64, 'a') + "\n"
      "dest: /srv/app\n"
      "dest_mode: \"0750\"\n"
      "sync_strategy: release\n"
      "release: r1\n"
      "created_at: 2026-11-26T10:12:10Z\n"
      "keep_releases: 3\n"
      "linked_dirs:\n  - log\n"
      "excludes:\n  - \"*.pid\"\n  - tmp/\n"
      "commands:\n"
      "  pre:\n    - echo pre\n"
      "  post:\n    - echo restart web\n"
      "  verify:\n    - \"curl -fsS http://127.0.0.1/health: ok\"\n"
      "  success:\n    - echo success\n"
      "  failure:\n    - echo failure\n";
  const std::string text = render_manifest(s);
  EXPECT_EQ(text, expected);
  Manifest m = parse_manifest(text, "rendered");
  EXPECT_EQ(m.src, s.src);
  EXPECT_EQ(m.dest_mode, 0750u);
  EXPECT_EQ(m.release, "r1");
  EXPECT_EQ(m.created_at, s.created_at);
  EXPECT_EQ(m.excludes, s.excludes);
  EXPECT_EQ(m.commands.verify, s.commands.verify);
  EXPECT_EQ(m.keep_releases, 3);
}

TEST(DesiredPointer, RoundTripsAndRefusesGarbage) {
  DesiredPointer p{"s3://b/manifest_web_production.yml", std::string(64, 'b'), "r1", 1795687930};
  DesiredPointer q = parse_desired_pointer(render_desired_pointer(p), "latest.yml");
  EXPECT_EQ(q.manifest_url, p.manifest_url);
  EXPECT_EQ(q.manifest_sha256, p.manifest_sha256);
  EXPECT_EQ(q.release, "r1");
  EXPECT_EQ(q.created_at, p.created_at);
  auto e = error_of([] { parse_desired_pointer("manifest: x\nrelease: r\ncreated_at: 2026-01-01T00:00:00Z\n", "latest.yml"); });
  EXPECT_NE(e.find("latest.yml: sha256: required"), std::string::npos) << e;
  e = error_of([] { parse_desired_pointer("<html>oops</html>", "https://x/latest.yml"); });
  EXPECT_NE(e.find("https://x/latest.yml"), std::string::npos) << e;
}

TEST(ReleaseProject, ParsesAndNamesMistakes) {
  const std::string text = R"(app: shop
git: {repo: ., ref: main}
format: tar.zst
store: s3://bucket/shop
hooks: config/hooks.yml
roles: [web, worker]
stages:
  production: {dest: /srv/shop, sync_strategy: release, keep_releases: 5, linked_dirs: [log]}
  staging: {dest: /srv/shop-staging}
sign: keys/release.key
kick: {via: serf, event: "{role}-{stage}"}
sources:
  s3: {endpoint: "http://127.0.0.1:4568"}
)";
  ReleaseProject p = parse_release_project(text, "/build/shop/haul-release.yaml");
  EXPECT_EQ(p.app, "shop");
  EXPECT_EQ(p.git_repo, "/build/shop");
  EXPECT_EQ(p.git_ref, "main");
  EXPECT_EQ(p.format, PackFormat::tar_zst);
  EXPECT_EQ(p.hooks_file, "/build/shop/config/hooks.yml");
  EXPECT_EQ(p.sign_key, "/build/shop/keys/release.key");
  EXPECT_EQ(p.roles, (std::vector<std::string>{"web", "worker"}));
  ASSERT_EQ(p.stages.size(), 2u);
  EXPECT_EQ(p.stages["production"].sync_strategy, SyncStrategy::release);
  EXPECT_EQ(p.stages["production"].keep_releases, 5);
  EXPECT_EQ(p.kick.via, "serf");
  EXPECT_EQ(p.kick.name_template, "{role}-{stage}");
  EXPECT_EQ(p.sources.count("s3"), 1u);

  auto e = error_of([] { parse_release_project("store: s3://b/a\nroles: [web]\nstages: {prod: {dest: /a}}\nstagez: 1\n", "hr.yaml"); });
  EXPECT_NE(e.find("hr.yaml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'stagez'"), std::string::npos) << e;
  e = error_of([] { parse_release_project("store: s3://b/a\nroles: [web]\nstages: {prod: {sync_strategy: release}}\n", "hr.yaml"); });
  EXPECT_NE(e.find("stages.prod.dest: required"), std::string::npos) << e;
  e = error_of([] { parse_release_project("roles: [web]\nstages: {prod: {dest: /a}}\n", "hr.yaml"); });
  EXPECT_NE(e.find("store: required"), std::string::npos) << e;
  e = error_of([] { parse_release_project("store: s3://b/a\nroles: [web]\nstages: {prod: {dest: /a}}\nkick: {via: carrier-pigeon}\n", "hr.yaml"); });
  EXPECT_NE(e.find("kick.via: expected consul or serf"), std::string::npos) << e;
  const std::string base = "store: s3://b/a\nroles: [web]\nstages: {prod: {dest: /a}}\n";
  EXPECT_EQ(parse_release_project(base + "format: chunked\npack_chunks: 0\n", "hr.yaml").pack_chunks, 0u);
  EXPECT_EQ(parse_release_project(base + "format: chunked\n", "hr.yaml").pack_chunks, 1024u);
  e = error_of([&] { parse_release_project(base + "pack_chunks: 10\n", "hr.yaml"); });
  EXPECT_NE(e.find("hr.yaml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("pack_chunks: only format chunked has chunks to pack"), std::string::npos) << e;
  e = error_of([&] { parse_release_project(base + "format: chunked\npack_chunks: -5\n", "hr.yaml"); });
  EXPECT_NE(e.find("pack_chunks"), std::string::npos) << e;
}
