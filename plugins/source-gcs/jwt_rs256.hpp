// SPDX-License-Identifier: Apache-2.0
// A JSON Web Token signed with RS256 (RSASSA-PKCS1-v1_5 over SHA-256), the
// assertion a Google service account exchanges for an access token
// (RFC 7523). Written on OpenSSL directly: Debian ships no C++ JWT library
// with RS256, and the format is three base64url strings and one signature.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace haul::gcs {

// base64url without padding (RFC 7515 §2).
std::string base64url(const std::string& bytes);

// header.claims.signature. private_key_pem: a PKCS#8 or PKCS#1 RSA key.
// `what` names the key's origin in errors (the file, never the key itself).
std::string sign_jwt_rs256(const nlohmann::json& header, const nlohmann::json& claims,
                           const std::string& private_key_pem, const std::string& what);

}  // namespace haul::gcs
