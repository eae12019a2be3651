#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Idle cost of `haul agent`: resident memory and CPU time of an agent that
# watches three roles through the consul-http trigger (blocking queries on the
# Consul API test double) and receives no event. Baseline in the same run:
# the same numbers for `sleep`, the floor of any process on this machine, and
# for bench/libcurl_floor.c, the smallest program waiting in the same blocking
# query through Debian's libcurl — the floor of any process that uses libcurl.
# Usage: bench/agent_idle.sh [seconds-idle, default 20]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
haul="${HAUL:-$here/build/haul}"
idle="${1:-20}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 "$here/tests/servers/consul_double.py" --port "$port" > "$work/consul.log" 2>&1 &
until grep -q ready "$work/consul.log"; do sleep 0.1; done

{
  echo "state_dir: $work/state"
  echo "pipelines:"
  for role in web batch api; do
    echo "  $role: { trigger: { type: consul-http, address: 'http://127.0.0.1:$port', event: deploy_$role } }"
  done
} > "$work/haul.yaml"
"$haul" agent --config "$work/haul.yaml" > "$work/agent.log" 2>&1 &
agent=$!
sleep $((idle + 30)) & baseline=$!
cc -O2 -o "$work/libcurl_floor" "$here/bench/libcurl_floor.c" -lcurl
"$work/libcurl_floor" "http://127.0.0.1:$port/v1/event/list?name=deploy_web&index=1&wait=$((idle + 30))s" & floor=$!

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# PSS and USS (private pages: Private_Clean + Private_Dirty) from smaps_rollup,
# and the dirty part of them (heap, stacks, relocated library data): what is the
# process's alone and cannot be dropped. Private clean pages are library code
# no other process on this idle machine happens to map; the kernel can drop
# and re-read them, and on a busy host they are shared.
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
uss_kb() { awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }
dirty_kb() { awk '/^Private_Dirty:/ {print $2}' "/proc/$1/smaps_rollup"; }
mib() { echo "$(( $1 / 1024 )).$(( ($1 % 1024) * 10 / 1024 ))"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
until grep -q "agent running" "$work/agent.log"; do sleep 0.1; done
sleep 1  # start-up (plugin loading) is not idle cost
t0=$(cpu_ticks $agent)
sleep "$idle"
t1=$(cpu_ticks $agent)
hz=$(getconf CLK_TCK)
requests=$(grep -c "" "$work/consul.log" || true)
echo "haul agent, 3 consul-http pipelines, idle ${idle}s, beside bench/libcurl_floor.c (a bare C program in"
echo "the same blocking query through Debian's libcurl) and sleep:"
printf '  %-34s %10s %10s %10s %18s\n' "" "RSS MiB" "PSS MiB" "USS MiB" "private dirty MiB"
for who in agent floor baseline; do
  pid=${!who}
  [ -r "/proc/$pid/smaps_rollup" ] || continue
  label=$([ $who = agent ] && echo "haul agent" || ([ $who = floor ] && echo "libcurl floor" || echo "sleep"))
  printf '  %-34s %10s %10s %10s %18s\n' "$label" "$(mib $(rss_kb $pid))" "$(mib $(pss_kb $pid))" \
    "$(mib $(uss_kb $pid))" "$(mib $(dirty_kb $pid))"
done
echo "  goal: the agent's private dirty memory <= 3 MiB: $(mib $(dirty_kb $agent)) MiB —" \
  "$([ $(dirty_kb $agent) -le 3072 ] && echo PASS || echo FAIL)"
echo "  largest mappings:"; pmap -x $agent | sort -k3 -n -r | head -6 | awk '{printf "    %8s KiB  %s\n", $3, $NF}'
echo "  CPU time while idle: $(( (t1 - t0) * 1000 / hz )) ms over ${idle}s"
