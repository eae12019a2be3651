// SPDX-License-Identifier: Apache-2.0
// haul — a pull-based deploy engine. Entry point: picks the subcommand; with
// none, haul is the stretcher-compatible event handler reading stdin.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstring>
#include <iostream>

#include "cli/commands.hpp"
#include "util/logging.hpp"
#include "cli/version_text.hpp"
#include "version.hpp"

namespace {

const char* kUsage =
    "haul " HAUL_VERSION " — pull-based deploys: one event, every server pulls, verifies and switches.\n"
    "\n"
    "usage:\n"
    "  haul [flags] < event          handle one event from stdin (consul watch, Serf, or a plain URL line)\n"
    "  haul deploy URL [flags]       deploy one manifest URL (--dry-run: only say what it would do)\n"
    "  haul plan URL [flags]         fetch and verify a release, print what its deploy would do, change nothing\n"
    "  haul agent --config FILE      run the pipelines of FILE until stopped\n"
    "  haul check FILE               check a pipeline config (every mistake at once), starting nothing\n"
    "  haul reconcile --config FILE  deploy the pipeline's desired release if this host is not on it (cron)\n"
    "  haul fetch URL [-o FILE]      download through the source plugins (--checksum HEX to verify)\n"
    "  haul releases DEST            list releases of a dest deployed with sync_strategy: release\n"
    "  haul rollback DEST [--to ID]  switch current back and run the rollback commands\n"
    "  haul diff DEST [--quick]      what changed in dest since its last deploy (exit 1 when it drifted)\n"
    "  haul plugins list             show loaded plugins, where from, and any refused\n"
    "  haul plugins describe NAME    show a plugin's config fields\n"
    "  haul status [--config FILE]   the fleet as agents report it: what each node runs, its last attempt, alive\n"
    "                                or gone (--json for scripts; --forget NODE removes a decommissioned one)\n"
    "  haul rollout status|halt|resume [--config FILE] [--pipeline P] [--release R]\n"
    "                                a pipeline's fleet-wide rollout: progress, stop it everywhere, let it go on\n"
    "  haul version                  print the version\n"
    "\n"
    "build side (replaces capistrano-stretcher):\n"
    "  haul pack DIR -o FILE         reproducible tarball (--git REPO --ref REF, --format tar.zst, --mtime T;\n"
    "                                --chunked: a release index and its chunks, for delta releases)\n"
    "  haul publish FILE --to PREFIX --role R --stage S --dest D\n"
    "                                upload, render manifest_<role>_<stage>.yml (--hooks F, --sign KEY)\n"
    "  haul kick URL --name EVENT    fire the deploy event via Consul (or --via serf)\n"
    "  haul gc --store PREFIX --keep N\n"
    "                                prune a chunk store: old release indexes, chunks no kept release needs\n"
    "  haul release [STAGE]          pack + publish + kick, from haul-release.yaml\n"
    "  haul keygen -o NAME           Ed25519 key pair for signed releases (NAME.key, NAME.pub)\n"
    "\n"
    "deploy flags (as stretcher's): --timeout D --random-delay D --retry N --retry-wait D\n"
    "  --retry-missing (retry 404/403/401 too) --max-bandwidth BYTES --rsync-verbose OPT\n"
    "  (D: 500ms, 10s, 1m30s; BYTES: 800k, 10M, 1.5MiB)\n"
    "  --trusted-key FILE (signed manifests only) --allow-downgrade --strict (refuse unknown manifest fields)\n"
    "  --dry-run (haul deploy: only print the plan)\n"
    "other: --config FILE --pipeline NAME --state-dir DIR --log-level debug|info|warn|error --log-format text|json\n"
    "  -v, --version; haul COMMAND --help lists a command's own flags\n"
    "exit codes: 0 done; 1 failed (a deploy, a fetch...); 2 the command line is wrong or haul could not start;\n"
    "  1 also means: a node needs attention (status), dest drifted (diff), a rollout is halted (rollout status)\n";

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a hook that stops reading its stdin must not kill haul
  haul::setup_logging("info");
  haul::Args args(argv + 1, argv + argc);
  std::string cmd = args.empty() ? "" : args[0];
  haul::Args rest = args.empty() ? args : haul::Args(args.begin() + 1, args.end());
  if (cmd == "deploy") return haul::run_deploy(rest);
  if (cmd == "plan") return haul::run_deploy(rest, /*dry_run=*/true);
  if (cmd == "reconcile") return haul::run_reconcile(rest);
  if (cmd == "agent") return haul::run_agent_command(rest);
  if (cmd == "check") return haul::run_check(rest);
  if (cmd == "plugins") return haul::run_plugins(rest);
  if (cmd == "status") return haul::run_status(rest);
  if (cmd == "fetch") return haul::run_fetch(rest);
  if (cmd == "releases") return haul::run_releases(rest);
  if (cmd == "rollback") return haul::run_rollback(rest);
  if (cmd == "diff") return haul::run_diff(rest);
  if (cmd == "rollout") return haul::run_rollout(rest);
  if (cmd == "pack") return haul::run_pack(rest);
  if (cmd == "publish") return haul::run_publish(rest);
  if (cmd == "gc") return haul::run_gc(rest);
  if (cmd == "kick") return haul::run_kick(rest);
  if (cmd == "release") return haul::run_release(rest);
  if (cmd == "keygen") return haul::run_keygen(rest);
  if (cmd == "version") {
    std::cout << haul::version_and_license();
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h" || cmd == "-help") {
    std::cout << kUsage;
    return 0;
  }
  if (!cmd.empty() && cmd[0] != '-') {
    std::cerr << "haul: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  }
  return haul::run_handler(args);
}
