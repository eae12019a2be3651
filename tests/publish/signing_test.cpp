// SPDX-License-Identifier: Apache-2.0
// Ed25519 manifest signatures: what verifies and every way it must not.
#include <gtest/gtest.h>

#include "signing/manifest_signature.hpp"
#include "test_support.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

const std::string kManifest = "src: file:///a.tgz\nchecksum: " + std::string(64, 'a') + "\ndest: /srv/a\n";
const std::string kUrl = "s3://b/manifest_web_production.yml";

TrustedKeys trust(const TempDir& tmp, const std::vector<const Ed25519Key*>& keys) {
  std::vector<std::string> paths;
  for (size_t i = 0; i < keys.size(); ++i) {
    const fs::path p = tmp / ("trusted" + std::to_string(i) + ".pub");
    write_file(p, keys[i]->public_pem());
    paths.push_back(p.string());
  }
  return TrustedKeys::load(paths);
}

}  // namespace

TEST(Signing, ValidSignatureVerifies) {
  TempDir tmp;
  Ed25519Key key = Ed25519Key::generate();
  const std::string sig = make_signature_file(key, kManifest);
  EXPECT_EQ(trust(tmp, {&key}).verify(kUrl, kManifest, sig), key.id());
}

TEST(Signing, KeysSurviveTheirPemFiles) {
  TempDir tmp;
  Ed25519Key key = Ed25519Key::generate();
  write_file(tmp / "k.key", key.private_pem());
  Ed25519Key again = Ed25519Key::load((tmp / "k.key").string());
  EXPECT_TRUE(again.has_private());
  EXPECT_EQ(again.id(), key.id());
  EXPECT_EQ(trust(tmp, {&key}).verify(kUrl, kManifest, make_signature_file(again, kManifest)), key.id());
}

TEST(Signing, TamperedManifestIsRefused) {
  TempDir tmp;
  Ed25519Key key = Ed25519Key::generate();
  const std::string sig = make_signature_file(key, kManifest);
  std::string tampered = kManifest;
  tampered.replace(tampered.find("/srv/a"), 6, "/srv/b");
  auto e = error_of([&] { trust(tmp, {&key}).verify(kUrl, tampered, sig); });
  EXPECT_NE(e.find(kUrl), std::string::npos) << e;
  EXPECT_NE(e.find("does not match the manifest's bytes"), std::string::npos) << e;
}

TEST(Signing, TamperedSignatureIsRefused) {
  TempDir tmp;
  Ed25519Key key = Ed25519Key::generate();
  std::string sig = make_signature_file(key, kManifest);
  const size_t at = sig.find("ed25519 ") + 10;
  sig[at] = sig[at] == 'A' ? 'B' : 'A';
  auto e = error_of([&] { trust(tmp, {&key}).verify(kUrl, kManifest, sig); });
  EXPECT_NE(e.find("does not match"), std::string::npos) << e;
  e = error_of([&] { trust(tmp, {&key}).verify(kUrl, kManifest, "haul-signature 1\nkey " + key.id() + "\ned25519 !!!\n"); });
  EXPECT_NE(e.find("malformed signature"), std::string::npos) << e;
  e = error_of([&] { trust(tmp, {&key}).verify(kUrl, kManifest, "<Error><Code>NoSuchKey</Code></Error>"); });
  EXPECT_NE(e.find("not a haul signature"), std::string::npos) << e;
}

TEST(Signing, UnknownKeyIsRefused) {
  TempDir tmp;
  Ed25519Key mine = Ed25519Key::generate(), theirs = Ed25519Key::generate();
  auto e = error_of([&] { trust(tmp, {&mine}).verify(kUrl, kManifest, make_signature_file(theirs, kManifest)); });
  EXPECT_NE(e.find("signed by key " + theirs.id() + ", which is not a trusted key (trusted: " + mine.id() + ")"),
            std::string::npos) << e;
}

TEST(Signing, RotatedKeysBothVerify) {
  TempDir tmp;
  Ed25519Key old_key = Ed25519Key::generate(), new_key = Ed25519Key::generate();
  TrustedKeys both = trust(tmp, {&old_key, &new_key});
  EXPECT_EQ(both.verify(kUrl, kManifest, make_signature_file(old_key, kManifest)), old_key.id());
  EXPECT_EQ(both.verify(kUrl, kManifest, make_signature_file(new_key, kManifest)), new_key.id());
  // After the rotation the old key is dropped, and its signatures with it.
  EXPECT_THROW(trust(tmp, {&new_key}).verify(kUrl, kManifest, make_signature_file(old_key, kManifest)), Error);
}

TEST(Signing, PublicKeyCannotSignAndBadKeyFilesAreNamed) {
  TempDir tmp;
  Ed25519Key key = Ed25519Key::generate();
  Ed25519Key pub = Ed25519Key::from_pem(key.public_pem(), "k.pub");
  EXPECT_FALSE(pub.has_private());
  EXPECT_THROW(pub.sign(kManifest), Error);
  write_file(tmp / "garbage.pub", "hello\n");
  auto e = error_of([&] { TrustedKeys::load({(tmp / "garbage.pub").string()}); });
  EXPECT_NE(e.find((tmp / "garbage.pub").string() + ": not a PEM key"), std::string::npos) << e;
  auto rsa = run_process({"/usr/bin/openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024", "-out", (tmp / "rsa.key").string()});
  ASSERT_EQ(rsa.exit_code, 0) << rsa.err;
  e = error_of([&] { Ed25519Key::load((tmp / "rsa.key").string()); });
  EXPECT_NE(e.find("not Ed25519"), std::string::npos) << e;
}

TEST(Signing, OpensslMadeKeysWork) {
  TempDir tmp;
  auto gen = run_process({"/usr/bin/openssl", "genpkey", "-algorithm", "ed25519", "-out", (tmp / "o.key").string()});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  auto pub = run_process({"/usr/bin/openssl", "pkey", "-in", (tmp / "o.key").string(), "-pubout", "-out", (tmp / "o.pub").string()});
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  Ed25519Key key = Ed25519Key::load((tmp / "o.key").string());
  TrustedKeys t = TrustedKeys::load({(tmp / "o.pub").string()});
  EXPECT_EQ(t.verify(kUrl, kManifest, make_signature_file(key, kManifest)), key.id());
}
