// SPDX-License-Identifier: Apache-2.0
#include "config/env_template.hpp"

#include <gtest/gtest.h>

#include "util/error.hpp"

using namespace haul;

namespace {
std::optional<std::string> fake_env(const std::string& name) {
  if (name == "STAGE") return std::string("production");
  if (name == "EMPTY") return std::string("");
  return std::nullopt;
}
std::string render(const std::string& text) { return render_env_template(text, "m.yml", fake_env); }
}  // namespace

TEST(EnvTemplate, EnvWithAndWithoutDefault) {
  EXPECT_EQ(render("dest: /srv/{{ env \"STAGE\" }}"), "dest: /srv/production");
  EXPECT_EQ(render("x: {{ env \"MISSING\" \"fallback\" }}"), "x: fallback");
  EXPECT_EQ(render("x: {{env \"MISSING\"}}!"), "x: !");
  EXPECT_EQ(render("x: {{ env \"EMPTY\" \"d\" }}"), "x: ");
}

TEST(EnvTemplate, MustEnvFailsWithLineAndName) {
  EXPECT_EQ(render("{{ must_env \"STAGE\" }}"), "production");
  try {
    render("a: 1\nb: {{ must_env \"SLACK_URL\" }}\n");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.yml:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("SLACK_URL is not set"), std::string::npos) << e.what();
  }
}

TEST(EnvTemplate, UnknownFunctionsAndSyntaxErrorsAreRejected) {
  EXPECT_THROW(render("{{ exec \"rm\" }}"), Error);
  EXPECT_THROW(render("{{ env STAGE }}"), Error);
  EXPECT_THROW(render("{{ env \"STAGE }}"), Error);
  EXPECT_THROW(render("{{ env \"STAGE\" "), Error);
}

TEST(EnvTemplate, TextWithoutTemplatesIsUntouched) {
  EXPECT_EQ(render("plain: text { not } a template"), "plain: text { not } a template");
}
