#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# haul's demo: pack examples/app, write a stretcher manifest for it, and hand
# haul a Consul event exactly as `consul watch -type event -name deploy haul`
# would — on the embedded default pipeline, from a file:// source into a
# local folder. Then deploy again with a log file in dest, to show excludes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# The build tree's haul; installed (/usr/share/doc/haul/examples), the one on PATH.
if [ -n "${HAUL:-}" ]; then haul=$HAUL
elif [ -x "$here/../build/haul" ]; then haul="$here/../build/haul"
else haul=$(command -v haul) || { echo "demo.sh: no haul on PATH (or set HAUL=/path/to/haul)" >&2; exit 2; }
fi
work="${DEMO_DIR:-/tmp/haul-demo}"
rm -rf "$work" && mkdir -p "$work/releases"

echo "== 1. pack examples/app into a tarball"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2026-01-01 00:00Z' \
    -czf "$work/releases/app.tgz" -C "$here/app" .
sum=$(sha256sum "$work/releases/app.tgz" | cut -d' ' -f1)
echo "   $work/releases/app.tgz sha256 $sum"

echo "== 2. write the manifest (stretcher's format)"
cat > "$work/releases/manifest.yml" <<YAML
src: file://$work/releases/app.tgz
checksum: $sum
dest: $work/www/app
dest_mode: 0755
excludes: ["*.pid"]
exclude_from: config/rsync_exclude.txt
commands:
  pre:
    - 'echo "pre: runs after the artifact is verified, before dest is touched"'
  post:
    - $work/www/app/bin/start
  success:
    - cat > $work/last-deploy.log
  failure:
    - cat > $work/last-failure.log
YAML

echo "== 3. fire it as consul watch does: a JSON event list on stdin, CONSUL_INDEX set"
payload=$(printf '%s' "file://$work/releases/manifest.yml" | base64 -w0)
events="[{\"ID\":\"demo-1\",\"Name\":\"deploy\",\"Payload\":\"$payload\",\"NodeFilter\":\"\",\"ServiceFilter\":\"\",\"TagFilter\":\"\",\"Version\":1,\"LTime\":1}]"
mkdir -p "$work/www/app/log" && echo "kept by exclude_from" > "$work/www/app/log/production.log"
echo "$events" | CONSUL_INDEX=1 "$haul"

echo "== 4. result"
if [ ! -s "$work/last-deploy.log" ]; then
  echo "demo FAILED: see the log above (under consul watch haul exits 0 and logs instead)" >&2
  exit 1
fi
find "$work/www/app" | sort | sed "s|^|   |"
echo "   success commands got the deploy log on stdin: $(wc -l < "$work/last-deploy.log") lines in $work/last-deploy.log"
echo "demo done: haul deployed examples/app to $work/www/app"
