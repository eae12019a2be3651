#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes haul.1 and haul-COMMAND.1 for every command `haul --help` lists, with
# help2man, from the binary's own help texts: the man pages cannot drift from
# what the commands accept. The one-line NAME of each page is the line
# `haul --help` gives that command; packaging/man/haul[-COMMAND].h2m adds
# what --help cannot say (DESCRIPTION, SIGNALS, FILES, EXIT STATUS). The
# section-5 pages, haul.yaml(5) and haul-manifest(5), are made from
# docs/configuration.md and docs/manifest.md by md2man.py.
#   make_man_pages.sh HAUL_BINARY VERSION OUT_DIR
set -euo pipefail
haul=$1 version=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
# haul's help is UTF-8 (em dashes, arrows): in the C locale help2man would
# write them as "???".
export LC_ALL=C.UTF-8  # and help2man --locale: it sets its own, C by default
mkdir -p "$out"
rm -f "$out"/*.1 "$out"/*.5
include() { [ -f "$here/man/$1.h2m" ] && echo "--include=$here/man/$1.h2m"; true; }
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
help2man --locale=C.UTF-8 --no-info --no-discard-stderr --section 1 --version-string="$version" $(include haul) \
  --name "pull-based deploys: one event, every server pulls, verifies and switches" \
  --output "$out/haul.1" "$haul"
# `haul --help` lists "  haul CMD ARGS   summary", or the summary alone on
# the next line when ARGS are long.
"$haul" --help | awk '
  /^  haul [a-z][a-z-]* / {
    cmd = $2
    rest = substr($0, index($0, cmd) + length(cmd))
    if (match(rest, /[^ ]  +[^ ]/)) { print cmd "\t" substr(rest, RSTART + RLENGTH - 1); cmd = "" }
    next
  }
  cmd != "" && /^      +[^ ]/ { sub(/^ +/, ""); print cmd "\t" $0; cmd = ""; next }
  { cmd = "" }' | sort -u -k1,1 |
  while IFS=$'\t' read -r command summary; do
    [ "$command" = version ] && continue   # the same as haul --version
    # help2man names a page after the program it runs: haul-COMMAND, a link
    # to haul (which reads its command from the arguments, not its name).
    ln -sf "$(readlink -f "$haul")" "$links/haul-$command"
    help2man --locale=C.UTF-8 --no-info --no-discard-stderr --section 1 --version-string="$version" $(include "haul-$command") \
      --name "$summary" --help-option="$command --help" \
      --output "$out/haul-$command.1" "$links/haul-$command"
  done
ls "$out"/haul-*.1 >/dev/null  # at least one command page, or the help format changed
python3 "$here/md2man.py" "$here/../docs/configuration.md" haul.yaml 5 "$version" \
  "the pipeline config of haul agent, haul check and haul --config" > "$out/haul.yaml.5"
python3 "$here/md2man.py" "$here/../docs/manifest.md" haul-manifest 5 "$version" \
  "the manifest a release is deployed from (stretcher's format)" > "$out/haul-manifest.5"
if grep -l '???' "$out"/*.1 "$out"/*.5; then echo "make_man_pages.sh: '???' in the pages above (a locale problem)" >&2; exit 1; fi
