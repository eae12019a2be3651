// SPDX-License-Identifier: Apache-2.0
// The gcs source: Application Default Credentials, the JSON API client and
// the haul binary against the project's Cloud Storage double
// (tests/servers/gcs_double.py), which checks haul's service-account JWTs with
// PyJWT and its HMAC signatures with botocore — code that is not haul's.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gcs_client.hpp"
#include "google_credentials.hpp"
#include "http_stub_server.hpp"
#include "test_support.hpp"

using namespace haul::gcs;
using namespace haul::test;

namespace {

Environment env_of(std::map<std::string, std::string> vars) {
  // Never the real environment, never a real metadata server.
  vars.emplace("NO_GCE_CHECK", "true");
  vars.emplace("HOME", "/nonexistent-home");
  return environment_of(std::move(vars));
}

GoogleCredentialSettings key_file(const fs::path& path) {
  GoogleCredentialSettings s;
  s.credentials_file = path.string();
  return s;
}

std::string token_error(GoogleCredentials& creds) {
  return error_of([&] { creds.get(); });
}

// Every secret a key file holds, so a test can check none leaked into text.
std::vector<std::string> secrets_of(const fs::path& key_file) {
  auto j = nlohmann::json::parse(read_file(key_file));
  std::vector<std::string> out;
  for (const char* k : {"client_secret", "refresh_token"})
    if (j.contains(k)) out.push_back(j[k].get<std::string>());
  if (j.contains("private_key")) {
    std::string pem = j["private_key"].get<std::string>();
    out.push_back(pem.substr(pem.find('\n') + 1, 40));  // a line of the key itself
  }
  return out;
}

void expect_no_secret(const std::string& text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) EXPECT_EQ(text.find(s), std::string::npos) << "a secret leaked: " << text;
  EXPECT_EQ(text.find("ya29."), std::string::npos) << "an access token leaked: " << text;
}

std::string get(GcsClient& c, const std::string& url, uint64_t offset = 0, const std::string& generation = "",
                std::string* generation_out = nullptr) {
  return collect_bytes([&](haul::sdk::Sink& sink) {
    std::string g = c.get(parse_gs_url(url), offset, sink);
    if (generation_out) *generation_out = g;
  }, generation);
}

}  // namespace

TEST(GsUrl, ParsesBucketAndObject) {
  auto loc = parse_gs_url("gs://bucket/path/to/app.tgz");
  EXPECT_EQ(loc.bucket, "bucket");
  EXPECT_EQ(loc.object, "path/to/app.tgz");
  EXPECT_EQ(loc.url(), "gs://bucket/path/to/app.tgz");
  EXPECT_NE(error_of([] { parse_gs_url("gs://bucket"); }).find("expected gs://BUCKET/OBJECT"), std::string::npos);
  EXPECT_THROW(parse_gs_url("gs:///object"), std::runtime_error);
  EXPECT_THROW(parse_gs_url("s3://bucket/object"), std::runtime_error);
}

// ---- credentials ----

TEST(GoogleCredentials, AServiceAccountJwtIsAcceptedByAnIndependentVerifierAndCached) {
  GcsDouble gcs;
  GoogleCredentials creds(key_file(gcs.service_account()), env_of({}));
  AccessToken t = creds.get();
  EXPECT_EQ(t.token.rfind("ya29.double-", 0), 0u) << "PyJWT verified signature, kid, iss, aud, scope and lifetime";
  EXPECT_NE(t.identity.find("service account deployer@haul-test.iam.gserviceaccount.com"), std::string::npos) << t.identity;
  EXPECT_EQ(creds.get().token, t.token);
  EXPECT_EQ(gcs.count("POST", "/token"), 1) << "cached until shortly before it expires";
  creds.invalidate(t.token);
  EXPECT_NE(creds.get().token, t.token) << "a refused token is fetched again";
  EXPECT_EQ(gcs.count("POST", "/token"), 2);
}

TEST(GoogleCredentials, ATokenAboutToExpireIsFetchedAgain) {
  GcsDouble::Options o;
  o.token_lifetime_s = 60;  // inside the refresh margin: never good enough to reuse
  GcsDouble gcs(o);
  GoogleCredentials creds(key_file(gcs.service_account()), env_of({}));
  std::string first = creds.get().token;
  EXPECT_NE(creds.get().token, first);
  EXPECT_EQ(gcs.count("POST", "/token"), 2);
}

TEST(GoogleCredentials, AKeyTheServerDoesNotKnowIsRefusedWithGooglesReasonAndNoSecret) {
  GcsDouble gcs;
  TempDir tmp;
  auto r = run_process({"/usr/bin/openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                        (tmp / "other.pem").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto key = nlohmann::json::parse(read_file(gcs.service_account()));
  key["private_key"] = read_file(tmp / "other.pem");
  write_file(tmp / "stale-key.json", key.dump());
  GoogleCredentials creds(key_file(tmp / "stale-key.json"), env_of({}));
  std::string e = token_error(creds);
  EXPECT_NE(e.find("refused the assertion of service account deployer@haul-test.iam.gserviceaccount.com (credentials_file " +
                   (tmp / "stale-key.json").string() + "): HTTP 400 invalid_grant: Invalid JWT Signature."),
            std::string::npos)
      << e;
  expect_no_secret(e, secrets_of(tmp / "stale-key.json"));

  key["private_key"] = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  write_file(tmp / "broken.json", key.dump());
  GoogleCredentials broken(key_file(tmp / "broken.json"), env_of({}));
  e = token_error(broken);
  EXPECT_NE(e.find((tmp / "broken.json").string() + ": private_key is not a PEM private key"), std::string::npos) << e;
  EXPECT_EQ(e.find("not a key"), std::string::npos) << e;
  key.erase("client_email");
  write_file(tmp / "no-email.json", key.dump());
  GoogleCredentials no_email(key_file(tmp / "no-email.json"), env_of({}));
  EXPECT_NE(token_error(no_email).find("no-email.json: field \"client_email\" is missing or not a string"), std::string::npos);
}

TEST(GoogleCredentials, GcloudsAuthorizedUserFileExchangesItsRefreshToken) {
  GcsDouble gcs;
  TempDir gcloud;
  fs::copy_file(gcs.authorized_user(), gcloud / "application_default_credentials.json");
  GoogleCredentials creds({}, env_of({{"CLOUDSDK_CONFIG", gcloud.path().string()}}));
  AccessToken t = creds.get();
  EXPECT_EQ(t.token.rfind("ya29.double-", 0), 0u);
  EXPECT_NE(t.identity.find("gcloud's application default credentials"), std::string::npos) << t.identity;

  auto user = nlohmann::json::parse(read_file(gcs.authorized_user()));
  user["refresh_token"] = "1//revoked-refresh-token";
  write_file(gcloud / "application_default_credentials.json", user.dump());
  GoogleCredentials revoked({}, env_of({{"CLOUDSDK_CONFIG", gcloud.path().string()}}));
  std::string e = token_error(revoked);
  EXPECT_NE(e.find("refused the refresh token of user credentials"), std::string::npos) << e;
  EXPECT_NE(e.find("HTTP 400 invalid_grant"), std::string::npos) << e;
  EXPECT_NE(e.find("gcloud auth application-default login"), std::string::npos) << e;
  expect_no_secret(e, {"1//revoked-refresh-token", user["client_secret"].get<std::string>()});
}

TEST(GoogleCredentials, TheFirstPlaceConfiguredDecidesInGooglesOrder) {
  GcsDouble gcs;
  TempDir gcloud;
  fs::copy_file(gcs.authorized_user(), gcloud / "application_default_credentials.json");
  std::map<std::string, std::string> vars = {{"GOOGLE_APPLICATION_CREDENTIALS", gcs.service_account().string()},
                                             {"CLOUDSDK_CONFIG", gcloud.path().string()}};
  // the pipeline config beats the environment
  GoogleCredentials from_config(key_file(gcs.service_account()), env_of({{"GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent.json"}}));
  EXPECT_NE(from_config.get().identity.find("credentials_file"), std::string::npos);
  // the environment beats gcloud's file
  GoogleCredentials from_env({}, env_of(vars));
  EXPECT_NE(from_env.get().identity.find("GOOGLE_APPLICATION_CREDENTIALS="), std::string::npos);
  // a variable naming a missing file is the answer, not a reason to act as someone else
  vars["GOOGLE_APPLICATION_CREDENTIALS"] = "/nonexistent/key.json";
  GoogleCredentials missing({}, env_of(vars));
  EXPECT_NE(token_error(missing).find("GOOGLE_APPLICATION_CREDENTIALS=/nonexistent/key.json: cannot read the file"),
            std::string::npos);
  // gcloud's file when nothing else is set
  vars.erase("GOOGLE_APPLICATION_CREDENTIALS");
  GoogleCredentials from_gcloud({}, env_of(vars));
  EXPECT_NE(from_gcloud.get().identity.find("user credentials"), std::string::npos);
  // a key type haul cannot use is named
  write_file(gcloud / "application_default_credentials.json", R"({"type": "external_account"})");
  GoogleCredentials external({}, env_of(vars));
  EXPECT_NE(token_error(external).find("credentials of type \"external_account\" are not supported"), std::string::npos);
}

TEST(GoogleCredentials, TheMetadataServerIsAskedWithItsFlavorHeader) {
  GcsDouble gcs;
  std::string host = gcs.endpoint().substr(std::string("http://").size());
  GoogleCredentials creds({}, env_of({{"GCE_METADATA_HOST", host}, {"NO_GCE_CHECK", "false"}}));
  AccessToken t = creds.get();
  EXPECT_EQ(t.token.rfind("ya29.double-", 0), 0u) << "the double answers 403 without Metadata-Flavor: Google";
  EXPECT_NE(t.identity.find("the default service account of the metadata server " + host), std::string::npos);

  // Something else answering at that name is not a metadata server.
  HttpStubServer impostor([](const StubRequest&) { return StubResponse{200, R"({"access_token": "x"})"}; });
  GoogleCredentials fooled({}, env_of({{"GCE_METADATA_HOST", impostor.url().substr(7)}, {"NO_GCE_CHECK", "false"}}));
  std::string e = token_error(fooled);
  EXPECT_NE(e.find("answered without Metadata-Flavor: Google (not a metadata server)"), std::string::npos) << e;
}

TEST(GoogleCredentials, NothingConfiguredListsWhereItLookedAndWhatToDo) {
  GoogleCredentials creds({}, env_of({}));
  std::string e = token_error(creds);
  EXPECT_EQ(e.rfind("no Google credentials found; tried credentials_file in the pipeline config: none; "
                    "GOOGLE_APPLICATION_CREDENTIALS: not set; /nonexistent-home/.config/gcloud/"
                    "application_default_credentials.json: none; the metadata server: skipped (NO_GCE_CHECK)", 0),
            0u)
      << e;
  EXPECT_NE(e.find("Set GOOGLE_APPLICATION_CREDENTIALS"), std::string::npos) << e;
}

// ---- the JSON API client ----

class GcsJson : public ::testing::Test {
 protected:
  void SetUp() override { creds_ = std::make_shared<GoogleCredentials>(key_file(gcs_.service_account()), env_of({})); }
  GcsClient client(uint64_t threshold = 8ull << 20, uint64_t chunk = 256 * 1024) {
    GcsConfig c;
    c.endpoint = gcs_.endpoint();
    c.resumable_threshold = threshold;
    c.chunk_size = chunk;
    c.recovery_wait = std::chrono::milliseconds(10);
    return GcsClient(c, creds_);
  }
  GcsDouble gcs_;
  std::shared_ptr<GoogleCredentials> creds_;
};

TEST_F(GcsJson, DownloadsObjectsWhoseNamesNeedEncodingAndResumesFromAnOffset) {
  GcsClient c = client();
  for (std::string name : {"app/20261126.tgz", "with space/and+plus=equals?.txt", "ünïcode/ファイル.txt"}) {
    SCOPED_TRACE(name);
    gcs_.put("releases", name, "body of " + name);
    EXPECT_EQ(get(c, "gs://releases/" + name), "body of " + name);
  }
  const std::string data = random_bytes(100000, 7);
  gcs_.put("releases", "range.bin", data);
  std::string generation;
  EXPECT_EQ(get(c, "gs://releases/range.bin", 0, "", &generation), data);
  EXPECT_FALSE(generation.empty());
  EXPECT_EQ(get(c, "gs://releases/range.bin", 40000, generation), data.substr(40000));
}

TEST_F(GcsJson, ListingFollowsEveryPageAndDeleteIsIdempotent) {
  GcsClient c = client();
  for (const std::string name : {"gc/a.txt", "gc/chunks/ab/ab1.zst", "gc/chunks/cd/cd2.zst", "gc/r1/app.index", "other/x"})
    gcs_.put("releases", name, "body of " + name);
  auto names = [&] {
    std::map<std::string, uint64_t> out;
    for (const auto& o : c.list(parse_gs_prefix("gs://releases/gc/"), 2)) {  // 2 a page: three pages
      EXPECT_GT(o.updated_unix, 1700000000) << o.name;
      out[o.name] = o.size;
    }
    return out;
  };
  const auto all = names();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all.at("gc/r1/app.index"), std::string("body of gc/r1/app.index").size());
  c.remove({"releases", "gc/r1/app.index"});
  c.remove({"releases", "gc/r1/app.index"});  // already gone: not an error
  EXPECT_EQ(names().count("gc/r1/app.index"), 0u);
  EXPECT_EQ(names().size(), 3u);
}

TEST_F(GcsJson, AResumeAfterTheObjectChangedIsRefused) {
  GcsClient c = client();
  gcs_.put("releases", "moving.bin", random_bytes(5000, 7));
  std::string generation;
  get(c, "gs://releases/moving.bin", 0, "", &generation);
  gcs_.put("releases", "moving.bin", "a newer release");
  EXPECT_THROW(get(c, "gs://releases/moving.bin", 1000, generation), haul::sdk::ObjectChanged);
}

TEST_F(GcsJson, ErrorsNameTheObjectTheStatusAndGooglesReasonAndNoSecret) {
  GcsClient c = client();
  gcs_.put("releases", "app.tgz", "x");
  std::string e = error_of([&] { get(c, "gs://releases/missing.tgz"); });
  EXPECT_NE(e.find("GET gs://releases/missing.tgz: no such object in bucket releases, or no such bucket (HTTP 404 notFound)"
                   " (Google: No such object: releases/missing.tgz)"),
            std::string::npos)
      << e;
  e = error_of([&] { get(c, "gs://nobucket/app.tgz"); });
  EXPECT_NE(e.find("(Google: The specified bucket does not exist.)"), std::string::npos) << e;
  struct Case {
    int status;
    std::string reason, expected;
  };
  for (const Case& k : std::vector<Case>{
           {403, "forbidden",
            "permission denied (HTTP 403 forbidden) for service account deployer@haul-test.iam.gserviceaccount.com "
            "(credentials_file " + gcs_.service_account().string() + "); grant it roles/storage.objectViewer on bucket releases"},
           {429, "rateLimitExceeded", "rate limited (HTTP 429 rateLimitExceeded); Google asks to slow down"},
           {503, "backendError", "HTTP 503 backendError (Google: injected by the test: backendError)"}}) {
    gcs_.fail("/o/app.tgz", k.status, k.reason);
    e = error_of([&] { get(c, "gs://releases/app.tgz"); });
    EXPECT_NE(e.find("GET gs://releases/app.tgz: " + k.expected), std::string::npos) << e;
    expect_no_secret(e, secrets_of(gcs_.service_account()));
  }
  EXPECT_EQ(get(c, "gs://releases/app.tgz"), "x") << "each fault was served once";
}

TEST_F(GcsJson, ARevokedTokenIsReplacedOnceAndARefusalAfterThatIsAnError) {
  GcsClient c = client();
  gcs_.put("releases", "app.tgz", "x");
  EXPECT_EQ(get(c, "gs://releases/app.tgz"), "x");
  gcs_.revoke();
  EXPECT_EQ(get(c, "gs://releases/app.tgz"), "x");
  EXPECT_EQ(gcs_.count("POST", "/token"), 2);
  gcs_.fail("/o/app.tgz", 401, "authError", 2);
  std::string e = error_of([&] { get(c, "gs://releases/app.tgz"); });
  EXPECT_NE(e.find("GET gs://releases/app.tgz: the credentials were refused (HTTP 401 authError) for service account "
                   "deployer@haul-test.iam.gserviceaccount.com"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("twice with a new token"), std::string::npos) << e;
}

TEST_F(GcsJson, SmallFilesGoInOneRequestLargeOnesResumableInChunks) {
  TempDir tmp;
  write_file(tmp / "small.bin", "small");
  GcsClient c = client(512 * 1024, 256 * 1024);
  c.put_file({"releases", "up/small.bin"}, (tmp / "small.bin").string());
  EXPECT_EQ(c.last_upload_requests(), 1);
  EXPECT_EQ(gcs_.object("releases", "up/small.bin"), "small");

  const std::string big = random_bytes(1100 * 1024, 7);  // 4 full chunks and a part
  write_file(tmp / "big.bin", big);
  c.put_file({"releases", "up/big.bin"}, (tmp / "big.bin").string());
  EXPECT_EQ(c.last_upload_requests(), 6) << "start + 5 chunks";
  EXPECT_EQ(sha256_hex(gcs_.object("releases", "up/big.bin")), sha256_hex(big));
}

TEST_F(GcsJson, AResumableUploadAsksWhatTheServerKeptAfterAFailedChunkAndGoesOn) {
  TempDir tmp;
  const std::string big = random_bytes(1100 * 1024, 7);
  write_file(tmp / "big.bin", big);
  GcsClient c = client(512 * 1024, 256 * 1024);
  gcs_.fail("/upload/storage/v1/b/releases/o", 503, "backendError", 1, "PUT", 2);  // the third chunk
  c.put_file({"releases", "up/big.bin"}, (tmp / "big.bin").string());
  EXPECT_EQ(sha256_hex(gcs_.object("releases", "up/big.bin")), sha256_hex(big));
  std::vector<std::string> ranges;
  for (const auto& r : nlohmann::json::parse(gcs_.log_json()))
    if (r["method"] == "PUT") ranges.push_back(r["content_range"].get<std::string>());
  const std::vector<std::string> expected = {
      "bytes 0-262143/1126400",      "bytes 262144-524287/1126400", "bytes 524288-786431/1126400",
      "bytes */1126400",             "bytes 524288-786431/1126400", "bytes 786432-1048575/1126400",
      "bytes 1048576-1126399/1126400"};
  EXPECT_EQ(ranges, expected) << "after the 503: a status query, then the chunk the server did not keep";
}

TEST_F(GcsJson, AnUploadThatKeepsFailingIsCancelledAndSaysWhere) {
  TempDir tmp;
  write_file(tmp / "big.bin", random_bytes(700 * 1024, 7));
  GcsClient c = client(512 * 1024, 256 * 1024);
  gcs_.fail("/upload/storage/v1/b/releases/o", 503, "backendError", 100, "PUT");
  std::string e = error_of([&] { c.put_file({"releases", "up/doomed.bin"}, (tmp / "big.bin").string()); });
  EXPECT_NE(e.find("PUT gs://releases/up/doomed.bin: the upload failed 6 times at byte 0: HTTP 503"), std::string::npos) << e;
  EXPECT_EQ(e.find("upload_id"), std::string::npos) << "the session URI is a credential: " << e;
  EXPECT_EQ(gcs_.count("DELETE", "/upload/storage/v1/b/releases/o"), 1) << "the session is cancelled";
  EXPECT_THROW(gcs_.object("releases", "up/doomed.bin"), std::runtime_error);
}

// ---- the haul binary ----

namespace {

ProcessResult haul_run(const std::vector<std::string>& args, std::map<std::string, std::string> env,
                       const std::string& stdin_text = "") {
  ProcessOptions o;
  o.stdin_text = stdin_text;
  env.emplace("NO_GCE_CHECK", "true");
  o.env = env;
  o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST",
                 "CLOUDSDK_CONFIG", "GCE_METADATA_HOST"};
  std::vector<std::string> argv = {haul_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, o);
}

// The object a published manifest's src names.
std::string src_object(GcsDouble& gcs, const std::string& manifest_object) {
  std::string m = gcs.object("releases", manifest_object);
  size_t at = m.find("src: gs://releases/");
  if (at == std::string::npos) throw std::runtime_error("no gs:// src in " + m);
  at += std::string("src: gs://releases/").size();
  return m.substr(at, m.find('\n', at) - at);
}

}  // namespace

TEST(GcsHaul, TheDropInHandlerReadsGsThroughTheEmulatorVariableAsGooglesLibrariesDo) {
  GcsDouble::Options o;
  o.allow_anonymous = true;
  GcsDouble gcs(o);
  TempDir tmp;
  const std::string tar = make_tar({file_entry("index.html", "from gcs")});
  gcs.put("releases", "web/app.tgz", tar);
  gcs.put("releases", "web/manifest.yml", "src: gs://releases/web/app.tgz\nchecksum: " + sha256_hex(tar) +
                                              "\ndest: " + (tmp / "dest").string() + "\n");
  auto r = haul_run({}, {{"STORAGE_EMULATOR_HOST", gcs.endpoint()}}, "gs://releases/web/manifest.yml\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(tmp / "dest" / "index.html"), "from gcs");
  EXPECT_EQ(gcs.count("POST", "/token"), 0) << "an emulator is spoken to without credentials";

  r = haul_run({}, {{"STORAGE_EMULATOR_HOST", gcs.endpoint()}}, "gs://releases/web/nothing.yml\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("GET gs://releases/web/nothing.yml: no such object in bucket releases"), std::string::npos) << r.err;
}

TEST(GcsHaul, AChunkedReleaseIsPublishedDeployedAndCollectedOnGs) {
  GcsDouble::Options o;
  o.allow_anonymous = true;
  GcsDouble gcs(o);
  TempDir tmp;
  const std::map<std::string, std::string> env{{"STORAGE_EMULATOR_HOST", gcs.endpoint()}};
  for (const std::string release : {"r1", "r2"}) {
    write_file(tmp / "app/VERSION", release);
    write_file(tmp / "app/lib/big.bin", random_bytes(200000, 7) + release);
    auto r = haul_run({"pack", (tmp / "app").string(), "--chunked", "-o", (tmp / release / "app.index").string(),
                       "--chunk-store", (tmp / "chunkstore").string()}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = haul_run({"publish", (tmp / release / "app.index").string(), "--to", "gs://releases/delta", "--role", "web",
                  "--stage", "prod", "--dest", (tmp / "dest").string(), "--release", release}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = haul_run({"deploy", "gs://releases/delta/manifest_web_prod.yml"}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(tmp / "dest/VERSION"), release);
  }
  auto r = haul_run({"gc", "--store", "gs://releases/delta", "--keep", "1", "--min-age", "0s"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // r2's index went up as a delta of r1's: that index stays, r1's own chunks (VERSION, the tail of big.bin) go.
  EXPECT_NE(r.out.find("removed 0 release(s), 2 chunk(s)"), std::string::npos) << r.out;
  EXPECT_EQ(gcs.count("DELETE", "/storage/v1/b/releases/o/delta%2Fr1%2Fapp.index"), 0);
  fs::remove_all(tmp / "dest");
  fs::remove_all(tmp / ".haul-dest.indexes");  // a new machine: r1's index is fetched to make r2's
  r = haul_run({"deploy", "gs://releases/delta/manifest_web_prod.yml"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("is a delta of gs://releases/delta/r1/app.index: fetching that"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(tmp / "dest/VERSION"), "r2");
}

TEST(GcsHaul, PublishResumablyThenDeployWithAServiceAccountResumingACutDownloadAndNoSecretInTheLog) {
  GcsDouble gcs;
  TempDir tmp;
  write_file(tmp / "haul.yaml", "pipelines:\n  web:\n    trigger: consul-watch\n    sources:\n      gcs: { endpoint: \"" +
                                    gcs.endpoint() + "\", resumable_threshold: 256KiB, chunk_size: 256KiB }\n");
  const std::string payload = random_bytes(700 * 1024, 7);
  write_file(tmp / "app.tgz", make_tar({file_entry("index.html", "v1"), file_entry("big.bin", payload)}));
  std::map<std::string, std::string> env = {{"GOOGLE_APPLICATION_CREDENTIALS", gcs.service_account().string()}};
  const std::string config = (tmp / "haul.yaml").string();
  auto r = haul_run({"publish", (tmp / "app.tgz").string(), "--to", "gs://releases/app", "--role", "web", "--stage", "prod",
                     "--dest", (tmp / "dest").string(), "--release", "r1", "--config", config, "--log-level", "debug"},
                    env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("gs://releases/app/manifest_web_prod.yml"), std::string::npos) << r.out;
  const std::string artifact = src_object(gcs, "app/manifest_web_prod.yml");
  EXPECT_EQ(gcs.object("releases", artifact), read_file(tmp / "app.tgz"));
  EXPECT_GE(gcs.count("PUT", "/upload/storage/v1/b/releases/o"), 3) << "the artifact went up in resumable chunks";
  std::string all_output = r.out + r.err;

  gcs.cut("releases", artifact, 100000);
  r = haul_run({"deploy", "gs://releases/app/manifest_web_prod.yml", "--config", config, "--retry", "2", "--retry-wait",
                "10ms", "--log-level", "debug"},
               env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(tmp / "dest" / "index.html"), "v1");
  EXPECT_EQ(sha256_hex(read_file(tmp / "dest" / "big.bin")), sha256_hex(payload));
  bool resumed = false;
  for (const auto& q : nlohmann::json::parse(gcs.log_json()))
    if (q["path"].get<std::string>().find(artifact.substr(artifact.rfind('/') + 1)) != std::string::npos &&
        q["range"].is_string() && q["range"].get<std::string>().rfind("bytes=", 0) == 0)
      resumed = true;
  EXPECT_TRUE(resumed) << "the cut download went on with a Range request: " << r.err;
  all_output += r.out + r.err;
  expect_no_secret(all_output, secrets_of(gcs.service_account()));
}

TEST(GcsHaul, HmacKeysSpeakTheXmlApiSignedAsBotocoreSigns) {
  GcsDouble::Options o;
  o.hmac = {"GOOG1EHAULTESTKEY:hmac-secret-value"};
  GcsDouble gcs(o);
  TempDir tmp;
  auto config = [&](const std::string& file, const std::string& keys) {
    write_file(tmp / file, "pipelines:\n  web:\n    trigger: consul-watch\n    sources:\n      gcs: { endpoint: \"" +
                               gcs.endpoint() + "\", " + keys + " }\n");
    return (tmp / file).string();
  };
  const std::string good = config("good.yaml", "hmac_access_id: GOOG1EHAULTESTKEY, hmac_secret: hmac-secret-value");
  write_file(tmp / "app.tgz", make_tar({file_entry("index.html", "via the XML API")}));
  auto r = haul_run({"publish", (tmp / "app.tgz").string(), "--to", "gs://releases/xml", "--role", "web", "--stage", "prod",
                     "--dest", (tmp / "dest").string(), "--config", good},
                    {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = haul_run({"deploy", "gs://releases/xml/manifest_web_prod.yml", "--config", good}, {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(tmp / "dest" / "index.html"), "via the XML API");
  EXPECT_EQ(gcs.count("", "/storage/v1/"), 0) << "HMAC keys never touch the JSON API";

  const std::string wrong = config("wrong.yaml", "hmac_access_id: GOOG1EHAULTESTKEY, hmac_secret: hmac-wrong-secret");
  r = haul_run({"fetch", "gs://releases/xml/manifest_web_prod.yml", "--config", wrong}, {});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("GET gs://releases/xml/manifest_web_prod.yml: signature rejected (HTTP 403 SignatureDoesNotMatch)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("hmac-wrong-secret"), std::string::npos) << r.err;

  const std::string typo = config("typo.yaml", "credentials_file: /etc/haul/gcs-kye.json");
  r = haul_run({"fetch", "gs://releases/xml/manifest_web_prod.yml", "--config", typo}, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("credentials_file /etc/haul/gcs-kye.json: cannot read the file"), std::string::npos) << r.err;

  const std::string half = config("half.yaml", "hmac_access_id: GOOG1EHAULTESTKEY");
  r = haul_run({"fetch", "gs://releases/xml/manifest_web_prod.yml", "--config", half}, {});
  EXPECT_EQ(r.exit_code, 2) << "a config haul cannot use: it could not start";
  // At the setting the refusal names (its column depends on the endpoint's port).
  EXPECT_NE(r.err.find(half + ":5:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(": pipelines.web.sources.gcs.hmac_access_id: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hmac_access_id and hmac_secret go together"), std::string::npos) << r.err;
}

// An object replaced between a cut download and its resume (a publish
// landing between two attempts): haul fetch -o FILE ends with the new object
// whole; to stdout, where the bytes already written cannot be taken back, it
// fails naming the URL. Never the old one's head on the new one's tail.
TEST(GcsHaul, AnObjectReplacedBetweenTheCutAndTheResumeIsFetchedWholeNeverSpliced) {
  GcsDouble::Options o;
  o.allow_anonymous = true;
  GcsDouble gcs(o);
  TempDir tmp;
  const std::map<std::string, std::string> env{{"STORAGE_EMULATOR_HOST", gcs.endpoint()}};
  const std::string v1 = random_bytes(300'000, 1), v2 = random_bytes(300'000, 2);
  gcs.put("releases", "moving.bin", v1);
  gcs.cut_then_replace("releases", "moving.bin", 100'000, v2);
  auto r = haul_run({"fetch", "gs://releases/moving.bin", "-o", (tmp / "out.bin").string(), "--retry", "2",
                     "--retry-wait", "10ms"},
                    env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sha256_file(tmp / "out.bin"), sha256_hex(v2)) << "the new object, whole: " << r.err;
  EXPECT_NE(r.err.find("GET gs://releases/moving.bin: the object changed during the download (its generation moved); "
                       "fetching it again from its start"),
            std::string::npos)
      << "the resume's ifGenerationMatch was refused: " << r.err;

  gcs.cut_then_replace("releases", "moving.bin", 100'000, v1);
  r = haul_run({"fetch", "gs://releases/moving.bin", "--retry", "2", "--retry-wait", "10ms"}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(sha256_hex(r.out), sha256_hex(v2.substr(0, 100'000) + v1.substr(100'000))) << "never spliced";
  EXPECT_NE(r.err.find("GET gs://releases/moving.bin: the object changed during the download (its generation moved); "
                       "what was written to stdout is void"),
            std::string::npos)
      << r.err;
}

// A 404 or 403 does not heal by waiting: with --retry 3 --retry-wait 5s the
// object is asked for once, and the error names the URL and the status;
// --retry-missing retries it (a publish may land seconds after the event).
TEST(GcsHaul, AMissingOrForbiddenObjectIsAskedForOnceUnlessRetryMissingIsGiven) {
  GcsDouble::Options o;
  o.allow_anonymous = true;
  GcsDouble gcs(o);
  const std::map<std::string, std::string> env{{"STORAGE_EMULATOR_HOST", gcs.endpoint()}};
  auto r = haul_run({"fetch", "gs://releases/missing.bin", "--retry", "3", "--retry-wait", "5s"}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("GET gs://releases/missing.bin: no such object in bucket releases, or no such bucket (HTTP 404"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(gcs.count("GET", "/o/missing.bin"), 1);

  gcs.put("releases", "private.bin", "x");
  gcs.fail("/o/private.bin", 403, "forbidden", 99);
  r = haul_run({"fetch", "gs://releases/private.bin", "--retry", "3", "--retry-wait", "5s"}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("GET gs://releases/private.bin: permission denied (HTTP 403 forbidden)"), std::string::npos) << r.err;
  EXPECT_EQ(gcs.count("GET", "/o/private.bin"), 1);

  r = haul_run({"fetch", "gs://releases/missing.bin", "--retry", "2", "--retry-wait", "10ms", "--retry-missing"}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(gcs.count("GET", "/o/missing.bin"), 1 + 3);
}
