#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The third-party plugin path, end to end: install haul (SDK included) into a
# temporary prefix, build examples/plugins/webhook from a clean folder using
# only find_package(HaulSDK), load it with the installed haul, and run it in a
# pipeline that posts to a local receiver.
# Usage: out_of_tree_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"; src="$2"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
[ -f "$work/prefix/include/haul/plugin.h" ] || fail "SDK header not installed"
[ -f "$work/prefix/lib/cmake/HaulSDK/HaulSDKConfig.cmake" ] || fail "CMake package not installed"

cmake -S "$src/examples/plugins/webhook" -B "$work/webhook" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log" \
  || { cat "$work/configure.log"; fail "the example did not configure against the installed SDK"; }
cmake --build "$work/webhook" > "$work/build.log" || { cat "$work/build.log"; fail "the example did not build"; }
nm -D --defined-only "$work/webhook/webhook.so" | grep -q " T haul_plugin_entry" || fail "entry symbol not exported"
exported=$(nm -D --defined-only "$work/webhook/webhook.so" | grep -c " T " || true)
[ "$exported" -eq 1 ] || fail "the plugin exports $exported functions; only haul_plugin_entry should be visible"

haul="$work/prefix/bin/haul"
"$haul" plugins list | grep -q "$work/prefix/lib/haul/plugins/haul-hook-shell.so" \
  || { "$haul" plugins list; fail "installed haul does not find its own plugins"; }
HAUL_PLUGIN_PATH="$work/webhook" "$haul" plugins describe webhook | grep -q "POSTs deploy phases" \
  || fail "installed haul does not load the example plugin"

# A receiver that records every POST body, one per line.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/receiver.py" <<PY
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open("$work/received", "ab") as f:
            f.write(body + b"\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", $port), H).serve_forever()
PY
/usr/bin/python3 "$work/receiver.py" &
until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.05; done

mkdir -p "$work/app" && echo hi > "$work/app/index.html"
tar czf "$work/app.tgz" -C "$work/app" .
cat > "$work/manifest.yml" <<YAML
src: file://$work/app.tgz
checksum: $(sha256sum "$work/app.tgz" | cut -c1-64)
dest: $work/www
YAML
cat > "$work/haul.yaml" <<YAML
plugin_path: [$work/webhook]
pipelines:
  web:
    trigger: consul-watch
    hooks: [shell, { type: webhook, url: 'http://127.0.0.1:$port/hook', on: [post, success] }]
YAML
echo "file://$work/manifest.yml" | "$haul" --config "$work/haul.yaml" 2> "$work/deploy.log" \
  || { cat "$work/deploy.log"; fail "the deploy with the webhook hook failed"; }
grep -q '"phase":"post"' "$work/received" || fail "no post notice received"
grep -q '"phase":"success"' "$work/received" || fail "no success notice received"
echo "out-of-tree plugin: installed SDK -> built -> loaded -> ran in a pipeline: ok"
