#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Fleet benchmark: what a rollout costs and what it saves.

N `haul agent` processes on loopback (HAUL_NODE node-01..N, each in its own
folder; the manifest's dest is /proc/self/cwd/www so one manifest serves
them all) watch the project's Consul double. For each model, in the same
run and alternating:

  everyone   stretcher's model: no rollout: block, every node deploys the
             moment the event arrives
  rollout    rollout: { canary: 1, max_parallel: P, max_failures: 1 }

it fires a good release and measures the time from the event to all N
nodes switched to it, then a bad release (its post command fails on every
node, as a broken health check would) and counts the nodes that ever ran
it, and the time until the fleet settled (every node rolled back or held).

  python3 bench/fleet.py --nodes 30 --runs 3 --work /tmp/bench/fleet
  python3 bench/fleet.py --engine etcd ...   # events and gate on a 3-member etcd cluster

Prints one line per run and the medians. Needs a built haul (build/haul).
"""
import argparse
import hashlib
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def start_etcd(work, members=3):
    """A real etcd cluster on loopback; returns (processes, client URLs)."""
    clients = [free_port() for _ in range(members)]
    peers = [free_port() for _ in range(members)]
    cluster = ",".join(f"m{i}=http://127.0.0.1:{peers[i]}" for i in range(members))
    procs = []
    for i in range(members):
        log = open(os.path.join(work, f"etcd-m{i}.log"), "w")
        procs.append(subprocess.Popen(
            ["etcd", "--name", f"m{i}", "--data-dir", os.path.join(work, f"etcd-m{i}"),
             "--listen-client-urls", f"http://127.0.0.1:{clients[i]}", "--advertise-client-urls",
             f"http://127.0.0.1:{clients[i]}", "--listen-peer-urls", f"http://127.0.0.1:{peers[i]}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peers[i]}", "--initial-cluster", cluster,
             "--initial-cluster-state", "new", "--log-level", "warn"], stdout=log, stderr=log))
    urls = [f"http://127.0.0.1:{p}" for p in clients]

    def healthy(url):
        try:
            return b'"health":"true"' in urllib.request.urlopen(url + "/health", timeout=2).read()
        except OSError:
            return False
    for url in urls:
        wait_for(lambda: healthy(url), 30, f"etcd at {url}")
    return procs, urls


class Fleet:
    def __init__(self, haul, work, nodes, rollout, engine):
        self.haul, self.work, self.n, self.rollout, self.engine = haul, work, nodes, rollout, engine
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        self.port = free_port()
        self.consul = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests/servers/consul_double.py"),
                                        "--port", str(self.port)], stdout=subprocess.PIPE)
        assert self.consul.stdout.readline().strip() == b"ready"
        self.etcd, self.etcd_urls = start_etcd(work) if engine == "etcd" else ([], [])
        self.agents = []
        for i in range(1, nodes + 1):
            home = self.home(i)
            os.makedirs(home)
            cfg = os.path.join(home, "haul.yaml")
            with open(cfg, "w") as f:
                if engine == "etcd":
                    f.write(f"etcd: {{ endpoints: [{', '.join(self.etcd_urls)}] }}\n")
                    trigger = "{ type: etcd-watch, key: haul/deploy/deploy_web }"
                else:
                    trigger = (f"{{ type: consul-http, address: 'http://127.0.0.1:{self.port}', event: deploy_web,"
                               f" wait: 10s, min_interval: 50ms }}")
                f.write(f"state_dir: {home}/state\npipelines:\n  web:\n    trigger: {trigger}\n    hooks: [shell]\n")
                if rollout:
                    f.write(f"    rollout: {{ {rollout}{', via: etcd' if engine == 'etcd' else ''} }}\n")
            log = open(os.path.join(home, "agent.log"), "w")
            self.agents.append(subprocess.Popen([haul, "agent", "--config", cfg], cwd=home, stdout=log, stderr=log,
                                                env={**os.environ, "HAUL_NODE": f"node-{i:02d}"}))
        for i in range(1, nodes + 1):
            wait_for(lambda: "watching " in open(os.path.join(self.home(i), "agent.log")).read(), 30,
                     f"agent {i} to start")

    def home(self, i):
        return os.path.join(self.work, f"node-{i:02d}")

    def current(self, i):
        try:
            return os.path.basename(os.readlink(os.path.join(self.home(i), "www/current")))
        except OSError:
            return ""

    def publish(self, name, post):
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz") as t:
            body = name.encode()
            info = tarfile.TarInfo("index.html")
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
        tgz = os.path.join(self.work, name + ".tgz")
        with open(tgz, "wb") as f:
            f.write(data.getvalue())
        manifest = os.path.join(self.work, name + ".yml")
        with open(manifest, "w") as f:
            f.write(f"src: file://{tgz}\nchecksum: {hashlib.sha256(data.getvalue()).hexdigest()}\n"
                    f"dest: /proc/self/cwd/www\nrelease: {name}\nsync_strategy: release\n"
                    f"commands:\n  post: ['sleep 0.2', '{post}']\n")
        return "file://" + manifest

    def fire(self, url):
        if self.engine == "etcd":
            subprocess.run([self.haul, "kick", url, "--name", "deploy_web", "--via", "etcd", "--etcd-endpoints",
                            ",".join(self.etcd_urls), "--no-check"], check=True, capture_output=True)
            return
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/event/fire/deploy_web", data=url.encode(),
                                     method="PUT")
        urllib.request.urlopen(req).read()

    def settled(self, marker_count):
        """Every agent has logged the end of its deploy of the newest event."""
        done = 0
        for i in range(1, self.n + 1):
            text = open(os.path.join(self.home(i), "agent.log")).read()
            done += text.count("deploy of ") >= marker_count
        return done == self.n

    def close(self):
        for a in self.agents:
            a.terminate()
        for a in self.agents:
            a.wait()
        self.consul.kill()
        self.consul.wait()
        self.consul.stdout.close()
        for e in self.etcd:
            e.kill()
            e.wait()


def run_model(args, name, rollout):
    fleet = Fleet(args.haul, os.path.join(args.work, name), args.nodes, rollout, args.engine)
    try:
        start = time.monotonic()
        fleet.fire(fleet.publish("good", "true"))
        wait_for(lambda: all(fleet.current(i) == "good" for i in range(1, fleet.n + 1)), 300, "the good release")
        good_s = time.monotonic() - start
        wait_for(lambda: fleet.settled(1), 60, "every deploy of the good release to end")
        ran = os.path.join(fleet.work, "ran-bad")
        start = time.monotonic()
        fleet.fire(fleet.publish("bad", f"echo $HAUL_NODE >> {ran}; exit 1"))
        wait_for(lambda: fleet.settled(2), 300, "every node to settle after the bad release")
        settle_s = time.monotonic() - start
        ran_bad = len(open(ran).read().split()) if os.path.exists(ran) else 0
        on_good = sum(fleet.current(i) == "good" for i in range(1, fleet.n + 1))
        return good_s, ran_bad, settle_s, on_good
    finally:
        fleet.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", default="25%", help="the rollout's max_parallel (default 25%%)")
    ap.add_argument("--work", default="/tmp/haul-fleet-bench")
    ap.add_argument("--haul", default=os.path.join(ROOT, "build/haul"))
    ap.add_argument("--engine", choices=["consul", "etcd"], default="consul",
                    help="consul: events and gate through the Consul double; etcd: both on a 3-member etcd cluster")
    args = ap.parse_args()
    models = [("everyone", ""), ("rollout", f"canary: 1, max_parallel: {args.parallel}, max_failures: 1")]
    results = {m: [] for m, _ in models}
    print(f"{args.nodes} agents on loopback ({args.engine}), small artifact, post = sleep 0.2 s; rollout = {models[1][1]}")
    print(f"{'run':>3} {'model':10} {'good: all switched':>19} {'bad: nodes ran it':>18} {'bad: settled':>13} "
          f"{'on good after':>14}")
    for run in range(1, args.runs + 1):
        for name, rollout in models:
            r = run_model(args, name, rollout)
            results[name].append(r)
            print(f"{run:>3} {name:10} {r[0]:>18.2f}s {r[1]:>18} {r[2]:>12.2f}s {r[3]:>14}", flush=True)
    print("\nmedians:")
    for name, _ in models:
        rs = results[name]
        print(f"    {name:10} all switched {statistics.median(r[0] for r in rs):.2f} s; bad release ran on "
              f"{statistics.median(r[1] for r in rs):.0f} of {args.nodes} nodes; settled in "
              f"{statistics.median(r[2] for r in rs):.2f} s")
    e, r = results["everyone"], results["rollout"]
    print(f"rollout / everyone: time to all switched {statistics.median(x[0] for x in r) / statistics.median(x[0] for x in e):.2f}x; "
          f"nodes that ran the bad release {statistics.median(x[1] for x in r):.0f} vs {statistics.median(x[1] for x in e):.0f}")


if __name__ == "__main__":
    main()
