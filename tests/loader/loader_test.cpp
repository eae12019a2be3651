// SPDX-License-Identifier: Apache-2.0
// The loader against deliberately broken plugins: each refusal must say why.
#include <gtest/gtest.h>

#include "plugin/config_schema.hpp"
#include "plugin/instance.hpp"
#include "plugin/loader.hpp"
#include "plugin/registry.hpp"
#include "test_support.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

fs::path fixture(const std::string& name) { return fs::path(HAUL_TEST_FIXTURE_PLUGIN_DIR) / (name + ".so"); }

std::string refusal(const fs::path& path) {
  try {
    load_plugin(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_refused(const std::string& name, const std::string& reason) {
  std::string e = refusal(fixture(name));
  EXPECT_NE(e.find(fixture(name).string()), std::string::npos) << "names the file: " << e;
  EXPECT_NE(e.find(reason), std::string::npos) << e;
}

}  // namespace

TEST(Loader, OtherAbiMajorIsRefused) { expect_refused("broken_abi_major", "this haul speaks ABI 1.x"); }
TEST(Loader, NewerAbiMinorIsRefused) {
  expect_refused("broken_abi_minor", "built against a newer SDK (ABI 1." + std::to_string(HAUL_ABI_MINOR + 1) + ")");
}

TEST(Loader, Abi10SourceLoadsAndCannotStore) {
  auto plugin = load_plugin(fixture("broken_abi10_source"));
  EXPECT_EQ(plugin->kind(), HAUL_KIND_SOURCE);
  // The field past its struct_size holds garbage; the loader must not use it.
  EXPECT_EQ(plugin->store_callback(), nullptr);
}
TEST(Loader, LargerStructIsRefused) { expect_refused("broken_struct_size", "larger than this haul's"); }
TEST(Loader, KindZeroIsRefused) { expect_refused("broken_kind", "unknown kind 0"); }
TEST(Loader, MissingCallbackIsRefused) { expect_refused("broken_trigger_without_cancel", "lacks the required callback cancel"); }
TEST(Loader, GateWithoutWatchIsRefused) { expect_refused("broken_gate_without_watch", "lacks the required callback gate_watch"); }
TEST(Loader, GateFromAnOlderAbiIsRefused) { expect_refused("broken_gate_abi12", "gates need ABI 1.3"); }
TEST(Loader, BadNameIsRefused) { expect_refused("broken_name", "is not a plugin name"); }
TEST(Loader, NullInfoIsRefused) { expect_refused("broken_null", "returned NULL"); }
TEST(Loader, NoEntrySymbolIsRefused) { expect_refused("broken_no_entry", "exports no haul_plugin_entry()"); }

TEST(Loader, NotASharedObjectIsRefused) {
  TempDir tmp;
  write_file(tmp / "notes.so", "just text\n");
  std::string e = refusal(tmp / "notes.so");
  EXPECT_NE(e.find("not a loadable shared object"), std::string::npos) << e;
}

TEST(Loader, GoodFixtureLoads) {
  auto p = load_plugin(fixture("typed_hook"));
  EXPECT_EQ(p->name(), "typed");
  EXPECT_EQ(p->kind(), HAUL_KIND_HOOK);
  EXPECT_EQ(std::string(p->info->version), "1.2.3");
  EXPECT_EQ(p->fields().size(), 9u);
}

TEST(Registry, DuplicateNamesAreRefusedAndRefusalsListed) {
  TempDir tmp;
  fs::copy_file(fixture("dup_a"), tmp / "a.so");
  fs::copy_file(fixture("dup_b"), tmp / "b.so");
  fs::copy_file(fixture("broken_abi_major"), tmp / "c.so");
  PluginRegistry reg;
  reg.load_dir(tmp.path());
  ASSERT_NE(reg.find("dup"), nullptr);
  EXPECT_EQ(reg.find("dup")->path, (tmp / "a.so").string()) << "first in sorted order wins";
  ASSERT_EQ(reg.refusals().size(), 2u);
  EXPECT_NE(reg.refusals()[0].reason.find("duplicate plugin name 'dup', already loaded from"), std::string::npos);
  try {
    reg.require("consul-http", HAUL_KIND_TRIGGER, "haul.yaml: pipeline web trigger");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("no trigger plugin named 'consul-http'"), std::string::npos) << m;
    EXPECT_NE(m.find("refused: plugin " + (tmp / "c.so").string()), std::string::npos) << m;
  }
  EXPECT_THROW(reg.require("dup", HAUL_KIND_SOURCE, "x"), Error);
}

TEST(Registry, HaulPluginPathAddsFolders) {
  TempDir tmp;
  fs::copy_file(fixture("typed_hook"), tmp / "typed.so");
  setenv("HAUL_PLUGIN_PATH", (tmp.path().string() + ":/nonexistent").c_str(), 1);
  auto dirs = default_plugin_dirs();
  unsetenv("HAUL_PLUGIN_PATH");
  ASSERT_GE(dirs.size(), 2u);
  EXPECT_EQ(dirs[dirs.size() - 2], tmp.path());
  PluginRegistry reg;
  for (const auto& d : dirs) reg.load_dir(d);
  EXPECT_NE(reg.find("typed"), nullptr);
}

// ---- config validation against declared fields ----

namespace {
PluginSettings validate(const std::string& yaml) {
  static auto plugin = load_plugin(fixture("typed_hook"));
  return validate_plugin_config(*plugin, YAML::Load(yaml), "haul.yaml", "pipelines.web.hooks[0]");
}
std::string validation_error(const std::string& yaml) {
  try {
    validate(yaml);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
std::string value(const PluginSettings& s, const std::string& key) {
  for (const auto& [k, v] : s)
    if (k == key) return v;
  return "<unset>";
}
}  // namespace

TEST(ConfigSchema, ValuesAreNormalisedAndDefaultsApplied) {
  auto s = validate("{type: typed, must: x, enabled: yes, wait: 1m30s, limit: 1.5MiB, items: [a, b]}");
  EXPECT_EQ(value(s, "enabled"), "true");
  EXPECT_EQ(value(s, "wait"), "90000");
  EXPECT_EQ(value(s, "limit"), "1572864");
  EXPECT_EQ(value(s, "items"), "a\nb");
  EXPECT_EQ(value(s, "name"), "anon");
  EXPECT_EQ(value(s, "count"), "1");
  EXPECT_EQ(value(s, "type"), "<unset>") << "type belongs to the core";
}

TEST(ConfigSchema, UnknownKeyListsValidKeysWithLine) {
  std::string e = validation_error("type: typed\nmust: x\nnmae: y\n");
  EXPECT_NE(e.find("haul.yaml:3:1: pipelines.web.hooks[0]: unknown key 'nmae' for hook plugin typed — did you mean 'name'?"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("valid keys: name, enabled, count, wait, limit, items, must"), std::string::npos) << e;
}

TEST(ConfigSchema, WrongTypesAndMissingRequiredFieldsAreNamed) {
  EXPECT_NE(validation_error("{must: x, count: many}").find("count: expected an integer, got 'many'"), std::string::npos);
  EXPECT_NE(validation_error("{must: x, enabled: maybe}").find("expected true or false"), std::string::npos);
  EXPECT_NE(validation_error("{must: x, wait: soon}").find("expected a duration"), std::string::npos);
  EXPECT_NE(validation_error("{must: x, limit: lots}").find("expected a size"), std::string::npos);
  EXPECT_NE(validation_error("{must: {a: 1}}").find("expected a string value, got a map"), std::string::npos);
  EXPECT_NE(validation_error("{name: x}").find("typed needs 'must' (a required field)"), std::string::npos);
}

// ---- the exception boundary of the SDK ----

TEST(SdkBoundary, ConstructorExceptionBecomesACreateError) {
  auto plugin = load_plugin(fixture("typed_hook"));
  try {
    HookInstance h(plugin, {{"must", "x"}, {"explode_on_create", "true"}}, "web/typed");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("refused its settings: typed: refused to start as asked"), std::string::npos)
        << e.what();
  }
}

TEST(SdkBoundary, CallbackExceptionBecomesLastError) {
  auto plugin = load_plugin(fixture("typed_hook"));
  HookInstance h(plugin, {{"must", "x"}, {"explode_on_phase", "true"}}, "web/typed");
  std::vector<std::string> lines;
  haul_hook_context ctx{};
  ctx.struct_size = sizeof ctx;
  ctx.phase = HAUL_PHASE_POST;
  ctx.pipeline = ctx.event_id = ctx.manifest_url = ctx.dest = ctx.release_dir = ctx.deploy_log = ctx.error = "";
  ctx.log = [](void* c, haul_log_level, const char* m) { static_cast<std::vector<std::string>*>(c)->push_back(m); };
  ctx.log_ctx = &lines;
  try {
    h.on_phase(ctx);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "typed: exploded in post");
  }
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("typed post"), std::string::npos);
}
