#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The docs cannot drift from haul: every example in README.md and docs/*.md
is run or checked against the real binary.

- A ```sh block preceded by <!-- docs-test: run --> is run with bash -e,
  the haul under test first on PATH, in a scratch folder: it must succeed.
- Every ```yaml block is checked by what it is: a pipeline config (or a
  fragment of one) with `haul check`, a manifest with `haul check`, a hooks
  file by its phases; any other must at least parse as YAML.
- Every `haul ...` line of a sh/console block must name a real command, and
  every --flag on it must be one that command's --help lists.
- Every docs/ page is linked from the README, and every link to a page lands.

Usage: docs_examples_test.py HAUL_BINARY SOURCE_DIR"""
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

haul, src = sys.argv[1], sys.argv[2]
pages = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
failures, checked = [], {"run": 0, "pipeline config": 0, "manifest": 0, "hooks file": 0, "yaml": 0, "command line": 0}
env = dict(os.environ, CONSUL_HTTP_TOKEN="docs-token", SLACK_WEBHOOK_URL="https://hooks.slack.invalid/T/B/x",
           ETCD_PASSWORD="docs-password", PATH=os.path.dirname(os.path.abspath(haul)) + ":" + os.environ["PATH"])
for var in ("CONSUL_INDEX", "HAUL_PLUGIN_PATH", "SERF_USER_EVENT"):
    env.pop(var, None)
scratch = tempfile.mkdtemp(prefix="haul-docs-")
env["TMPDIR"] = scratch  # the quick start's mktemp, and everything else, lands here and goes with it


def blocks(path):
    """(line number, language, text, marker) of every fenced block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i, marker = 0, ""
    while i < len(lines):
        m = re.match(r"^\s*<!-- docs-test: (.*) -->", lines[i])
        if m:
            marker = m.group(1)
        fence = re.match(r"^(\s*)```(\w*)", lines[i])
        if fence:
            indent, lang, start, body = len(fence.group(1)), fence.group(2), i + 1, []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
                i += 1
            yield start, lang, "\n".join(body) + "\n", marker
            marker = ""
        i += 1


def fail(where, what):
    failures.append("%s: %s" % (where, what))


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, **kw)


help_cache = {}


def flags_of(command):
    if command not in help_cache:
        argv = [haul, command, "--help"] if command else [haul, "--help"]
        out = run(argv)
        help_cache[command] = set(re.findall(r"--[a-z][a-z0-9-]*", out.stdout + out.stderr))
        if command == "agent" or not command:  # the handler's flags are also deploy's
            help_cache[command] |= set(re.findall(r"--[a-z][a-z0-9-]*", run([haul, "deploy", "--help"]).stdout))
    return help_cache[command]


commands = set(re.findall(r"^  haul ([a-z][a-z-]*)", run([haul, "--help"]).stdout, re.M))

PIPELINE_KEYS = {"trigger", "sources", "hooks", "deploy", "rollout", "desired", "reconcile_interval", "namespace"}


def fixtures():
    """The files the examples name under /etc/haul, made for real in the
    scratch folder: the examples are checked with those paths moved there."""
    etc = os.path.join(scratch, "etc/haul")
    os.makedirs(etc)
    for key in ("release", "release-2027"):
        r = run([haul, "keygen", "-o", os.path.join(etc, key)])
        if r.returncode != 0:
            sys.exit("haul keygen failed: " + r.stderr)
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                         capture_output=True, text=True, check=True).stdout
    import json
    json.dump({"type": "service_account", "project_id": "docs", "private_key_id": "k1", "private_key": pem,
               "client_email": "deployer@docs.iam.gserviceaccount.com", "client_id": "1",
               "token_uri": "https://oauth2.googleapis.invalid/token"},
              open(os.path.join(etc, "gcs-deployer.json"), "w"))
    return etc


etc_fixtures = fixtures()


def check_yaml(where, text):
    try:
        doc = yaml.safe_load(re.sub(r"\{\{[^}]*\}\}", "templated", text))
    except yaml.YAMLError as e:
        fail(where, "does not parse as YAML: %s" % e)
        return
    if not isinstance(doc, dict):
        checked["yaml"] += 1
        return
    kind, body = None, text
    if "pipelines" in doc:
        kind = "pipeline config"
    elif doc.keys() & {"src", "dest", "commands"} and not doc.keys() - {
            "src", "checksum", "dest", "dest_mode", "commands", "excludes", "exclude_from", "sync_strategy",
            "release", "created_at", "linked_dirs", "linked_files", "keep_releases", "command_timeout"}:
        kind = "manifest"
    elif doc.keys() <= PIPELINE_KEYS and "trigger" not in doc:
        # A fragment of a pipeline (`hooks:` under Slack): checked inside one.
        kind = "pipeline config"
        body = "pipelines:\n  p:\n    trigger: consul-watch\n" + "".join("    " + l + "\n" for l in text.splitlines())
    elif "default" in doc and all(isinstance(v, dict) or v is None for v in doc.values()):
        phases = {"pre", "post", "verify", "success", "failure", "rollback", "<<"}
        for role, block in doc.items():
            for phase in (block or {}):
                if phase not in phases:
                    fail(where, "hooks file: role %s has no phase %r" % (role, phase))
        checked["hooks file"] += 1
        return
    if not kind:
        checked["yaml"] += 1
        return
    path = os.path.join(scratch, "example.yml")
    open(path, "w").write(body.replace("/etc/haul/", etc_fixtures + "/"))
    r = run([haul, "check", path])
    if r.returncode != 0:
        fail(where, "haul check refuses this %s:\n%s%s" % (kind, r.stdout, r.stderr))
    elif kind == "manifest" and "a manifest, OK" not in r.stdout:
        fail(where, "haul check did not take this for a manifest:\n" + r.stdout)
    checked[kind] += 1


def check_command_lines(where, text):
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.split("\n"):
        line = re.sub(r"^\s*\$\s*", "", line)
        for part in re.split(r"\s*(?:\||&&|;)\s*", line):
            part = re.sub(r"^(sudo|HAUL_\w+=\S+|\w+=\S+)\s+", "", part.strip())
            if not part.startswith("haul ") and part != "haul":
                continue
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                words = part.split()
            args = words[1:]
            command = args[0] if args and not args[0].startswith("-") else ""
            if command and command not in commands:
                if command in ("<", ">"):
                    command = ""
                else:
                    # A positional of the handler (haul URL) never happens in the docs.
                    fail(where, "`%s`: haul has no command %r" % (part, command))
                    continue
            known = flags_of(command)
            for a in args:
                flag = a.split("=", 1)[0]
                if flag.startswith("--") and flag not in known:
                    fail(where, "`%s`: %s is not a flag of haul %s" % (part, flag, command or "(the handler)"))
            checked["command line"] += 1


for page in pages:
    rel = os.path.relpath(page, src)
    for line, lang, text, marker in blocks(page):
        where = "%s:%d" % (rel, line)
        if marker == "run":
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", text], capture_output=True, text=True, env=env,
                               cwd=scratch, timeout=300)
            if r.returncode != 0:
                fail(where, "the example exits %d:\n%s%s" % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
            checked["run"] += 1
        if lang == "yaml":
            check_yaml(where, text)
        elif lang in ("sh", "console", "bash", ""):
            check_command_lines(where, text)

# Every page is reachable from the README, and every link between pages lands.
readme = open(pages[0], encoding="utf-8").read()
for page in pages[1:]:
    name = os.path.relpath(page, src)
    if "(" + name not in readme and "(" + name + "#" not in readme:
        fail("README.md", "does not link %s" % name)
for page in pages:
    for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", open(page, encoding="utf-8").read()):
        if not os.path.exists(os.path.join(os.path.dirname(page), target)):
            fail(os.path.relpath(page, src), "links %s, which does not exist" % target)

print("checked: " + ", ".join("%d %s" % (n, k) for k, n in checked.items()))
shutil.rmtree(scratch, ignore_errors=True)
if failures:
    print("\n".join(failures), file=sys.stderr)
    print("%d example(s) of the docs do not hold" % len(failures), file=sys.stderr)
    sys.exit(1)
if checked["run"] < 1 or checked["pipeline config"] < 5 or checked["command line"] < 25:
    print("too few examples found: the docs' format changed?", file=sys.stderr)
    sys.exit(1)
