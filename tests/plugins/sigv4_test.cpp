// SPDX-License-Identifier: Apache-2.0
// The SigV4 signer, stage by stage, against AWS's official test vectors
// (tests/data/sigv4, Apache-2.0, see ORIGIN.md there) and, for S3's own rules, against
// Debian's python3-botocore signing the same request.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sigv4.hpp"
#include "test_support.hpp"

using namespace haul::s3;
using namespace haul::test;

namespace {

const fs::path kVectors = HAUL_TEST_SIGV4_DIR;

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Vector {
  SigningRequest request;
  SigningParams params;
};

Vector load(const fs::path& dir) {
  auto ctx = nlohmann::json::parse(read_file(dir / "context.json"));
  std::string raw = read_file(dir / "request.txt");
  Vector v;
  size_t line_end = raw.find('\n');
  std::string first = raw.substr(0, line_end);
  v.request.method = first.substr(0, first.find(' '));
  std::string target = first.substr(first.find(' ') + 1, first.rfind(" HTTP/") - first.find(' ') - 1);
  std::string path = target.substr(0, target.find('?'));
  v.request.path = percent_decode(path);
  if (target.find('?') != std::string::npos) {
    std::string q = target.substr(target.find('?') + 1);
    size_t pos = 0;
    while (pos <= q.size()) {
      size_t amp = q.find('&', pos);
      if (amp == std::string::npos) amp = q.size();
      std::string pair = q.substr(pos, amp - pos);
      size_t eq = pair.find('=');
      v.request.query.emplace_back(percent_decode(pair.substr(0, eq)),
                                   eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1)));
      pos = amp + 1;
    }
  }
  size_t pos = line_end + 1;
  std::string body;
  while (pos < raw.size()) {
    size_t e = raw.find('\n', pos);
    std::string line = raw.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
    pos = e == std::string::npos ? raw.size() : e + 1;
    if (line.empty()) {
      body = raw.substr(pos);
      break;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !v.request.headers.empty()) {
      v.request.headers.back().second += "\n" + line;  // a folded header line
      continue;
    }
    size_t colon = line.find(':');
    v.request.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  v.request.payload_hash = haul::s3::sha256_hex(body);
  const auto& c = ctx["credentials"];
  v.params.access_key_id = c["access_key_id"];
  v.params.secret_access_key = c["secret_access_key"];
  v.params.session_token = c.value("token", "");
  v.params.region = ctx["region"];
  v.params.service = ctx["service"];
  std::string ts = ctx["timestamp"];  // 2015-08-30T12:36:00Z
  v.params.amz_date = ts.substr(0, 4) + ts.substr(5, 2) + ts.substr(8, 2) + "T" + ts.substr(11, 2) + ts.substr(14, 2) +
                      ts.substr(17, 2) + "Z";
  v.params.normalize_path = ctx.value("normalize", true);
  v.params.add_content_sha256 = ctx.value("sign_body", false);
  v.params.sign_session_token = !ctx.value("omit_session_token", false);
  return v;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

TEST(SigV4Vectors, EveryHeaderSigningVectorMatchesStageByStage) {
  ASSERT_TRUE(fs::is_directory(kVectors)) << "test vectors missing: " << kVectors;
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kVectors)) {
    if (!fs::exists(entry.path() / "header-signature.txt")) continue;
    SCOPED_TRACE(entry.path().filename().string());
    Vector v = load(entry.path());
    Signature s = sign(v.request, v.params);
    EXPECT_EQ(s.canonical_request, trimmed(read_file(entry.path() / "header-canonical-request.txt")));
    EXPECT_EQ(s.string_to_sign, trimmed(read_file(entry.path() / "header-string-to-sign.txt")));
    EXPECT_EQ(s.signature, trimmed(read_file(entry.path() / "header-signature.txt")));
    std::string signed_request = read_file(entry.path() / "header-signed-request.txt");
    size_t at = signed_request.find("Authorization:");
    ASSERT_NE(at, std::string::npos);
    std::string expected = signed_request.substr(at + 14, signed_request.find('\n', at) - at - 14);
    EXPECT_EQ(s.authorization, trimmed(expected));
    ++checked;
  }
  EXPECT_GE(checked, 30) << "expected the whole suite";
}

TEST(SigV4, S3PathsAreNotNormalizedAndEncodedOnce) {
  EXPECT_EQ(uri_encode("/a b/c+d/é", true), "/a%20b/c%2Bd/%C3%A9");
  EXPECT_EQ(uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(normalize_path("//a/./b/../c//"), "/a/c/");
  SigningRequest r{"GET", "/bucket/a//b/../c", {}, {{"Host", "s3.amazonaws.com"}}, "UNSIGNED-PAYLOAD"};
  SigningParams p{"AKID", "SECRET", "", "us-east-1", "s3", "20261126T000000Z"};
  EXPECT_NE(sign(r, p).canonical_request.find("\n/bucket/a//b/../c\n"), std::string::npos);
}

namespace {

struct BotoCase {
  std::string method, path;
  std::vector<std::pair<std::string, std::string>> query;
  std::string body, token;
};

}  // namespace

TEST(SigV4Botocore, S3RequestsSignLikeTheReferenceSdk) {
  const std::vector<BotoCase> cases = {
      {"GET", "/releases/app/20261126.tgz", {}, "", ""},
      {"GET", "/releases/with space/and+plus/ünïcode.tgz", {}, "", ""},
      {"GET", "/releases/a//b/../c.tgz", {}, "", ""},
      {"PUT", "/releases/manifest_web_production.yml", {}, "src: s3://x/y\n", "FwoGZXIvYXdzEXAMPLETOKEN/+=="},
      {"PUT", "/releases/big.tgz", {{"partNumber", "3"}, {"uploadId", "abc/def+ghi="}}, "part data", ""},
      {"POST", "/releases/big.tgz", {{"uploads", ""}}, "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path);
    nlohmann::json spec = {{"method", c.method}, {"host", "127.0.0.1:9000"}, {"path", c.path},
                           {"query", c.query}, {"body", c.body}, {"access_key", "AKIDEXAMPLE"},
                           {"secret_key", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, {"token", c.token},
                           {"region", "eu-west-1"}, {"timestamp", "20261126T101500Z"}};
    ProcessOptions o;
    o.stdin_text = spec.dump();
    auto r = run_process({"/usr/bin/python3", HAUL_TEST_SOURCE_DIR "/support/botocore_sign.py"}, o);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto boto = nlohmann::json::parse(r.out);
    SigningRequest req{c.method, c.path, c.query, {{"Host", "127.0.0.1:9000"}}, haul::s3::sha256_hex(c.body)};
    SigningParams p{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", c.token, "eu-west-1", "s3",
                    "20261126T101500Z"};
    Signature s = sign(req, p);
    EXPECT_EQ(s.canonical_request, boto["canonical_request"].get<std::string>());
    EXPECT_EQ(s.authorization, boto["authorization"].get<std::string>());
  }
}
