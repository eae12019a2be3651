#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Delta releases: deploy time and bytes over http (nginx on 127.0.0.1),
haul's chunked release against haul's tar.gz deploy and casync, measured
alternating in the same run on W1.

  release 1:  DIR/W1/tree (bench/workload.py)
  release 2:  1% of the files with 8 bytes overwritten (delta_bytes.py's "edited")

  fresh    dest empty, release 2 deployed
  changed  dest holds release 1 as haul deployed it (with its stamps), release 2
           deployed (what a fleet does every day)

  haul tar.gz    haul deploy of the tar.gz (stretcher's artifact)
  haul chunked   haul deploy of the release index as `haul publish` put it
                 in the store nginx serves (release 2's: a delta of release
                 1's); chunks from nginx. Fresh, the agent holds no index
                 and fetches release 1's as the base
  casync         casync extract of the .caidx from its store over http
                 (casync-http), with --seed=dest when dest holds release 1;
                 the extracted folder is not synced into dest, so casync is
                 timed doing less than a deploy

Prints the median wall time of --runs runs and the bytes each fetched
(haul: its own log; casync: its store's new chunks + index).

With --max-bandwidth BYTES (e.g. 12.5M, 100 Mbit/s), every transfer is capped
(haul's --max-bandwidth, casync's --rate-limit-bps): loopback's free bytes
are what a real network does not give.

usage: delta_deploy.py --data DIR --work DIR [--runs 5] [--max-bandwidth 12.5M]   (both on tmpfs)
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from delta_bytes import make_edited  # noqa: E402
from deploy_bench import HAUL, Nginx, sha256  # noqa: E402

SIZE = re.compile(r"([\d.]+) (B|kB|MB|GB)")
UNIT = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)


def timed(cmd):
    start = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), p.stderr[-3000:]))
    return time.monotonic() - start, p.stderr


def bytes_per_s(text):
    units = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
    m = re.fullmatch(r"([\d.]+)([kKMG]?)", text)
    if not m:
        raise SystemExit("--max-bandwidth: expected a number of bytes/s like 12.5M, got " + text)
    return int(float(m.group(1)) * units[m.group(2)])


def haul_fetched(log):
    """Bytes haul fetched: the artifact (the 'Fetched X: <size>' line) plus chunks ('<size> transferred')."""
    total = 0.0
    for line in log.splitlines():
        if "] Fetched " in line:
            m = SIZE.search(line.split(": ", 2)[-1])
            total += float(m.group(1)) * UNIT[m.group(2)]
        m = re.search(r"([\d.]+) (B|kB|MB|GB) transferred in", line)
        if m:
            total += float(m.group(1)) * UNIT[m.group(2)]
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-bandwidth", default="", help="cap every transfer, e.g. 12.5M (bytes/s)")
    a = ap.parse_args()
    tree = os.path.join(a.data, "W1", "tree")
    if not os.path.isdir(tree):
        run([sys.executable, os.path.join(HERE, "workload.py"), a.data, "W1"])
    edited = os.path.join(a.data, "W1", "tree-edited")
    make_edited(tree, edited, 20261130)

    shutil.rmtree(a.work, ignore_errors=True)
    site = os.path.join(a.work, "site")
    os.makedirs(site)
    packs = os.path.join(a.work, "packs")
    for r, src in (("r1", tree), ("r2", edited)):
        run([HAUL, "pack", src, "-o", os.path.join(site, r + ".tar.gz"), "--mtime", "1700000000", "--log-level", "warn"])
        run([HAUL, "pack", src, "--chunked", "-o", os.path.join(packs, r, "app.index"), "--chunk-store", packs,
             "--mtime", "1700000000", "--log-level", "warn"])
        run([HAUL, "publish", os.path.join(packs, r, "app.index"), "--to", "file://" + site, "--role", "web",
             "--stage", "prod", "--dest", "/srv/app", "--release", r, "--log-level", "warn"])
    have_casync = shutil.which("casync") is not None
    cstore = os.path.join(site, "castore")
    if have_casync:
        run(["casync", "make", "--store=" + cstore, os.path.join(site, "r1.caidx"), tree], stderr=subprocess.DEVNULL)
        before = set(os.path.join(d, f) for d, _, fs in os.walk(cstore) for f in fs)
        run(["casync", "make", "--store=" + cstore, os.path.join(site, "r2.caidx"), edited], stderr=subprocess.DEVNULL)
        new = [os.path.join(d, f) for d, _, fs in os.walk(cstore) for f in fs if os.path.join(d, f) not in before]
        casync_changed_bytes = sum(os.path.getsize(p) for p in new) + os.path.getsize(os.path.join(site, "r2.caidx"))
        # Fresh, casync fetches every chunk of release 2: a store of it alone.
        alone = os.path.join(a.work, "castore-r2")
        run(["casync", "make", "--store=" + alone, os.path.join(a.work, "r2.caidx"), edited], stderr=subprocess.DEVNULL)
        casync_fresh_bytes = (sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(alone) for f in fs)
                              + os.path.getsize(os.path.join(site, "r2.caidx")))

    nginx = Nginx(site)
    dest = os.path.join(a.work, "dest")
    dest_indexes = os.path.join(a.work, ".haul-dest.indexes")  # the indexes the agent deployed
    dest_stamps = os.path.join(a.work, ".haul-dest.stamps")  # what it knows of dest's files
    manifests = {}
    for kind, src in (("tar.gz", "r%s.tar.gz"), ("chunked", "r%s/app.index")):
        for r in ("1", "2"):
            path = os.path.join(a.work, "m-%s-%s.yml" % (kind, r))
            with open(path, "w") as f:
                f.write("src: http://127.0.0.1:%d/%s\nchecksum: %s\ndest: %s\n" % (
                    nginx.port, src % r, sha256(os.path.join(site, src % r)), dest))
            manifests[kind, r] = "file://" + path

    times, fetched = {}, {}
    try:
        for _ in range(a.runs):
            for mode in ("fresh", "changed"):
                for kind in ("tar.gz", "chunked"):
                    shutil.rmtree(dest, ignore_errors=True)
                    shutil.rmtree(dest_indexes, ignore_errors=True)
                    if os.path.exists(dest_stamps):
                        os.unlink(dest_stamps)
                    if mode == "changed":
                        run([HAUL, "deploy", manifests[kind, "1"], "--log-level", "warn"])
                    cap = ["--max-bandwidth", a.max_bandwidth] if a.max_bandwidth else []
                    secs, log = timed([HAUL, "deploy", manifests[kind, "2"]] + cap)
                    times.setdefault((mode, "haul " + kind), []).append(secs)
                    fetched[mode, "haul " + kind] = haul_fetched(log)
                if have_casync:
                    out = os.path.join(a.work, "casync-out")
                    shutil.rmtree(out, ignore_errors=True)
                    cmd = ["casync", "extract", "--store=http://127.0.0.1:%d/castore/" % nginx.port]
                    if a.max_bandwidth:
                        cmd.append("--rate-limit-bps=%d" % bytes_per_s(a.max_bandwidth))
                    if mode == "changed":
                        shutil.rmtree(dest, ignore_errors=True)
                        shutil.copytree(tree, dest, symlinks=True)
                        cmd.append("--seed=" + dest)
                    secs, _ = timed(cmd + ["http://127.0.0.1:%d/r2.caidx" % nginx.port, out])
                    times.setdefault((mode, "casync"), []).append(secs)
                    fetched[mode, "casync"] = casync_changed_bytes if mode == "changed" else casync_fresh_bytes
    finally:
        nginx.stop()

    tgz = os.path.getsize(os.path.join(site, "r2.tar.gz"))
    print("W1 over http, release 2 (1%% of files edited); tar.gz %.1f MB; median of %d runs%s" % (
        tgz / 1e6, a.runs, "; transfers capped at %s bytes/s" % a.max_bandwidth if a.max_bandwidth else ""))
    print("%-8s %-14s %9s %14s %10s" % ("mode", "tool", "time", "fetched", "vs tar.gz"))
    for mode in ("fresh", "changed"):
        base = statistics.median(times[mode, "haul tar.gz"])
        for tool in ("haul tar.gz", "haul chunked", "casync"):
            if (mode, tool) not in times:
                continue
            t = statistics.median(times[mode, tool])
            print("%-8s %-14s %8.2fs %11.2f MB %9.2fx" % (mode, tool, t, fetched[mode, tool] / 1e6, t / base))


if __name__ == "__main__":
    main()
