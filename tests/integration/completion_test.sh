#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bash completion (core/cli/haul-completion.bash) against the real binary: commands
# and each command's own flags, read from haul's --help.
set -u
haul_dir=$(dirname "$1"); src=$2
PATH="$haul_dir:$PATH"
source "$src/core/cli/haul-completion.bash"
fail=0
complete_words() {  # complete_words WORD... — prints COMPREPLY
  COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()
  _haul
  printf '%s\n' "${COMPREPLY[@]}"
}
expect() {  # expect WHAT "needle" WORD...
  local what=$1 needle=$2; shift 2
  if ! complete_words "$@" | grep -qx -- "$needle"; then echo "FAIL: $what: '$needle' not offered for: $*"; fail=1; fi
}
refuse() {
  local what=$1 needle=$2; shift 2
  if complete_words "$@" | grep -qx -- "$needle"; then echo "FAIL: $what: '$needle' offered for: $*"; fail=1; fi
}
expect "command" deploy haul de
expect "command" plan haul pl
expect "command" check haul ch
expect "agent flag" --check haul agent --ch
expect "fetch flag" --retry-wait haul fetch --retry
refuse "deploy-only flag in fetch" --rsync-verbose haul fetch --rs
expect "deploy flag" --rsync-verbose haul deploy --rs
expect "deploy flag" --dry-run haul deploy --dry
expect "log level" warn haul deploy --log-level w
[ $fail -eq 0 ] && echo "completion: all expectations met"
exit $fail
