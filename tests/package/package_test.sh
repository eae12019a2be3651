#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian packages, as an operator gets them: scripts/package builds them
# from this build tree (lintian must find no error), then they are unpacked
# into a scratch root with dpkg-deb -x — not installed — and the unpacked haul
# runs the demo deploy with the plugins from its own /usr/lib/haul/plugins.
# The man pages, completion, units and conffile are checked where Debian
# expects them, and the plugin example builds against the unpacked haul-dev.
# Usage: package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"; src="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$src/scripts/package" --build-dir "$build" --out "$work/debs" --no-build > "$work/package.log" 2>&1 \
  || { cat "$work/package.log"; fail "scripts/package failed (lintian errors are failures)"; }
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
deb=$(ls "$work/debs"/haul_*_"$(dpkg --print-architecture)".deb 2>/dev/null || true)
dev=$(ls "$work/debs"/haul-dev_*_all.deb 2>/dev/null || true)
[ -f "$deb" ] && [ -f "$dev" ] || { ls "$work/debs"; fail "expected haul_*.deb and haul-dev_*_all.deb"; }
# A tagged release is project()'s version; anything else a snapshot that sorts by commit time.
package_version=$(dpkg-deb -f "$deb" Version)
grep -Eq "^$version(\+git[0-9]{8}\.[0-9]{6}\.[0-9a-f]{10}(\.dirty)?)?\$" <<<"$package_version" \
  || fail "package version $package_version is neither $version nor $version+git<date>.<time>.<commit>[.dirty]"
[ "$package_version" = "$version" ] || dpkg --compare-versions "$package_version" gt "$version" \
  || fail "snapshot $package_version does not sort after $version"

# Dependencies are what the binary and plugins link, found by dpkg-shlibdeps.
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libcurl4 libarchive13 libyaml-cpp libssl3 libboost-program-options; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/haul/agent.yaml.example \
  || fail "/etc/haul/agent.yaml.example is not a conffile"

root="$work/root"
dpkg-deb -x "$deb" "$root"
dpkg-deb -x "$dev" "$root"
haul="$root/usr/bin/haul"

# One version, with the commit.
"$haul" --version | grep -q "^haul $version (commit [0-9a-f]" || { "$haul" --version; fail "haul --version"; }

# The plugins are found relative to the binary, in the installed layout.
"$haul" plugins list > "$work/plugins.txt"
for p in consul-watch consul-http s3 gcs http file shell slack-notify consul-status consul-rollout etcd-rollout; do
  grep -q "$root/usr/lib/haul/plugins/haul-.*$p\\.so" "$work/plugins.txt" || { cat "$work/plugins.txt"; fail "plugin $p not loaded from the package"; }
done
grep -qi "refused" "$work/plugins.txt" && { cat "$work/plugins.txt"; fail "a packaged plugin was refused"; }

# The demo deploy, with the unpacked binary.
HAUL="$haul" DEMO_DIR="$work/demo" bash "$src/examples/demo.sh" > "$work/demo.log" 2>&1 \
  || { cat "$work/demo.log"; fail "the demo did not deploy with the packaged haul"; }
[ -x "$work/demo/www/app/bin/start" ] || fail "the demo left nothing in dest"

# Man pages for haul and every command, compressed.
man="$root/usr/share/man/man1"
for page in haul haul-deploy haul-agent haul-publish haul-rollout haul-fetch; do
  [ -f "$man/$page.1.gz" ] || fail "no man page $page"
done
zcat "$man/haul-deploy.1.gz" | grep -q "retry\\\\-wait" || fail "haul-deploy(1) is not haul deploy --help"
[ "$(ls "$man" | wc -l)" -ge 15 ] || fail "only $(ls "$man" | wc -l) man pages"
zcat "$man/haul.1.gz" | grep -q '^\.SH SIGNALS' || fail "haul(1) has no SIGNALS section"
zcat "$man/haul.1.gz" | grep -q '^\.SH "\{0,1\}EXIT STATUS' || fail "haul(1) has no EXIT STATUS section"
zcat "$man/haul-agent.1.gz" | grep -q 'config reload refused' || fail "haul-agent(1) does not say what SIGHUP does"
for page in haul.yaml haul-manifest; do
  [ -f "$root/usr/share/man/man5/$page.5.gz" ] || fail "no man page $page(5)"
done
zcat "$root/usr/share/man/man5/haul.yaml.5.gz" | grep -q 'allow_symlink_targets' || fail "haul.yaml(5) is not docs/configuration.md"
for page in "$man"/*.gz "$root"/usr/share/man/man5/*.gz; do
  zcat "$page" | grep -q '???' && fail "$(basename "$page") holds '???' (help2man in the C locale)"
done

# The documentation, on the server.
doc="$root/usr/share/doc/haul"
for f in README.md.gz docs/configuration.md.gz docs/troubleshooting.md.gz examples/pipelines/agent.yaml \
         examples/systemd/haul-agent.service examples/plugins/webhook/CMakeLists.txt; do
  [ -f "$doc/$f" ] || { find "$doc" | sort; fail "no $doc/$f"; }
done

# haul agent without --config points at the example this package installed.
"$haul" agent > "$work/agent.log" 2>&1 && fail "haul agent without --config succeeded"
grep -q "start from $root/etc/haul/agent.yaml.example" "$work/agent.log" || { cat "$work/agent.log"; fail "haul agent's hint"; }

# Bash completion, loadable.
comp="$root/usr/share/bash-completion/completions/haul"
[ -f "$comp" ] || fail "no bash completion"
bash -c "source '$comp' && complete -p haul" >/dev/null || fail "the completion does not register for haul"

# systemd units: present, pointing at the packaged binary and /etc, and not enabled
# (a .deb built here has no maintainer scripts that could enable them).
unit="$root/usr/lib/systemd/system/haul-agent.service"
grep -q "^ExecStart=/usr/bin/haul agent --config /etc/haul/agent.yaml" "$unit" || fail "haul-agent.service ExecStart"
grep -q "/usr/bin/haul --state-dir" "$root/usr/lib/systemd/system/haul-consul-watch@.service" || fail "consul-watch unit"
dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -Eq "postinst|preinst" && fail "maintainer scripts would enable units"
[ -f "$root/etc/haul/agent.yaml.example" ] || fail "no /etc/haul/agent.yaml.example"

# haul-dev: the plugin example builds against the unpacked SDK and loads.
cmake -S "$src/examples/plugins/webhook" -B "$work/webhook" -G Ninja -DCMAKE_PREFIX_PATH="$root/usr" > "$work/cmake.log" 2>&1 \
  || { cat "$work/cmake.log"; fail "the example plugin does not configure against haul-dev"; }
cmake --build "$work/webhook" > "$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "the example plugin does not build"; }
HAUL_PLUGIN_PATH="$work/webhook" "$haul" plugins describe webhook | grep -q "POSTs deploy phases" \
  || fail "the packaged haul does not load a plugin built with haul-dev"

# apt would install it: every dependency resolves on this system (a simulation).
if command -v apt-get >/dev/null; then
  apt-get install -s "$deb" > "$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get cannot resolve the package's dependencies"; }
fi
echo "ok: $(basename "$deb") $(basename "$dev")"
