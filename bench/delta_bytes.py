#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Delta releases: the bytes a server holding release 1 must fetch for
release 2, chunked by haul against the tar.gz every peer ships and against
casync (Debian's casync, chunking the whole tree as one stream), measured on
the same trees in the same run.

  release 1:      DIR/W1/tree (bench/workload.py; made if missing)
  release 2:      "edited": 1% of the files (seeded, scattered) with 8 bytes
                  overwritten at a random offset — the issue's scenario;
                  "rewritten": workload.py's tree-changed, 1% of the files
                  with entirely new content; "same": release 1 again

  tar.gz          what stretcher (and haul's tarball path) downloads: all of it
  haul chunked    what `haul publish` uploads to a store holding release 1
                  (file://, so every byte is counted): the chunks the store
                  lacked, the index (a delta of release 1's) and the
                  manifest; an agent holding release 1 fetches the same
                  less the manifest
  casync          the new .caidx + the chunks its store lacked

Packing times are medians of --runs runs, each into a fresh store.

usage: delta_bytes.py --data DIR --work DIR [--haul build/haul] [--runs 3]
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def tree_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def files_under(path):
    out = []
    for d, _, fs in os.walk(path):
        for f in fs:
            out.append(os.path.join(d, f))
    return sorted(out)


def make_edited(tree, edited, seed):
    shutil.rmtree(edited, ignore_errors=True)
    shutil.copytree(tree, edited, symlinks=True)
    rng = random.Random(seed)
    files = files_under(edited)
    for path in rng.sample(files, max(1, len(files) // 100)):
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.seek(rng.randrange(0, max(1, size - 8)))
            f.write(rng.randbytes(min(8, size)))


def store_size(store):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(store) for f in fs) if os.path.isdir(store) else 0


def haul_pack(haul, tree, index, store):
    start = time.monotonic()
    subprocess.run([haul, "pack", tree, "--chunked", "-o", index, "--chunk-store", store, "--mtime", "1700000000",
                    "--log-level", "warn"], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def haul_publish(haul, index, store, release):
    subprocess.run([haul, "publish", index, "--to", "file://" + store, "--role", "web", "--stage", "prod",
                    "--dest", "/srv/app", "--release", release, "--log-level", "warn"], check=True,
                   stdout=subprocess.DEVNULL)


def casync_make(tree, index, store):
    start = time.monotonic()
    subprocess.run(["casync", "make", "--store=" + store, index, tree], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def tar_gz(tree, out):
    start = time.monotonic()
    subprocess.run("tar -C %s --sort=name --owner=0 --group=0 -cf - . | gzip -6 > %s" % (tree, out), shell=True, check=True)
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="where workloads live (tmpfs)")
    ap.add_argument("--work", required=True, help="scratch folder (tmpfs)")
    ap.add_argument("--haul", default=os.path.join(HERE, "..", "build", "haul"))
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    tree = os.path.join(a.data, "W1", "tree")
    if not os.path.isdir(tree):
        subprocess.run([sys.executable, os.path.join(HERE, "workload.py"), a.data, "W1"], check=True)
    edited = os.path.join(a.data, "W1", "tree-edited")
    make_edited(tree, edited, 20261130)
    seconds = {"haul": [], "casync": [], "tar.gz": []}
    table = []
    for run in range(a.runs):
        work = os.path.join(a.work, "run%d" % run)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        hstore, cstore = os.path.join(work, "haul-store"), os.path.join(work, "casync-store")
        seconds["haul"].append(haul_pack(a.haul, tree, os.path.join(work, "r1.index"), hstore))
        have_casync = shutil.which("casync") is not None
        if have_casync:
            seconds["casync"].append(casync_make(tree, os.path.join(work, "r1.caidx"), cstore))
        seconds["tar.gz"].append(tar_gz(tree, os.path.join(work, "r1.tar.gz")))
        if run:
            continue  # bytes are the same every run; only the first is tabled
        for name, release in (("same", tree), ("edited", edited),
                              ("rewritten", os.path.join(a.data, "W1", "tree-changed"))):
            tgz = os.path.join(work, name + ".tar.gz")
            tar_gz(release, tgz)
            full = os.path.getsize(tgz)
            hs, cs = os.path.join(work, "hs-" + name), os.path.join(work, "cs-" + name)
            ps = os.path.join(work, "ps-" + name)
            shutil.copytree(hstore, hs)
            haul_publish(a.haul, os.path.join(work, "r1.index"), ps, "r1")
            haul_pack(a.haul, release, os.path.join(work, name + ".index"), hs)
            before = store_size(ps)
            haul_publish(a.haul, os.path.join(work, name + ".index"), ps, "r2")
            # The manifest and its pointer are rewritten in place: uploaded, not added.
            haul_bytes = store_size(ps) - before + sum(
                os.path.getsize(os.path.join(ps, f)) for f in os.listdir(ps) if f.startswith(("manifest_", "latest_")))
            row = [name, full, haul_bytes]
            if have_casync:
                shutil.copytree(cstore, cs)
                before = store_size(cs)
                casync_make(release, os.path.join(work, name + ".caidx"), cs)
                row.append(store_size(cs) - before + os.path.getsize(os.path.join(work, name + ".caidx")))
            table.append(row)
    print("W1: %d files, %.1f MB; haul index of release 1: %.2f MB" % (
        len(files_under(tree)), tree_bytes(tree) / 1e6, os.path.getsize(os.path.join(a.work, "run0", "r1.index")) / 1e6))
    print("%-10s %12s %22s %22s" % ("release 2", "tar.gz", "haul chunked", "casync"))
    for row in table:
        name, full, haul_bytes = row[:3]
        cas = "%9.2f MB (%5.1f%%)" % (row[3] / 1e6, 100.0 * row[3] / full) if len(row) > 3 else "(casync missing)"
        print("%-10s %9.2f MB %9.3f MB (%5.2f%%) %s" % (name, full / 1e6, haul_bytes / 1e6, 100.0 * haul_bytes / full, cas))
    print("packing release 1 from nothing, median of %d: " % a.runs +
          ", ".join("%s %.2fs" % (k, statistics.median(v)) for k, v in seconds.items() if v))


if __name__ == "__main__":
    main()
