#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A long-running agent stays flat: `haul agent` applies N events (default
1,000) one after another — small artifacts, alternating a file:// and an
http:// (nginx on 127.0.0.1) manifest — through the consul-http trigger on
the Consul API test double. After the first 10 deploys and again after the
last, it reads the agent's /proc: RSS, PSS and USS (private pages), open
file descriptors and threads.

Goal (issue #15): RSS after all deploys <= RSS after the first 10 + 1 MiB;
open fds and threads unchanged. Prints each figure and PASS/FAIL per goal.

usage: bench/agent_soak.py [--events 1000] [--work DIR]
(put --work on tmpfs: see README's Measurements)
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deploy_bench import HAUL, ROOT, Nginx, free_port  # noqa: E402


def tarball(version):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(20):
            data = ("%s file %d\n" % (version, i)).encode() * 50
            info = tarfile.TarInfo("app/f%02d.txt" % i)
            info.size, info.mtime = len(data), 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def memory(pid):
    """RSS, PSS and USS in KiB from smaps_rollup."""
    fields = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                fields[parts[0][:-1]] = int(parts[1])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields.get("Rss", 0), fields.get("Pss", 0), uss


def snapshot(pid):
    rss, pss, uss = memory(pid)
    fds = len(os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/status" % pid) as f:
        threads = next(int(l.split()[1]) for l in f if l.startswith("Threads:"))
    return {"rss": rss, "pss": pss, "uss": uss, "fds": fds, "threads": threads}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="haul-soak-", dir=a.work)
    procs = []
    try:
        www = os.path.join(work, "www")
        os.makedirs(www)
        manifests = []
        nginx = Nginx(www)
        procs.append(nginx)
        for v in ("a", "b"):
            data = tarball(v)
            with open(os.path.join(www, v + ".tgz"), "wb") as f:
                f.write(data)
            sha = hashlib.sha256(data).hexdigest()
            for src, scheme in (("file", "file://" + os.path.join(www, v + ".tgz")), ("http", nginx.url(v + ".tgz"))):
                path = os.path.join(www, "%s-%s.yml" % (v, src))
                with open(path, "w") as f:
                    f.write("src: %s\nchecksum: %s\ndest: %s\n" % (scheme, sha, os.path.join(work, "dest")))
                manifests.append("file://" + path if src == "file" else nginx.url("%s-%s.yml" % (v, src)))
        port = free_port()
        consul = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests/servers/consul_double.py"), "--port",
                                   str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(consul)
        consul.stdout.readline()  # "ready"
        with open(os.path.join(work, "haul.yaml"), "w") as f:
            f.write("state_dir: %s/state\npipelines:\n  soak:\n    trigger: { type: consul-http, address: "
                    "'http://127.0.0.1:%d', event: deploy_soak, wait: 10s, min_interval: 1ms }\n" % (work, port))
        log = open(os.path.join(work, "agent.log"), "w")
        agent = subprocess.Popen([HAUL, "agent", "--config", os.path.join(work, "haul.yaml"), "--log-level", "warn"],
                                 stdout=log, stderr=log)
        procs.append(agent)
        state = os.path.join(work, "state", "soak.json")

        def applied_id():
            try:
                with open(state) as f:
                    return json.load(f)["last"]["id"]
            except (OSError, ValueError, KeyError):
                return None

        time.sleep(0.5)
        checkpoints = sorted({10, a.events // 4, a.events // 2, 3 * a.events // 4, a.events})
        snaps = {}
        start = time.time()
        for n in range(1, a.events + 1):
            req = urllib.request.Request("http://127.0.0.1:%d/v1/event/fire/deploy_soak" % port,
                                         data=manifests[n % len(manifests)].encode(), method="PUT")
            event_id = json.load(urllib.request.urlopen(req))["ID"]
            deadline = time.time() + 30
            while applied_id() != event_id:
                if time.time() > deadline or agent.poll() is not None:
                    raise RuntimeError("event %d was not applied; agent log: %s" % (
                        n, open(os.path.join(work, "agent.log")).read()[-2000:]))
                time.sleep(0.002)
            if n in checkpoints:
                snaps[n] = snapshot(agent.pid)
        first, last = snaps[10], snaps[a.events]
        took = time.time() - start
        failures = open(os.path.join(work, "agent.log")).read().count("failed")
        print("haul agent applying %d events (alternating file:// and http://), %.1f s, %d failed:" % (
            a.events, took, failures))
        print("  %-12s" % "after" + "".join("%10d" % n for n in checkpoints))
        for k, unit in (("rss", "KiB"), ("pss", "KiB"), ("uss", "KiB"), ("fds", ""), ("threads", "")):
            print("  %-12s" % (k.upper() + (" " + unit if unit else "")) + "".join("%10d" % snaps[n][k] for n in checkpoints))
        goals = [
            ("RSS grows by at most 1 MiB", last["rss"] <= first["rss"] + 1024),
            ("open fds constant", last["fds"] == first["fds"]),
            ("threads constant", last["threads"] == first["threads"]),
        ]
        for what, ok in goals:
            print("  %s: %s" % (what, "PASS" if ok else "FAIL"))
        return 0 if all(ok for _, ok in goals) and failures == 0 else 1
    finally:
        for p in reversed(procs):
            if isinstance(p, Nginx):
                p.stop()
            else:
                p.terminate()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
