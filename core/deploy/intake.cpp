// SPDX-License-Identifier: Apache-2.0
#include "deploy/intake.hpp"

#include <algorithm>

#include "release/applied_release.hpp"
#include "signing/manifest_signature.hpp"
#include "util/error.hpp"
#include "util/digest.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

// Signed releases: the bytes just fetched must be signed by a trusted key.
void check_signature(DeployContext& ctx, FetchPolicy policy) {
  const std::string& url = ctx.request.manifest_url;
  const TrustedKeys keys = TrustedKeys::load(ctx.options.trusted_keys);
  const std::string sig_url = signature_url(url);
  std::string sig;
  try {
    policy.retry = 0;
    sig = fetch_text(ctx.sources, sig_url, policy, ctx.abort, ctx.log);
  } catch (const std::exception& e) {
    throw Error(url + " is not signed: cannot fetch " + sig_url + " (" + e.what() +
                "); with trusted_keys every manifest must be signed (haul publish --sign KEY)");
  }
  const std::string key = keys.verify(url, ctx.manifest_text, sig);
  ctx.log.info("Signature OK: signed by trusted key " + key);
}

// Downgrade and replay protection: a signed manifest older than the one
// dest runs is refused unless the operator asked for it.
void check_not_older(DeployContext& ctx) {
  const Manifest& m = ctx.manifest;
  const std::string& url = ctx.request.manifest_url;
  if (m.created_at == 0) throw Error(url + ": a signed manifest must carry created_at (haul publish writes it)");
  if (m.dest.empty()) return;
  auto applied = read_applied_release(m.dest);
  if (!applied || m.created_at >= applied->created_at) return;
  const std::string what = "release " + (m.release.empty() ? std::string("(unnamed)") : m.release) + " (created " +
                           format_timestamp(m.created_at) + ") is older than release " + applied->release +
                           " (created " + format_timestamp(applied->created_at) + ") that " + m.dest + " runs";
  if (!ctx.options.allow_downgrade)
    throw Error(url + ": " + what +
                "; refusing a downgrade (a replayed old manifest?). To roll back on purpose use haul rollback, "
                "or deploy it with --allow-downgrade");
  ctx.log.warn(what + "; deploying it because the downgrade was allowed");
}

// Two pipelines of one config deploying to one dest (two roles of a host
// naming the same folder) would flip `current` between their releases:
// refused before anything is fetched or touched. A dest deployed by a
// pipeline that is no longer in the config (renamed, or the handler's
// "default") is taken over.
void check_dest_is_ours(DeployContext& ctx) {
  const Manifest& m = ctx.manifest;
  if (m.dest.empty() || !ctx.owner) return;
  const auto& siblings = ctx.owner->siblings;
  const auto applied = read_applied_release(m.dest);
  if (!applied || applied->pipeline.empty() || applied->pipeline == ctx.pipeline) return;
  if (std::find(siblings.begin(), siblings.end(), applied->pipeline) == siblings.end()) return;
  throw Error(ctx.request.manifest_url + ": dest " + m.dest + " is deployed by pipeline " + applied->pipeline +
              " of the same config (recorded in " + applied_release_path(m.dest).string() + "); pipeline " +
              ctx.pipeline + " may not deploy there too — each would switch it to its own release. Give each role a "
              "dest of its own");
}

// For a pipeline with no applied event on record: is this event a replay
// of what dest already runs (or what an operator rolled it back from)?
bool dest_runs_it(DeployContext& ctx) {
  const Manifest& m = ctx.manifest;
  if (m.dest.empty()) return false;
  const auto applied = read_applied_release(m.dest);
  if (!applied) return false;
  const std::string first = "pipeline " + ctx.pipeline +
                            " has applied no event yet (a first start, a new state_dir, or a switch from the consul "
                            "watch handler), and ";
  if (applied->manifest_sha256 == ctx.manifest_sha256) {
    ctx.log.info(first + m.dest + " already runs this manifest (sha256 " + ctx.manifest_sha256 + ", recorded in " +
                 applied_release_path(m.dest).string() + "); nothing to do — `haul deploy " + ctx.request.manifest_url +
                 "` deploys it again on purpose");
    return true;
  }
  if (!m.release.empty() && applied->pinned_from == m.release) {
    ctx.log.info(first + m.dest + " was rolled back from release " + m.release + " to " + applied->release +
                 " by an operator; leaving it (a replayed event?) — `haul deploy " + ctx.request.manifest_url +
                 "` deploys it again on purpose");
    return true;
  }
  return false;
}

}  // namespace

Intake take_in_manifest(DeployContext& ctx) {
  const DeployRequest& req = ctx.request;
  ctx.log.info("Loading manifest: " + req.manifest_url);
  FetchPolicy policy = ctx.fetch_policy();
  policy.timeout = std::chrono::milliseconds(0);  // --timeout is stretcher's limit for src
  ctx.manifest_text = fetch_text(ctx.sources, req.manifest_url, policy, ctx.abort, ctx.log);
  ctx.manifest_sha256 = sha256_hex(ctx.manifest_text);
  if (!req.expected_manifest_sha256.empty() && req.expected_manifest_sha256 != ctx.manifest_sha256)
    throw Error(req.manifest_url + ": sha256 " + ctx.manifest_sha256 + ", but the desired-release pointer says " +
                req.expected_manifest_sha256 +
                "; refusing it (the manifest changed after the pointer was written, or was altered)");
  if (!req.unless_manifest_sha256.empty() && req.unless_manifest_sha256 == ctx.manifest_sha256) {
    ctx.log.info(req.manifest_url + " is the manifest the last deploy applied (sha256 " + ctx.manifest_sha256 +
                 "); nothing to do");
    return Intake::already_applied;
  }
  const bool signed_only = !ctx.options.trusted_keys.empty();
  if (signed_only) check_signature(ctx, policy);
  ManifestChecks checks;
  checks.strict = ctx.options.strict;
  ctx.manifest = parse_manifest(ctx.manifest_text, req.manifest_url, process_env, checks);
  if (signed_only) check_not_older(ctx);
  check_dest_is_ours(ctx);
  if (req.unless_dest_runs_it && dest_runs_it(ctx)) return Intake::already_applied;
  for (const auto& f : ctx.manifest.ignored_fields)
    ctx.log.warn("manifest " + req.manifest_url + ": unknown field '" + f +
                 "' ignored (as stretcher did; deploy.strict: true or --strict refuses it)");
  return Intake::deploy;
}

}  // namespace haul
