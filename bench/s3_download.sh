#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# S3 download throughput: `haul fetch s3://...` against curl (with its own
# SigV4, --aws-sigv4) fetching the same object from the same s3rver on
# 127.0.0.1, alternating, median of N runs each. Goal: haul >= 90% of curl.
# Usage: bench/s3_download.sh [size-MiB, default 200] [runs, default 5]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
haul="${HAUL:-$here/build/haul}"
size_mib="${1:-200}"
runs="${2:-5}"
work="${BENCH_DIR:-$(mktemp -d)}"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work/data" "$work/object.bin"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/data"
node "$here/tests/servers/node_modules/s3rver/bin/s3rver.js" -d "$work/data" -a 127.0.0.1 -p "$port" \
  --configure-bucket bench --silent > "$work/s3rver.log" 2>&1 &
until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done

head -c "$((size_mib << 20))" /dev/urandom > "$work/object.bin"
endpoint="http://127.0.0.1:$port"
curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$work/object.bin" "$endpoint/bench/object.bin"

export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 \
       AWS_EC2_METADATA_DISABLED=true
time_of() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
haul_t=(); curl_t=()
for i in $(seq "$runs"); do
  curl_t+=("$(time_of curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -o /dev/null "$endpoint/bench/object.bin")")
  haul_t+=("$(time_of "$haul" fetch s3://bench/object.bin -o /dev/null)")
done
hm=$(printf '%s\n' "${haul_t[@]}" | median); cm=$(printf '%s\n' "${curl_t[@]}" | median)
echo "S3 GET of ${size_mib} MiB from s3rver on 127.0.0.1, median of $runs (alternating):"
printf '  curl  %6.2fs  %7.1f MiB/s\n' "$cm" "$(echo "$size_mib / $cm" | bc -l)"
printf '  haul  %6.2fs  %7.1f MiB/s\n' "$hm" "$(echo "$size_mib / $hm" | bc -l)"
printf '  haul throughput / curl throughput = %.2f (goal >= 0.90)\n' "$(echo "$cm / $hm" | bc -l)"
