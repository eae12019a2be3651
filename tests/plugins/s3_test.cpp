// SPDX-License-Identifier: Apache-2.0
// The s3 source: the credential chain (with a fake metadata server on
// 127.0.0.1), and the client and the whole haul binary against a real
// S3-compatible server, s3rver (npm), which also checks our signatures.
#include <gtest/gtest.h>

#include "aws_credentials.hpp"
#include "http_stub_server.hpp"
#include "s3_client.hpp"
#include "test_support.hpp"

using namespace haul::s3;
using namespace haul::test;

namespace {

Environment env_of(std::map<std::string, std::string> vars) {
  // Never the real environment: and never real instance metadata.
  vars.emplace("AWS_EC2_METADATA_DISABLED", "true");
  vars.emplace("HOME", "/nonexistent-home");
  return environment_of(std::move(vars));
}

std::string chain_error(CredentialChain& chain) {
  try {
    chain.get();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(AwsCredentials, PrecedenceConfigThenEnvironmentThenFiles) {
  TempDir tmp;
  write_file(tmp / "credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n"
                                  "[ci]\naws_access_key_id=CIKEY\naws_secret_access_key=cisecret\naws_session_token=citoken\n");
  std::map<std::string, std::string> vars = {{"AWS_SHARED_CREDENTIALS_FILE", (tmp / "credentials").string()},
                                             {"AWS_ACCESS_KEY_ID", "ENVKEY"}, {"AWS_SECRET_ACCESS_KEY", "envsecret"},
                                             {"AWS_SESSION_TOKEN", "envtoken"}};
  CredentialSettings from_config;
  from_config.access_key_id = "CFGKEY";
  from_config.secret_access_key = "cfgsecret";
  EXPECT_EQ(CredentialChain(from_config, env_of(vars)).get().access_key_id, "CFGKEY");
  Credentials env = CredentialChain({}, env_of(vars)).get();
  EXPECT_EQ(env.access_key_id, "ENVKEY");
  EXPECT_EQ(env.session_token, "envtoken");
  vars.erase("AWS_ACCESS_KEY_ID");
  vars.erase("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(CredentialChain({}, env_of(vars)).get().access_key_id, "FILEKEY");
  vars["AWS_PROFILE"] = "ci";
  Credentials ci = CredentialChain({}, env_of(vars)).get();
  EXPECT_EQ(ci.access_key_id, "CIKEY");
  EXPECT_EQ(ci.session_token, "citoken");
  EXPECT_NE(ci.source.find("profile ci"), std::string::npos);
}

TEST(AwsCredentials, ConfigFileProfilesAndRegion) {
  TempDir tmp;
  write_file(tmp / "config", "[default]\nregion = ap-northeast-1\n[profile web]\nregion=eu-west-1\n"
                             "aws_access_key_id = WEBKEY\naws_secret_access_key = websecret\n");
  auto env = env_of({{"AWS_CONFIG_FILE", (tmp / "config").string()}, {"AWS_PROFILE", "web"}});
  EXPECT_EQ(CredentialChain({}, env).get().access_key_id, "WEBKEY");
  EXPECT_EQ(resolve_region(env, ""), "eu-west-1");
  EXPECT_EQ(resolve_region(env, "default"), "ap-northeast-1");
  EXPECT_EQ(resolve_region(env_of({{"AWS_REGION", "us-west-2"}, {"AWS_DEFAULT_REGION", "x"}}), ""), "us-west-2");
  EXPECT_EQ(resolve_region(env_of({{"AWS_DEFAULT_REGION", "sa-east-1"}}), ""), "sa-east-1");
}

TEST(AwsCredentials, ContainerCredentialsWithAuthorizationToken) {
  HttpStubServer server([](const StubRequest& r) {
    if (r.headers.count("authorization") == 0 || r.headers.at("authorization") != "Bearer secret-token")
      return StubResponse{401, "no token"};
    return StubResponse{200, R"({"AccessKeyId":"ECSKEY","SecretAccessKey":"ecssecret","Token":"ecstoken",)"
                             R"("Expiration":"2099-01-01T00:00:00Z"})"};
  });
  auto env = env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url("/v2/credentials/abc")},
                     {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer secret-token"}});
  CredentialChain chain({}, env);
  Credentials c = chain.get();
  EXPECT_EQ(c.access_key_id, "ECSKEY");
  EXPECT_EQ(c.session_token, "ecstoken");
  chain.get();
  EXPECT_EQ(server.requests().size(), 1u) << "cached until shortly before expiry";
}

TEST(AwsCredentials, InstanceMetadataV2TokenRoleCredentialsAndRefresh) {
  int credential_fetches = 0;
  HttpStubServer imds([&](const StubRequest& r) {
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      if (r.headers.count("x-aws-ec2-metadata-token-ttl-seconds") == 0) return StubResponse{400, ""};
      return StubResponse{200, "TOKEN123"};
    }
    if (r.headers.count("x-aws-ec2-metadata-token") == 0 || r.headers.at("x-aws-ec2-metadata-token") != "TOKEN123")
      return StubResponse{401, ""};
    if (r.target == "/latest/meta-data/iam/security-credentials/") return StubResponse{200, "deploy-role\n"};
    if (r.target == "/latest/meta-data/iam/security-credentials/deploy-role") {
      ++credential_fetches;
      // Expires within the 5-minute refresh margin: every get() refreshes.
      return StubResponse{200, R"({"Code":"Success","AccessKeyId":"EC2KEY)" + std::to_string(credential_fetches) +
                                   R"(","SecretAccessKey":"s","Token":"t","Expiration":"2000-01-01T00:00:00Z"})"};
    }
    return StubResponse{404, ""};
  });
  auto env = env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()}, {"AWS_EC2_METADATA_DISABLED", "false"}});
  CredentialChain chain({}, env);
  EXPECT_EQ(chain.get().access_key_id, "EC2KEY1");
  EXPECT_EQ(chain.get().access_key_id, "EC2KEY2") << "expired credentials are fetched again";
  auto reqs = imds.requests();
  ASSERT_GE(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].method, "PUT") << "IMDSv2: the token comes first";
}

TEST(AwsCredentials, NothingConfiguredListsWhereItLooked) {
  CredentialChain chain({}, env_of({}));
  std::string e = chain_error(chain);
  EXPECT_NE(e.find("no AWS credentials found"), std::string::npos) << e;
  EXPECT_NE(e.find("instance metadata"), std::string::npos) << e;
  CredentialChain half({}, env_of({{"AWS_ACCESS_KEY_ID", "AKID"}}));
  EXPECT_NE(chain_error(half).find("AWS_SECRET_ACCESS_KEY is not"), std::string::npos);
}

// Off EC2 a metadata endpoint may answer 403: that is one place without
// credentials, not the answer.
TEST(AwsCredentials, AMetadataServiceThatRefusesIsOnePlaceTriedNotTheError) {
  HttpStubServer imds([&](const StubRequest&) { return StubResponse{403, ""}; });
  CredentialChain chain({}, env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()}, {"AWS_EC2_METADATA_DISABLED", "false"}}));
  std::string e = chain_error(chain);
  EXPECT_EQ(e.rfind("no AWS credentials found; tried the pipeline config", 0), 0u) << e;
  EXPECT_NE(e.find("AWS_ACCESS_KEY_ID: none"), std::string::npos) << e;
  EXPECT_NE(e.find("EC2 instance metadata: instance metadata token request (IMDSv2) answered HTTP 403"), std::string::npos)
      << e;
}

TEST(S3Url, ParsesBucketAndKey) {
  auto loc = parse_s3_url("s3://bucket/path/to/app.tgz");
  EXPECT_EQ(loc.bucket, "bucket");
  EXPECT_EQ(loc.key, "path/to/app.tgz");
  EXPECT_THROW(parse_s3_url("s3://bucket"), std::runtime_error);
  EXPECT_THROW(parse_s3_url("s3:///key"), std::runtime_error);
}

// ---- against s3rver ----

class S3rver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new S3rverServer("releases"); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::string endpoint() { return server_->endpoint(); }
  static std::map<std::string, std::string> aws_env() { return server_->aws_env(); }
  static S3Client client(const std::string& secret = "S3RVER", uint64_t threshold = 64ull << 20,
                         const std::string& key_id = "S3RVER", const std::string& at = "") {
    S3Config c;
    c.endpoint = at.empty() ? endpoint() : at;
    c.region = "us-east-1";
    c.multipart_threshold = threshold;
    c.part_size = 5ull << 20;
    CredentialSettings creds;
    creds.access_key_id = key_id;
    creds.secret_access_key = secret;
    return S3Client(c, std::make_shared<CredentialChain>(creds, env_of({})));
  }
  static std::string get(S3Client& c, const std::string& url, uint64_t offset = 0) {
    return collect_bytes([&](haul::sdk::Sink& sink) { c.get(parse_s3_url(url), offset, sink); });
  }
  static S3rverServer* server_;
};
S3rverServer* S3rver::server_ = nullptr;

TEST_F(S3rver, PutAndGetKeysThatNeedEncoding) {
  S3Client c = client();
  for (std::string key : {"app/20261126.tgz", "with space/and+plus=equals.txt", "ünïcode/ファイル.txt"}) {
    SCOPED_TRACE(key);
    c.put({"releases", key}, "body of " + key);
    EXPECT_EQ(get(c, "s3://releases/" + key), "body of " + key);
  }
}

TEST_F(S3rver, RangeResumeDeliversTheRest) {
  S3Client c = client();
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  c.put({"releases", "range.bin"}, data);
  EXPECT_EQ(get(c, "s3://releases/range.bin", 40000), data.substr(40000));
}

TEST_F(S3rver, MultipartUploadAboveTheThreshold) {
  TempDir tmp;
  const std::string data = random_bytes(12 << 20, 1);
  write_file(tmp / "big.bin", data);
  S3Client c = client("S3RVER", 6 << 20);
  std::string etag = c.put_file({"releases", "big.bin"}, (tmp / "big.bin").string());
  EXPECT_EQ(c.last_upload_parts(), 3) << "12 MiB in parts of 5 MiB";
  EXPECT_FALSE(etag.empty());
  EXPECT_EQ(sha256_hex(get(c, "s3://releases/big.bin")), sha256_hex(data));
}

TEST_F(S3rver, ErrorsNameBucketAndKeyAndNeverTheSecret) {
  S3Client c = client();
  std::string e = error_of([&] { get(c, "s3://releases/missing.tgz"); });
  EXPECT_NE(e.find("GET s3://releases/missing.tgz: no such key (HTTP 404 NoSuchKey)"), std::string::npos) << e;
  e = error_of([&] { get(c, "s3://no-such-bucket/app.tgz"); });
  EXPECT_NE(e.find("bucket 'no-such-bucket' does not exist (HTTP 404 NoSuchBucket)"), std::string::npos) << e;
  c.put({"releases", "signed.txt"}, "x");
  S3Client bad = client("wrong-secret-value", 64ull << 20, "AKIAWRONGKEY");
  e = error_of([&] { get(bad, "s3://releases/signed.txt"); });
  EXPECT_NE(e.find("the access key id AKIAWRONGKEY does not exist (HTTP 403 InvalidAccessKeyId)"), std::string::npos) << e;
  EXPECT_EQ(e.find("wrong-secret-value"), std::string::npos) << "the secret never appears: " << e;
}

// s3rver does not verify V4 signatures (the vectors and botocore prove the
// signer); S3's other answers are replayed here by a stub, as S3 words them.
TEST_F(S3rver, S3ErrorDocumentsBecomeActionableMessages) {
  struct Case {
    int status;
    std::string body;
    std::map<std::string, std::string> headers;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {403, "<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>", {},
       "signature rejected (HTTP 403 SignatureDoesNotMatch) for access key S3RVER; check the secret access key"},
      {403, "<Error><Code>AccessDenied</Code></Error>", {}, "access denied (HTTP 403 AccessDenied) for access key S3RVER"},
      {403, "<Error><Code>RequestTimeTooSkewed</Code></Error>", {}, "request time too skewed (HTTP 403 RequestTimeTooSkewed)"},
      {301, "<Error><Code>PermanentRedirect</Code></Error>", {{"x-amz-bucket-region", "eu-central-1"}},
       "bucket releases is in region eu-central-1, not us-east-1; set region: eu-central-1"},
      {503, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>", {},
       "HTTP 503 SlowDown: Please reduce your request rate."},
  };
  for (const auto& c : cases) {
    HttpStubServer stub([&](const StubRequest&) { return StubResponse{c.status, c.body, c.headers}; });
    S3Client s3 = client("S3RVER", 64ull << 20, "S3RVER", stub.url());
    std::string e = error_of([&] { get(s3, "s3://releases/app.tgz"); });
    EXPECT_NE(e.find("GET s3://releases/app.tgz: " + c.expected), std::string::npos) << e;
    EXPECT_EQ(e.find("S3RVER/"), std::string::npos) << "no credential scope or signature in messages";
  }
}

TEST_F(S3rver, ListingFollowsEveryPageAndRemoveIsIdempotent) {
  S3Client c = client();
  for (const std::string key : {"gc/a.txt", "gc/chunks/ab/ab1.zst", "gc/chunks/cd/cd2.zst", "gc/r1/app.index", "other/x"})
    c.put({"releases", key}, "body of " + key);
  auto keys = [&] {
    std::map<std::string, uint64_t> out;
    for (const auto& o : c.list(parse_s3_prefix("s3://releases/gc/"), 2)) {  // 2 a page: three pages
      EXPECT_GT(o.last_modified_unix, 1700000000) << o.key;
      out[o.key] = o.size;
    }
    return out;
  };
  const auto all = keys();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all.at("gc/chunks/ab/ab1.zst"), std::string("body of gc/chunks/ab/ab1.zst").size());
  c.remove({"releases", "gc/chunks/ab/ab1.zst"});
  c.remove({"releases", "gc/chunks/ab/ab1.zst"});  // already gone: not an error
  EXPECT_EQ(keys().size(), 3u);
  EXPECT_EQ(keys().count("gc/chunks/ab/ab1.zst"), 0u);
}

TEST_F(S3rver, ChunkedReleasesPublishDeployAndCollectOnS3) {
  TempDir tmp;
  ProcessOptions o;
  o.env = aws_env();
  o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "AWS_PROFILE"};
  auto haul = [&](std::vector<std::string> args) {
    args.insert(args.begin(), haul_binary().string());
    return run_process(args, o);
  };
  const fs::path dest = tmp / "dest";
  for (const std::string release : {"r1", "r2"}) {
    write_file(tmp / "app/VERSION", release);
    write_file(tmp / "app/lib/big.bin", std::string(300000, 'x') + release);
    auto r = haul({"pack", (tmp / "app").string(), "--chunked", "-o", (tmp / release / "app.index").string(),
                   "--chunk-store", (tmp / "chunkstore").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = haul({"publish", (tmp / release / "app.index").string(), "--to", "s3://releases/delta", "--role", "web",
              "--stage", "prod", "--dest", dest.string(), "--release", release});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = haul({"deploy", "s3://releases/delta/manifest_web_prod.yml"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(dest / "VERSION"), release);
  }
  auto r = haul({"gc", "--store", "s3://releases/delta", "--keep", "1", "--min-age", "0s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // r2's index went up as a delta of r1's: that index stays, r1's own chunks (VERSION, the tail of big.bin) go.
  EXPECT_NE(r.out.find("removed 0 release(s), 2 chunk(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("and the index of 1 release(s) a kept release's index is a delta of"), std::string::npos) << r.out;
  S3Client c = client();
  for (const auto& obj : c.list(parse_s3_prefix("s3://releases/delta/")))
    if (obj.key.find("delta/r1/") == 0) EXPECT_EQ(obj.key, "delta/r1/app.index");
  fs::remove_all(dest);
  fs::remove_all(tmp / ".haul-dest.indexes");  // a new machine: r1's index is fetched to make r2's
  r = haul({"deploy", "s3://releases/delta/manifest_web_prod.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("is a delta of s3://releases/delta/r1/app.index: fetching that"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dest / "lib/big.bin"), std::string(300000, 'x') + "r2");
}

TEST_F(S3rver, HaulDeploysWithManifestAndSrcOnS3) {
  TempDir tmp;
  S3Client c = client();
  const std::string tar = make_tar({file_entry("index.html", "from s3")});
  c.put({"releases", "web/app.tgz"}, tar);
  const fs::path dest = tmp / "dest";
  c.put({"releases", "web/manifest.yml"}, "src: s3://releases/web/app.tgz\nchecksum: " + sha256_hex(tar) +
                                               "\ndest: " + dest.string() + "\n");
  ProcessOptions o;
  o.stdin_text = "s3://releases/web/manifest.yml\n";
  o.env = aws_env();
  o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "AWS_PROFILE"};
  auto r = run_process({haul_binary().string()}, o);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "from s3");
  EXPECT_EQ(r.err.find("S3RVER\n"), std::string::npos);

  o.stdin_text = "s3://releases/web/nothing.yml\n";
  r = run_process({haul_binary().string()}, o);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("GET s3://releases/web/nothing.yml: no such key"), std::string::npos) << r.err;
}

// An object replaced between a cut download and its resume (a publish
// landing between two attempts), through a proxy that cuts the first GET
// and holds the resume until the new object is in: haul fetch -o FILE ends
// with the new object whole — never the old one's head on the new one's
// tail. (s3rver ignores If-Match; the ETag of the answer is checked too.)
TEST_F(S3rver, AnObjectReplacedBetweenTheCutAndTheResumeIsFetchedWholeNeverSpliced) {
  TempDir tmp;
  S3Client c = client();
  const std::string v1 = random_bytes(300'000, 1), v2 = random_bytes(300'000, 2);
  c.put({"releases", "moving.bin"}, v1);
  CutProxy proxy(endpoint());
  proxy.cut("/releases/moving.bin", 100'000);
  auto env = aws_env();
  env["AWS_ENDPOINT_URL"] = proxy.endpoint();
  BackgroundProcess fetch({haul_binary().string(), "fetch", "s3://releases/moving.bin", "-o", (tmp / "out.bin").string(),
                           "--retry", "2", "--retry-wait", "10ms"},
                          tmp / "haul.log", env);
  ASSERT_TRUE(wait_until([&] { return proxy.held() > 0 || !fetch.running(); })) << read_file(tmp / "haul.log");
  ASSERT_TRUE(proxy.was_cut()) << read_file(tmp / "haul.log");
  c.put({"releases", "moving.bin"}, v2);
  proxy.release();
  const auto exit_code = fetch.wait_exit(std::chrono::seconds(60));
  const std::string log = read_file(tmp / "haul.log");
  ASSERT_EQ(exit_code, 0) << log;
  EXPECT_EQ(sha256_file(tmp / "out.bin"), sha256_hex(v2)) << "the new object, whole: " << log;
  EXPECT_NE(log.find("GET s3://releases/moving.bin: the object's ETag changed since the download started"),
            std::string::npos)
      << log;
}
