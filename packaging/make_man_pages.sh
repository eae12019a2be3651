#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes haul.1 and haul-COMMAND.1 for every command `haul --help` lists, with
# help2man, from the binary's own help texts: the man pages cannot drift from
# what the commands accept. The one-line NAME of each page is the line
# `haul --help` gives that command.
#   make_man_pages.sh HAUL_BINARY VERSION OUT_DIR
set -euo pipefail
haul=$1 version=$2 out=$3
mkdir -p "$out"
rm -f "$out"/*.1
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
help2man --no-info --no-discard-stderr --section 1 --version-string="$version" \
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
    help2man --no-info --no-discard-stderr --section 1 --version-string="$version" \
      --name "$summary" --help-option="$command --help" \
      --output "$out/haul-$command.1" "$links/haul-$command"
  done
ls "$out"/haul-*.1 >/dev/null  # at least one command page, or the help format changed
