#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Seeded deploy workloads for bench/deploy_bench.py.

  W1  Rails-like: ~20,000 files from 100 B to 2 MB, ~150 MB, a deep
      vendor/bundle tree, about 3:1 under gzip (text with some binary)
  W2  5,000 small files (100 B - 8 KiB)
  W3  one 500 MB file

Each is written as DIR/<w>/tree, DIR/<w>/tree-changed (1% of the files
rewritten, same paths), and both packed as tar.gz and tar.zst with the
public tools (tar, gzip -6, zstd -3), so every contender reads the same bytes.

usage: workload.py DIR [W1 W2 W3] [--seed N] [--scale F]
"""
import argparse
import os
import random
import shutil
import subprocess
import sys

POOL_SIZE = 32 << 20


def make_pool(rng):
    """32 MiB of content: mostly words (source code, templates, JSON), some
    random bytes (images, compiled gems) — about 3:1 for gzip -6."""
    vocab = []
    for _ in range(400):
        n = rng.randint(2, 12)
        vocab.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(n)))
    punct = [" ", " ", " ", "\n", ".", "(", ")", ", ", " = ", ":", "\n  "]
    out = bytearray()
    while len(out) < POOL_SIZE:
        if rng.random() < 0.04:
            out += rng.randbytes(4096)
        else:
            words = []
            size = 0
            while size < 4096:
                w = rng.choice(vocab) + rng.choice(punct)
                words.append(w)
                size += len(w)
            out += "".join(words).encode()
    return bytes(out[:POOL_SIZE])


def file_size(rng, lo, hi):
    # Log-uniform: many small files, a few large ones.
    import math
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def write(path, pool, rng, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    start = rng.randrange(0, len(pool) - size) if size < len(pool) else 0
    with open(path, "wb") as f:
        if size <= len(pool):
            f.write(pool[start:start + size])
        else:
            left = size
            while left > 0:
                n = min(left, 8 << 20)
                s = rng.randrange(0, len(pool) - n)
                f.write(pool[s:s + n])
                left -= n


def paths_w1(rng, count):
    gems = ["gem%03d-%d.%d.%d" % (i, rng.randint(0, 9), rng.randint(0, 20), rng.randint(0, 9)) for i in range(180)]
    out = []
    for i in range(count):
        r = rng.random()
        if r < 0.7:
            gem = rng.choice(gems)
            depth = rng.randint(1, 5)
            parts = ["vendor", "bundle", "ruby", "3.2.0", "gems", gem, "lib"] + ["m%d" % rng.randint(0, 6) for _ in range(depth)]
            out.append("/".join(parts) + "/f%05d.rb" % i)
        elif r < 0.85:
            out.append("app/%s/%s/f%05d.rb" % (rng.choice(["models", "controllers", "views", "helpers", "jobs"]),
                                               "d%d" % rng.randint(0, 30), i))
        else:
            out.append("public/assets/%s/f%05d.%s" % ("d%d" % rng.randint(0, 20), i, rng.choice(["js", "css", "png", "svg"])))
    return out


def build(root, name, seed, scale):
    rng = random.Random(seed)
    pool = make_pool(rng)
    tree = os.path.join(root, name, "tree")
    changed = os.path.join(root, name, "tree-changed")
    for d in (tree, changed):
        shutil.rmtree(d, ignore_errors=True)
    files = []
    if name == "W1":
        n = int(20000 * scale)
        budget = 150e6 * scale
        paths = paths_w1(rng, n)
        sizes = [file_size(rng, 100, 2 << 20) for _ in paths]
        # Scale sizes so the total is about 150 MB.
        k = budget / sum(sizes)
        sizes = [max(100, min(2 << 20, int(s * k))) for s in sizes]
        files = list(zip(paths, sizes))
    elif name == "W2":
        files = [("app/d%d/f%05d.txt" % (i % 50, i), file_size(rng, 100, 8192)) for i in range(int(5000 * scale))]
    elif name == "W3":
        files = [("data/blob.bin", int(500e6 * scale))]
    for path, size in files:
        write(os.path.join(tree, path), pool, rng, size)
    shutil.copytree(tree, changed, symlinks=True)
    # 1% of the files (at least one) get new content of the same size.
    pick = rng.sample(files, max(1, len(files) // 100))
    for path, size in pick:
        write(os.path.join(changed, path), pool, rng, size)
    for src, base in ((tree, "release"), (changed, "release-changed")):
        tar = os.path.join(root, name, base + ".tar")
        subprocess.run(["tar", "-C", src, "--sort=name", "--owner=0", "--group=0", "-cf", tar, "."], check=True)
        subprocess.run(["gzip", "-6", "-k", "-f", tar], check=True)
        subprocess.run(["zstd", "-3", "-q", "-f", "-T1", tar, "-o", tar + ".zst"], check=True)
        os.remove(tar)
    total = sum(s for _, s in files)
    gz = os.path.getsize(os.path.join(root, name, "release.tar.gz"))
    print("%s: %d files, %.1f MB, tar.gz %.1f MB (%.2f:1), tar.zst %.1f MB" % (
        name, len(files), total / 1e6, gz / 1e6, total / gz,
        os.path.getsize(os.path.join(root, name, "release.tar.zst")) / 1e6), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("workloads", nargs="*", default=["W1", "W2", "W3"])
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--scale", type=float, default=1.0, help="shrink for a quick run, e.g. 0.1")
    a = ap.parse_args()
    for w in a.workloads:
        build(a.dir, w, a.seed + int(w[1:]), a.scale)


if __name__ == "__main__":
    main()
