#!/usr/bin/env bash
# smallobj.sh measures the storage node's small-object log: 4 KiB PUTs at concurrency 8
# against a fresh all-in-one server with the log off (--small-object-max 0) and on (256 KiB),
# alternating, with 1 and 3 replicas, and the server's CPU per operation from its /metrics.
# Usage: STRATUS=/tmp/stratus bench/scripts/smallobj.sh [rounds] [duration]
# Prints one TSV line per run; take medians per (replicas, small_object_max).
set -euo pipefail
rounds=${1:-4}
dur=${2:-10s}
bin=${STRATUS:-bin/stratus}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
printf 'round\treplicas\tsmall_object_max\tops_per_second\tp50_ms\tserver_cpu_ms_per_op\n'
for r in $(seq 1 "$rounds"); do
  for rep in 1 3; do
    for max in 0 262144; do
      data=$work/$rep-$max-$r
      "$bin" --log-level warn server --data "$data" --replicas "$rep" --small-object-max "$max" \
        --listen 127.0.0.1:19000 --meta-listen 127.0.0.1:19400 --objectd-listen 127.0.0.1:19200 \
        --metrics-listen 127.0.0.1:19090 --nbd-listen "" --ec2-listen "" >"$work/server.log" 2>&1 &
      srv=$!
      for _ in $(seq 1 200); do [ -s "$data/credentials.json" ] && break; sleep 0.3; done
      "$bin" --log-level warn bench s3 put --size 4KiB --concurrency 8 --duration "$dur" \
        --credentials "$data/credentials.json" --endpoint http://127.0.0.1:19000 \
        --server-metrics http://127.0.0.1:19090/metrics --json >"$work/out.json"
      python3 - "$r" "$rep" "$max" "$work/out.json" <<'PY'
import json, sys
r, rep, mx, path = sys.argv[1:]
d = json.load(open(path)); o = d["ops"][0]
print("\t".join([r, rep, mx, "%.0f" % o["ops_per_second"], "%.2f" % (o["latency"]["p50_seconds"] * 1000),
                 "%.2f" % ((d["server"]["cpu_seconds_per_op"] or 0) * 1000)]))
PY
      kill -TERM "$srv"; wait "$srv" || true
      rm -rf "$data"
    done
  done
done
