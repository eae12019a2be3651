#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Deploy benchmark: haul against stretcher's pipeline and against plain tar,
measured in the same run, alternating, on the workloads of bench/workload.py.

  haul      haul deploy MANIFEST (file:// or http:// from nginx on 127.0.0.1)
  pipeline  what stretcher does, with the public tools: download to a temp
            file (cp, or curl for http), sha256sum -c, tar x into a temp
            folder, rsync -a --delete into dest, remove the temp files
  tar       tar x of the same archive into an empty folder (the floor)

Modes: fresh (empty dest), unchanged (dest already holds the release),
changed (dest holds the release, the artifact has 1% of files changed).
Prints, per case, the median wall time, CPU time (user+sys of the process
and its children) and peak RSS of --runs runs, and haul/pipeline, haul/tar;
with both sources, haul over http / over file. Each run goes through every
source and tool in turn, so drift of the machine hits them all alike.

With --baseline-haul BUILD/haul, that other haul build (say, main before a
change) is measured as a fourth tool in the same alternation, and
haul/baseline is printed: the before/after of a change, from one run.

usage: deploy_bench.py --data DIR --work DIR [--runs 5] [--workloads W1]
                       [--formats tar.gz tar.zst] [--sources file http]
                       [--modes fresh unchanged changed] [--baseline-haul PATH]
DIR from bench/workload.py; put both on tmpfs (see README), or --work on disk.
"""
import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAUL = os.environ.get("HAUL", os.path.join(ROOT, "build", "haul"))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    def __init__(self, root):
        self.dir = tempfile.mkdtemp(prefix="haul-bench-nginx-")
        self.port = free_port()
        d = self.dir
        os.makedirs(d + "/tmp")
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = ("daemon off;\nworker_processes 1;\n%serror_log %s/error.log;\npid %s/nginx.pid;\n"
                "events { worker_connections 64; }\nhttp {\n access_log off;\n sendfile on;\n"
                " client_body_temp_path %s/tmp/b;\n proxy_temp_path %s/tmp/p;\n fastcgi_temp_path %s/tmp/f;\n"
                " uwsgi_temp_path %s/tmp/u;\n scgi_temp_path %s/tmp/s;\n"
                " server { listen 127.0.0.1:%d; root %s; }\n}\n") % (user, d, d, d, d, d, d, d, self.port, root)
        with open(d + "/nginx.conf", "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(["/usr/sbin/nginx", "-p", d, "-e", d + "/error.log", "-c", d + "/nginx.conf"])
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def url(self, path):
        return "http://127.0.0.1:%d/%s" % (self.port, path)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


TOOLS = ["haul", "pipeline", "tar"]
BASELINE = None  # --baseline-haul: another haul binary, the tool "baseline"


def measure(argv):
    """Runs argv; returns (wall s, cpu s, peak RSS MiB) of it and its children."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), proc.returncode, err[-2000:]))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def quiet(argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Case:
    def __init__(self, data, work, workload, fmt, source, nginx):
        self.work = work
        base = os.path.join(data, workload)
        self.art = {k: os.path.join(base, "%s.%s" % (k, fmt)) for k in ("release", "release-changed")}
        self.sum = {k: sha256(p) for k, p in self.art.items()}
        rel = os.path.relpath(base, data)
        self.url = {k: (nginx.url("%s/%s.%s" % (rel, k, fmt)) if source == "http" else "file://" + p)
                    for k, p in self.art.items()}
        self.source = source
        self.dest = {t: os.path.join(work, "dest-" + t) for t in TOOLS}
        self.manifest = {}
        for t in ("haul", "baseline"):
            if t not in TOOLS:
                continue
            for k in self.art:
                m = os.path.join(work, "manifest-%s-%s-%s.yml" % (t, source, k))
                with open(m, "w") as f:
                    f.write("src: %s\nchecksum: %s\ndest: %s\n" % (self.url[k], self.sum[k], self.dest[t]))
                self.manifest[(t, k)] = "file://" + m

    def command(self, tool, which):
        if tool in ("haul", "baseline"):
            binary = HAUL if tool == "haul" else BASELINE
            return [binary, "deploy", self.manifest[(tool, which)], "--rsync-verbose=", "--log-level", "warn"]
        if tool == "tar":
            return ["tar", "xf", self.art[which], "-C", self.dest["tar"]]
        get = ("curl -sSf -o $t/a '%s'" % self.url[which]) if self.source == "http" else ("cp '%s' $t/a" % self.art[which])
        script = ("set -e; t=$(mktemp -d '%s/stretcher.XXXXXX'); %s; echo '%s  '$t/a | sha256sum -c --quiet; "
                  "mkdir $t/x; tar xf $t/a -C $t/x; rsync -a --delete $t/x/ '%s/'; rm -rf $t") % (
                      self.work, get, self.sum[which], self.dest["pipeline"])
        return ["bash", "-c", script]

    def reset(self, tool, mode):
        """Untimed: bring dest to the state the mode starts from."""
        d = self.dest[tool]
        shutil.rmtree(d, ignore_errors=True)
        for f in os.listdir(self.work):
            if f.startswith(".haul-dest-"):
                p = os.path.join(self.work, f)
                shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.remove(p)
        os.makedirs(d)
        if tool != "tar" and mode in ("unchanged", "changed"):
            quiet(self.command(tool, "release"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workloads", nargs="+", default=["W1"])
    ap.add_argument("--formats", nargs="+", default=["tar.gz", "tar.zst"])
    ap.add_argument("--sources", nargs="+", default=["file", "http"])
    ap.add_argument("--modes", nargs="+", default=["fresh", "unchanged", "changed"])
    ap.add_argument("--baseline-haul", help="another haul binary to measure in the same runs")
    a = ap.parse_args()
    if a.baseline_haul:
        global BASELINE
        BASELINE = os.path.abspath(a.baseline_haul)
        TOOLS.append("baseline")
    os.makedirs(a.work, exist_ok=True)
    nginx = Nginx(os.path.abspath(a.data)) if "http" in a.sources else None
    print("haul deploy benchmark: %d runs each, medians; data %s, work %s; %s" % (
        a.runs, a.data, a.work, os.uname().release))
    print("%-4s %-7s %-5s %-9s | %-26s | %-26s | %-26s | %s" % (
        "", "format", "src", "mode", "haul wall/cpu/rss", "pipeline wall/cpu/rss", "tar wall/cpu/rss", "haul/pipeline haul/tar"))
    try:
        for w in a.workloads:
            for fmt in a.formats:
                cases = {src: Case(a.data, a.work, w, fmt, src, nginx) for src in a.sources}
                for mode in a.modes:
                    which = "release-changed" if mode == "changed" else "release"
                    results = {(src, t): [] for src in a.sources for t in TOOLS}
                    for _ in range(a.runs):
                        for src in a.sources:  # alternating sources and tools: drift hits all alike
                            for tool in TOOLS:
                                cases[src].reset(tool, mode)
                                results[(src, tool)].append(measure(cases[src].command(tool, which)))
                    med = {k: tuple(statistics.median(x[i] for x in r) for i in range(3)) for k, r in results.items()}
                    for src in a.sources:
                        cell = lambda t: "%6.2fs %6.2fs %6.1fMiB" % med[(src, t)]
                        print("%-4s %-7s %-5s %-9s | %s | %s | %s | %5.2f  %5.2f" % (
                            w, fmt, src, mode, cell("haul"), cell("pipeline"), cell("tar"),
                            med[(src, "haul")][0] / med[(src, "pipeline")][0],
                            med[(src, "haul")][0] / med[(src, "tar")][0]), flush=True)
                        if BASELINE:
                            print("%-4s %-7s %-5s %-9s | baseline %s | haul/baseline %.2f" % (
                                w, fmt, src, mode, cell("baseline"),
                                med[(src, "haul")][0] / med[(src, "baseline")][0]), flush=True)
                    if "file" in a.sources and "http" in a.sources:
                        print("%-4s %-7s %-5s %-9s | haul over http / over file, same runs: %.2f" % (
                            w, fmt, "", mode, med[("http", "haul")][0] / med[("file", "haul")][0]), flush=True)
    finally:
        if nginx:
            nginx.stop()


if __name__ == "__main__":
    main()
