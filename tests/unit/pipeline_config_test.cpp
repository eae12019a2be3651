// SPDX-License-Identifier: Apache-2.0
#include "config/pipeline_config.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "pipeline/load_pipelines.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "test_support.hpp"
#include "util/error.hpp"

using namespace haul;
using haul::test::line_with;

namespace {
std::optional<std::string> env(const std::string& n) {
  return n == "HOOK" ? std::optional<std::string>("https://hooks.example/x") : std::nullopt;
}
std::string error_of(const std::string& text) {
  try {
    parse_config(text, "haul.yaml", env);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(PipelineConfig, FullConfigParses) {
  HaulConfig c = parse_config(R"(
state_dir: /var/lib/haul
plugin_path: [/opt/haul/plugins]
pipelines:
  web:
    trigger: { type: consul-http, event: deploy_web }
    sources: { http: { connect_timeout: 5s } }
    hooks:
      - shell
      - { type: slack-notify, webhook_url: '{{ must_env "HOOK" }}' }
    deploy: { random_delay: 5s, retry: 3, retry_wait: 2s, timeout: 10m, max_bandwidth: 20M }
  batch:
    trigger: consul-watch
)", "haul.yaml", env);
  ASSERT_EQ(c.pipelines.size(), 2u);
  EXPECT_EQ(c.state_dir, "/var/lib/haul");
  EXPECT_EQ(c.plugin_path, std::vector<std::string>{"/opt/haul/plugins"});
  const auto& web = c.pipelines[1].name == "web" ? c.pipelines[1] : c.pipelines[0];
  EXPECT_EQ(web.trigger.type, "consul-http");
  EXPECT_EQ(web.trigger.settings["event"].Scalar(), "deploy_web");
  EXPECT_EQ(web.hooks.size(), 2u);
  EXPECT_EQ(web.hooks[1].settings["webhook_url"].Scalar(), "https://hooks.example/x");
  EXPECT_EQ(web.deploy.retry, 3);
  EXPECT_EQ(web.deploy.retry_wait.count(), 2000);
  EXPECT_EQ(web.deploy.timeout.count(), 600000);
  EXPECT_EQ(web.deploy.max_bandwidth_bytes_per_s, 20'000'000u);
  EXPECT_EQ(web.sources.count("http"), 1u);
  const auto& batch = c.pipelines[1].name == "batch" ? c.pipelines[1] : c.pipelines[0];
  EXPECT_EQ(batch.hooks.size(), 1u) << "shell is the default hook";
  EXPECT_EQ(batch.hooks[0].type, "shell");
}

TEST(PipelineConfig, UnknownKeysListTheValidOnesWithLine) {
  std::string e = error_of("pipelines:\n  web:\n    trigger: consul-watch\n    deploy: { retries: 3 }\n");
  EXPECT_NE(e.find("haul.yaml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'retries'"), std::string::npos) << e;
  EXPECT_NE(e.find("retry_wait"), std::string::npos) << e;
  e = error_of("pipeline:\n  web: {}\n");
  EXPECT_NE(e.find("unknown key 'pipeline' — did you mean 'pipelines'? (valid keys: state_dir, plugin_path, "
                   "metrics_listen, metrics_textfile, consul, etcd, pipelines, namespace)"),
            std::string::npos)
      << e;
}

// Every error of the file at once, each with its line.
TEST(PipelineConfig, AllErrorsOfAFileAreReportedAtOnce) {
  std::string e = error_of("state_dri: /x\npipelines:\n  web:\n    trigger: consul-watch\n    deploy: { retyr: 3 }\n"
                           "  api:\n    hooks: [shell]\n  ok:\n    trigger: consul-watch\n");
  EXPECT_NE(e.find("haul.yaml: 3 errors:"), std::string::npos) << e;
  EXPECT_NE(e.find("haul.yaml:1:1: unknown key 'state_dri' — did you mean 'state_dir'?"), std::string::npos) << e;
  EXPECT_NE(e.find("haul.yaml:5:15: pipelines.web.deploy: unknown key 'retyr' — did you mean 'retry'?"), std::string::npos) << e;
  EXPECT_NE(e.find("pipelines.api: missing 'trigger'"), std::string::npos) << e;
}

TEST(PipelineConfig, BadValuesNameFieldAndExpectation) {
  std::string e = error_of("pipelines:\n  web:\n    trigger: consul-watch\n    deploy:\n      timeout: forever\n");
  EXPECT_NE(e.find("haul.yaml:5:16: pipelines.web.deploy.timeout: expected a duration"), std::string::npos) << e;
  e = error_of("pipelines:\n  web:\n    trigger: consul-watch\n    deploy: { retry: -1 }\n");
  EXPECT_NE(e.find("retry: expected a whole number"), std::string::npos) << e;
  e = error_of("pipelines:\n  web:\n    hooks: [shell]\n");
  EXPECT_NE(e.find("missing 'trigger'"), std::string::npos) << e;
  e = error_of("pipelines: {}\n");
  EXPECT_NE(e.find("one or more named pipelines"), std::string::npos) << e;
  e = error_of("pipelines:\n  web:\n    trigger: { event: x }\n");
  EXPECT_NE(e.find("missing 'type'"), std::string::npos) << e;
}

TEST(PipelineConfig, DefaultIsTheStretcherHandler) {
  DeployOptions d;
  d.retry = 2;
  HaulConfig c = default_config(d);
  ASSERT_EQ(c.pipelines.size(), 1u);
  EXPECT_EQ(c.pipelines[0].trigger.type, "consul-watch");
  EXPECT_EQ(c.pipelines[0].hooks[0].type, "shell");
  EXPECT_EQ(c.pipelines[0].deploy.retry, 2);
}

TEST(PipelineConfig, RolloutBlockSplitsPolicyFromTheGatesSettings) {
  const HaulConfig cfg = parse_config(
      "pipelines:\n  web:\n    trigger: consul-watch\n    rollout: { canary: 2, canary_soak: 2m, max_parallel: 25%,"
      " max_failures: 3, on_halt: rollback, prefix: fleet }\n",
      "haul.yaml", env);
  const RolloutConfig& r = cfg.pipelines.at(0).rollout;
  ASSERT_TRUE(r.enabled);
  EXPECT_EQ(r.policy.canary, 2u);
  EXPECT_EQ(r.policy.canary_soak_ms, 120000u);
  EXPECT_EQ(r.policy.max_parallel, 0u);
  EXPECT_EQ(r.policy.max_parallel_percent, 25u);
  EXPECT_EQ(r.policy.max_failures, 3u);
  EXPECT_EQ(r.policy.rollback_on_halt, 1);
  EXPECT_EQ(r.gate.type, "consul-rollout") << "via: consul is the default";
  EXPECT_EQ(r.gate.settings["prefix"].Scalar(), "fleet");
  EXPECT_FALSE(parse_config("pipelines:\n  web:\n    trigger: consul-watch\n", "haul.yaml", env).pipelines[0].rollout.enabled);
  EXPECT_NE(error_of("pipelines:\n  web:\n    trigger: consul-watch\n    rollout: 3\n").find(
                "haul.yaml:4:14: pipelines.web.rollout: expected a map like { canary: 1"),
            std::string::npos)
      << error_of("pipelines:\n  web:\n    trigger: consul-watch\n    rollout: 3\n");
}

// The examples a new user copies must parse.
TEST(PipelineConfig, TheShippedExamplesParse) {
  for (const char* name : {"agent.yaml", "handler.yaml"}) {
    const std::string path = std::string(HAUL_TEST_SOURCE_DIR) + "/../examples/pipelines/" + name;
    EXPECT_NO_THROW(load_config_file(path)) << path;
  }
}

TEST(PipelineConfig, TheEtcdBlockIsCheckedLikeTheConsulOne) {
  const HaulConfig cfg = parse_config(
      "etcd: { endpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379], user: haul }\n"
      "pipelines:\n  web:\n    trigger: { type: etcd-watch, key: haul/deploy/web }\n",
      "haul.yaml", env);
  EXPECT_EQ(cfg.pipelines.at(0).etcd["endpoints"].size(), 2u) << "every pipeline inherits it";
  const std::string e = error_of("etcd: { endpoint: http://10.0.0.1:2379 }\npipelines:\n  web:\n    trigger: consul-watch\n");
  EXPECT_NE(e.find("unknown key 'endpoint'"), std::string::npos) << e;
}

// Within one pipeline too, every mistake is reported — not the first one,
// then the next on the next run.
TEST(PipelineConfig, EveryMistakeOfAPipelineIsReported) {
  const std::string e = error_of(
      "pipelines:\n"
      "  web:\n"
      "    trigger: consul-watch\n"
      "    deploy: { timeout: 10 minutes, retyr: 3, keep_releases: 0 }\n"
      "    rollout: { max_parallel: 150%, on_halt: panic }\n"
      "    reconcile_interval: 1ms\n"
      "    desird: s3://b/latest_web_production.yml\n");
  EXPECT_NE(e.find("haul.yaml: 7 errors:"), std::string::npos) << e;
  EXPECT_NE(line_with(e, "pipelines.web.deploy.timeout: expected a duration").find("haul.yaml:4:"), std::string::npos) << e;
  EXPECT_NE(line_with(e, "unknown key 'retyr' — did you mean 'retry'?").find("haul.yaml:4:"), std::string::npos) << e;
  EXPECT_NE(line_with(e, "pipelines.web.deploy.keep_releases: expected a whole number").find("haul.yaml:4:"), std::string::npos) << e;
  EXPECT_NE(line_with(e, "pipelines.web.rollout.max_parallel: expected").find("haul.yaml:5:"), std::string::npos) << e;
  EXPECT_NE(line_with(e, "pipelines.web.rollout.on_halt: expected rollback or stay").find("haul.yaml:5:"), std::string::npos) << e;
  EXPECT_NE(line_with(e, "pipelines.web.reconcile_interval: expected a duration of at least 100ms").find("haul.yaml:6:"),
            std::string::npos)
      << e;
  EXPECT_NE(line_with(e, "unknown key 'desird' — did you mean 'desired'?").find("haul.yaml:7:"), std::string::npos) << e;
}

// file:line:col, as editors and grep -n want it.
TEST(PipelineConfig, ErrorsNameLineAndColumn) {
  const std::string e = error_of("state_dir: /x\nstate_dri: /y\npipelines:\n  web:\n    trigger: consul-watch\n"
                                 "    deploy: { timeout: forever }\n");
  EXPECT_NE(e.find("haul.yaml:2:1: unknown key 'state_dri' — did you mean 'state_dir'?"), std::string::npos) << e;
  EXPECT_NE(e.find("haul.yaml:6:24: pipelines.web.deploy.timeout: expected a duration"), std::string::npos) << e;
}

TEST(PipelineConfig, CannotReadTheConfigFileSaysWhy) {
  haul::test::TempDir tmp;
  const std::string absent = haul::test::error_of([&] { load_config_file((tmp / "absent.yaml").string()); });
  EXPECT_NE(absent.find("absent.yaml: cannot read the config file: No such file or directory"), std::string::npos) << absent;
  const std::string folder = haul::test::error_of([&] { load_config_file(tmp.path().string()); });
  EXPECT_NE(folder.find(": cannot read the config file: Is a directory"), std::string::npos) << folder;
}

// Building a pipeline must not start its trigger: the agent builds every
// pipeline first and a later one may still be wrong; `haul check` builds
// them all and runs none. A watch thread would show up as a new task of
// this process.
TEST(PipelineConfig, BuildingAPipelineStartsNoTriggerWatch) {
  auto tasks = [] {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) n += e.exists() ? 1 : 0;
    return n;
  };
  PluginRegistry registry;
  registry.load_dir(haul::test::build_dir() / "plugins");
  const HaulConfig cfg = parse_config(
      "pipelines:\n"
      "  web:\n    trigger: { type: consul-http, event: deploy_web, address: 'http://127.0.0.1:9' }\n    hooks: [shell]\n"
      "  api:\n    trigger: { type: etcd-watch, key: haul/deploy/api, endpoints: ['http://127.0.0.1:9'] }\n    hooks: [shell]\n",
      "haul.yaml", env);
  const size_t before = tasks();
  std::vector<std::unique_ptr<Pipeline>> built;
  for (const auto& p : cfg.pipelines) built.push_back(build_pipeline(p, registry, cfg.origin));
  ASSERT_EQ(built.size(), 2u);
  EXPECT_EQ(tasks(), before) << "a trigger started a thread while it was built";
}

// ---- a whole file made into pipelines: load_pipelines ----

namespace {
// A config file whose plugins come from the build tree; its line 1 is plugin_path.
std::string config_file(const haul::test::TempDir& tmp, const std::string& body) {
  const auto path = tmp / "haul.yaml";
  haul::test::write_file(path, "plugin_path: [" + (haul::test::build_dir() / "plugins").string() + "]\n" + body);
  return path.string();
}
std::string all_of(const ConfigErrors& errors) {
  std::string text;
  for (const auto& m : errors.messages()) text += m + "\n";
  return text;
}
}  // namespace

// The five kinds of mistake a file holds, in one run, each at its line, in
// the order of the file.
TEST(LoadPipelines, EveryMistakeOfTheFileInOneRun) {
  haul::test::TempDir tmp;
  const std::string path = config_file(tmp,
                                       "state_dri: /tmp/haul-state\n"
                                       "pipelines:\n"
                                       "  web:\n"
                                       "    trigger: { type: consul-http, event: deploy_web, adress: 127.0.0.1:8500 }\n"
                                       "    hooks: [shell, shel]\n"
                                       "    deploy: { timeout: 10 minutes }\n"
                                       "    rollout: { max_parallel: 150% }\n");
  const LoadedPipelines loaded = load_pipelines(path);
  EXPECT_FALSE(loaded.ok());
  EXPECT_TRUE(loaded.pipelines.empty());
  const auto m = loaded.errors.messages();
  ASSERT_EQ(m.size(), 5u) << all_of(loaded.errors);
  EXPECT_EQ(m[0].rfind(path + ":2:1: unknown key 'state_dri' — did you mean 'state_dir'?", 0), 0u) << m[0];
  EXPECT_EQ(m[1].rfind(path + ":5:54: pipelines.web.trigger: unknown key 'adress' for trigger plugin consul-http — did "
                              "you mean 'address'?",
                       0),
            0u)
      << m[1];
  EXPECT_EQ(m[2].rfind(path + ":6:20: pipelines.web.hooks[1]: no hook plugin named 'shel' — did you mean 'shell'?", 0), 0u)
      << m[2];
  EXPECT_EQ(m[3].rfind(path + ":7:24: pipelines.web.deploy.timeout: expected a duration", 0), 0u) << m[3];
  EXPECT_EQ(m[4].rfind(path + ":8:30: pipelines.web.rollout.max_parallel: expected a number of nodes", 0), 0u) << m[4];
  const std::string text = loaded.errors.error().what();
  EXPECT_EQ(text.rfind(path + ": 5 errors:\n  ", 0), 0u) << text;
}

// A name that is no plugin of its kind suggests the nearest one of that kind,
// for every kind a pipeline names.
TEST(LoadPipelines, AMisspelledPluginNameSuggestsOneOfItsKind) {
  haul::test::TempDir tmp;
  const std::string path = config_file(tmp,
                                       "pipelines:\n"
                                       "  web:\n"
                                       "    trigger: consul-htp\n"
                                       "    sources: { htp: { connect_timeout: 5s } }\n"
                                       "    hooks: [shel]\n"
                                       "    rollout: { via: consl }\n"
                                       "  api:\n"
                                       "    trigger: { type: etcd-wach, key: haul/deploy/api }\n");
  const LoadedPipelines loaded = load_pipelines(path);
  const std::string e = all_of(loaded.errors);
  EXPECT_EQ(loaded.errors.size(), 5u) << e;
  EXPECT_NE(e.find(path + ":4:14: pipelines.web.trigger: no trigger plugin named 'consul-htp' — did you mean 'consul-http'?"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(path + ":5:16: pipelines.web.sources.htp: no source plugin named 'htp' — did you mean 'http'?"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(path + ":6:13: pipelines.web.hooks[0]: no hook plugin named 'shel' — did you mean 'shell'?"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(path + ":7:21: pipelines.web.rollout (via: consl): no gate plugin named 'consl-rollout' — did you mean "
                          "'consul-rollout'?"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(path + ":9:22: pipelines.api.trigger: no trigger plugin named 'etcd-wach' — did you mean 'etcd-watch'?"),
            std::string::npos)
      << e;
}

// A plugin that refuses its settings is a mistake in the file too: reported
// at the setting it names, and for every pipeline, not the first only.
TEST(LoadPipelines, APluginRefusingItsSettingsIsReportedForEveryPipeline) {
  haul::test::TempDir tmp;
  const std::string path = config_file(tmp,
                                       "pipelines:\n"
                                       "  web:\n"
                                       "    trigger: consul-watch\n"
                                       "    hooks: [{ type: consul-status, heartbeat_ttl: 5s }]\n"
                                       "  api:\n"
                                       "    trigger: consul-watch\n"
                                       "    hooks:\n"
                                       "      - type: consul-status\n"
                                       "        heartbeat_ttl: 2s\n");
  EXPECT_TRUE(check_pipelines(path).ok()) << "the settings are well-formed: only building the plugin finds it out";
  const LoadedPipelines loaded = load_pipelines(path);
  const auto m = loaded.errors.messages();
  ASSERT_EQ(m.size(), 2u) << all_of(loaded.errors);
  EXPECT_EQ(m[0].rfind(path + ":5:36: pipelines.web.hooks[0].heartbeat_ttl: ", 0), 0u) << m[0];
  EXPECT_NE(m[0].find("heartbeat_ttl must be at least 10s"), std::string::npos) << m[0];
  EXPECT_EQ(m[1].rfind(path + ":10:9: pipelines.api.hooks[0].heartbeat_ttl: ", 0), 0u) << m[1];
}

TEST(LoadPipelines, AGoodFileIsBuiltWholeWithoutState) {
  haul::test::TempDir tmp;
  const std::string path = config_file(tmp, "state_dir: " + (tmp / "state").string() +
                                                "\npipelines:\n"
                                                "  web:\n    trigger: consul-watch\n    hooks: [shell]\n"
                                                "  api:\n    trigger: { type: etcd-watch, key: haul/deploy/api }\n"
                                                "    rollout: { via: etcd, canary: 2 }\n");
  LoadedPipelines loaded = load_pipelines(path);
  ASSERT_TRUE(loaded.ok()) << all_of(loaded.errors);
  ASSERT_EQ(loaded.pipelines.size(), 2u);
  for (const auto& p : loaded.pipelines) EXPECT_NE(p->trigger, nullptr) << p->name;
  EXPECT_FALSE(std::filesystem::exists(tmp / "state")) << "a build without state writes nothing";
  LoadOptions with_state;
  with_state.state = true;
  loaded = load_pipelines(path, with_state);
  ASSERT_TRUE(loaded.ok()) << all_of(loaded.errors);
  EXPECT_EQ(loaded.state_dir, (tmp / "state").string());
  EXPECT_NE(loaded.pipelines.at(0)->applied, nullptr);
}

TEST(LoadPipelines, AFileThatCannotBeReadIsOneErrorSayingWhy) {
  haul::test::TempDir tmp;
  const LoadedPipelines loaded = load_pipelines((tmp / "absent.yaml").string());
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors.messages()[0], (tmp / "absent.yaml").string() + ": cannot read the config file: No such file or directory");
}

// A consul-* plugin's settings completed from the consul: block keep their
// places: a mistake in the plugin's own settings is at its line, one in the
// block at the block's.
TEST(LoadPipelines, SettingsCompletedFromTheConsulBlockKeepTheirPlaces) {
  haul::test::TempDir tmp;
  const std::string path = config_file(tmp,
                                       "consul: { address: 'http://127.0.0.1:9', insecure_skip_verify: maybe }\n"
                                       "pipelines:\n"
                                       "  web:\n"
                                       "    trigger: { type: consul-http, event: deploy_web, wiat: 5m }\n"
                                       "    hooks: [{ type: consul-status, heartbeat_tll: 30s }]\n");
  const std::string e = all_of(load_pipelines(path).errors);
  EXPECT_NE(e.find(path + ":5:54: pipelines.web.trigger: unknown key 'wiat' for trigger plugin consul-http — did you mean "
                          "'wait'?"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(path + ":6:36: pipelines.web.hooks[0]: unknown key 'heartbeat_tll' for hook plugin consul-status — did "
                          "you mean 'heartbeat_ttl'?"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(path + ":2:64: pipelines.web.trigger.insecure_skip_verify: expected true or false, got 'maybe'"),
            std::string::npos)
      << e;
}
