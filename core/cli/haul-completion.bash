# SPDX-License-Identifier: Apache-2.0
# bash completion for haul. Commands and flags are read from haul's own
# --help at completion time, so they never drift from the binary.
# Installed as share/bash-completion/completions/haul; or: source core/cli/haul-completion.bash

_haul() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local haul=${COMP_WORDS[0]}
  if [[ $COMP_CWORD -eq 1 ]]; then
    local commands
    commands=$("$haul" --help 2>/dev/null | awk '/^  haul [a-z]/ {print $2}' | sort -u)
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return
  fi
  local cmd=${COMP_WORDS[1]}
  [[ $cmd == -* ]] && cmd=""  # the stdin handler: haul [flags] < event
  if [[ $cur == -* ]]; then
    local flags
    flags=$("$haul" $cmd --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  case $prev in
    --log-level) COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
    --log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "tar.gz tar.zst tar" -- "$cur")); return ;;
    --via) COMPREPLY=($(compgen -W "consul serf" -- "$cur")); return ;;
  esac
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _haul haul
