// SPDX-License-Identifier: Apache-2.0
#include "config/manifest.hpp"

#include <gtest/gtest.h>

#include "util/error.hpp"

using namespace haul;

namespace {
const std::string kSha = std::string(64, 'a');
std::optional<std::string> no_env(const std::string&) { return std::nullopt; }
Manifest parse(const std::string& text) { return parse_manifest(text, "s3://b/m.yml", no_env); }
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Manifest, StretcherManifestParses) {
  Manifest m = parse(R"(
src: s3://example/app.tgz
checksum: )" + std::string(64, 'A') + R"(
dest: /home/app/current
dest_mode: 0750
commands:
  pre:
    - echo pre
  post:
    - echo post
  success:
    - cat > /tmp/ok
  failure:
    - cat > /tmp/ng
excludes:
  - "*.pid"
  - tmp/
exclude_from: config/exclude.txt
sync_strategy: mv
)");
  EXPECT_EQ(m.src, "s3://example/app.tgz");
  EXPECT_EQ(m.checksum, kSha) << "checksums are case-insensitive";
  EXPECT_EQ(m.checksum_algorithm(), "sha256");
  EXPECT_EQ(m.dest, "/home/app/current");
  EXPECT_EQ(m.dest_mode, 0750u);
  EXPECT_EQ(m.commands.pre, std::vector<std::string>{"echo pre"});
  EXPECT_EQ(m.commands.failure, std::vector<std::string>{"cat > /tmp/ng"});
  EXPECT_EQ(m.excludes, (std::vector<std::string>{"*.pid", "tmp/"}));
  EXPECT_EQ(m.exclude_from, "config/exclude.txt");
  EXPECT_EQ(m.sync_strategy, SyncStrategy::mv);
}

TEST(Manifest, ChecksumAlgorithmByLength) {
  for (auto [len, algo] : std::vector<std::pair<size_t, std::string>>{
           {32, "md5"}, {40, "sha1"}, {64, "sha256"}, {128, "sha512"}}) {
    Manifest m = parse("src: file:///a.tgz\ndest: /x\nchecksum: " + std::string(len, 'f') + "\n");
    EXPECT_EQ(m.checksum_algorithm(), algo);
  }
  EXPECT_NE(error_of("src: file:///a\ndest: /x\nchecksum: abc\n").find("32, 40, 64 or 128 hex digits"),
            std::string::npos);
  EXPECT_NE(error_of("src: file:///a\ndest: /x\nchecksum: " + std::string(64, 'z') + "\n").find("checksum"),
            std::string::npos);
}

TEST(Manifest, DefaultsMatchStretcher) {
  Manifest m = parse("src: file:///a.tgz\ndest: /x\nchecksum: " + kSha + "\n");
  EXPECT_EQ(m.dest_mode, 0755u);
  EXPECT_EQ(m.sync_strategy, SyncStrategy::rsync);
}

TEST(Manifest, DestIsRequiredWithSrc) {
  EXPECT_NE(error_of("src: file:///a.tgz\nchecksum: " + kSha + "\n").find("dest: required when src is set"),
            std::string::npos);
}

TEST(Manifest, CommandsOnlyManifestNeedsNoDest) {
  Manifest m = parse("commands:\n  pre: [\"echo hi\"]\n");
  EXPECT_TRUE(m.src.empty());
  EXPECT_EQ(m.commands.pre.size(), 1u);
}

TEST(Manifest, InvalidStrategyIsNamed) {
  std::string e = error_of("src: file:///a\ndest: /x\nchecksum: " + kSha + "\nsync_strategy: scp\n");
  EXPECT_NE(e.find("s3://b/m.yml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown strategy 'scp'; expected rsync, mv or release"), std::string::npos) << e;
}

TEST(Manifest, UnquotedColonInCommandFails) {
  std::string e = error_of("commands:\n  pre:\n    - echo foo: bar\n");
  EXPECT_NE(e.find("s3://b/m.yml:3"), std::string::npos) << e;
  EXPECT_NE(e.find("commands.pre[0]: expected a string, got a map"), std::string::npos) << e;
}

TEST(Manifest, YamlSyntaxErrorHasLine) {
  std::string e = error_of("src: [unclosed\ndest: /x\n");
  EXPECT_NE(e.find("s3://b/m.yml:"), std::string::npos) << e;
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
}

TEST(Manifest, DestModeMustBeOctal) {
  EXPECT_EQ(parse("commands: {}\ndest_mode: 0o700\n").dest_mode, 0700u);
  EXPECT_EQ(parse("commands: {}\ndest_mode: \"0644\"\n").dest_mode, 0644u);
  EXPECT_NE(error_of("dest_mode: 755\n").find("ambiguous"), std::string::npos);
  EXPECT_NE(error_of("dest_mode: 0789\n").find("not an octal file mode"), std::string::npos);
}

TEST(Manifest, UnknownCommandPhaseAndFieldsAreReported) {
  EXPECT_NE(error_of("commands:\n  prepare: [x]\n").find("commands.prepare: unknown phase"), std::string::npos);
  Manifest m = parse("commands: {}\nowner: app\n");
  EXPECT_EQ(m.ignored_fields, std::vector<std::string>{"owner"});
}

TEST(Manifest, EnvTemplatingAppliesBeforeParsing) {
  auto env = [](const std::string& n) -> std::optional<std::string> {
    return n == "APP_DEST" ? std::optional<std::string>("/srv/app") : std::nullopt;
  };
  Manifest m = parse_manifest("src: file:///a\nchecksum: " + kSha + "\ndest: {{ env \"APP_DEST\" }}\n", "m", env);
  EXPECT_EQ(m.dest, "/srv/app");
}

// A typo must not silently drop what a field says: `exclude:` for
// `excludes:` would delete the files the operator meant to protect.
TEST(Manifest, NearMissFieldsAreErrorsNamingTheSuggestionAllAtOnce) {
  std::string e = error_of("src: file:///a\ndest: /x/app\nchecksum: " + kSha +
                           "\nexclude: ['*.pid']\ncomands:\n  pre: [x]\nowner: app\n");
  EXPECT_NE(e.find("s3://b/m.yml: 2 errors:"), std::string::npos) << e;
  EXPECT_NE(e.find("s3://b/m.yml:4:1: unknown field 'exclude' — did you mean 'excludes'?"), std::string::npos) << e;
  EXPECT_NE(e.find("s3://b/m.yml:5:1: unknown field 'comands' — did you mean 'commands'?"), std::string::npos) << e;
  EXPECT_EQ(e.find("owner"), std::string::npos) << "far from every field: only warned about, as stretcher did";
  e = error_of("commands:\n  psot: [x]\n");
  EXPECT_NE(e.find("commands.psot: unknown phase — did you mean 'post'?"), std::string::npos) << e;
}

TEST(Manifest, StrictRefusesEveryUnknownField) {
  ManifestChecks strict;
  strict.strict = true;
  try {
    parse_manifest("commands: {}\nowner: app\n", "m.yml", no_env, strict);
    FAIL() << "strict accepted an unknown field";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.yml:2:1: unknown field 'owner' (strict"), std::string::npos) << e.what();
  }
}

TEST(Manifest, RelativeDestAndSystemFoldersAreRefused) {
  EXPECT_NE(error_of("src: file:///a\ndest: relwww\nchecksum: " + kSha + "\n").find("dest: 'relwww' is a relative path"),
            std::string::npos);
  for (const std::string dest : {"/", "/usr", "/etc/", "/home", "/var", "/tmp", "//var/./"}) {
    SCOPED_TRACE(dest);
    std::string e = error_of("src: file:///a\ndest: " + dest + "\nchecksum: " + kSha + "\n");
    EXPECT_NE(e.find("dest: '"), std::string::npos) << e;
    EXPECT_NE(e.find("refused") == std::string::npos ? e.find("top-level system folder") : 0, std::string::npos) << e;
  }
  EXPECT_EQ(error_of("src: file:///a\ndest: /var/www/app\nchecksum: " + kSha + "\n"), "");
  EXPECT_EQ(error_of("src: file:///a\ndest: /app\nchecksum: " + kSha + "\n"), "") << "a folder of its own at depth one";
}

TEST(Manifest, DestIsTheFolderItNamesWhateverItsSlashes) {
  EXPECT_EQ(parse("src: file:///a\ndest: /var/www/app/\nchecksum: " + kSha + "\n").dest, "/var/www/app");
  EXPECT_EQ(parse("src: file:///a\ndest: /var//www/./app//\nchecksum: " + kSha + "\n").dest, "/var/www/app");
}

// Every mistake of a manifest is reported at once, each with its line — not
// only the misspelled keys, and not one per deploy.
TEST(Manifest, EveryMistakeIsReportedAtOnce) {
  const std::string text =
      "src: file:///x.tgz\nchecksum: abc\ndest: relative\nexclude: [a]\ndest_mode: 755\nsync_strategy: rsycn\n"
      "commands:\n  psot: [a]\n  pre: [echo a: b]\n";
  try {
    parse_manifest(text, "m.yml");
    FAIL() << "a manifest with seven mistakes parsed";
  } catch (const haul::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("m.yml: 7 errors:"), std::string::npos) << what;
    for (const char* part : {"m.yml:2:11: checksum:", "m.yml:3:7: dest: 'relative' is a relative path",
                             "m.yml:4:1: unknown field 'exclude'", "m.yml:5:12: dest_mode: '755' is ambiguous",
                             "m.yml:6:16: sync_strategy: unknown strategy 'rsycn'", "m.yml:8:3: commands.psot",
                             "m.yml:9:9: commands.pre[0]: expected a string, got a map"})
      EXPECT_NE(what.find(part), std::string::npos) << part << "\n" << what;
  }
}
