#!/usr/bin/env bash
# storage-hop.sh measures what mutual TLS between the proxy and the storage node costs: the
# all-in-one server with its front end reaching the storage node over loopback HTTPS (mtls)
# and over loopback HTTP (plain), alternating, fresh data each run, the same load each time.
# Usage: bench/scripts/storage-hop.sh [rounds] [duration]
# Prints one TSV line per run, then the medians of each case and the mtls/plain ratios.
# The columns are for people (MiB/s, milliseconds), computed from the base units of
# `stratus bench s3 --json` (bytes_per_second, latency.p50_seconds).
set -euo pipefail
rounds=${1:-3}
dur=${2:-10s}
bin=${STRATUS:-bin/stratus}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
exec 3>&1
{
printf 'round\thop\top\tsize\tops_per_second\tmib_per_second\tp50_ms\tserver_cpu_ms_per_op\n'
for r in $(seq 1 "$rounds"); do
  for hop in mtls plain; do
    data=$work/$hop-$r
    read -r s3 meta obj metrics < <(python3 -c 'import socket
ss=[socket.socket() for _ in range(4)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join("127.0.0.1:%d" % s.getsockname()[1] for s in ss))')
    "$bin" --log-level warn server --data "$data" --storage-hop "$hop" --listen "$s3" \
      --meta-listen "$meta" --objectd-listen "$obj" --metrics-listen "$metrics" --nbd-listen "" >/dev/null &
    pid=$!
    for _ in $(seq 1 100); do [ -s "$data/credentials.json" ] && break; sleep 0.1; done
    [ -s "$data/credentials.json" ] || { echo "server ($hop) did not start" >&2; exit 1; }
    for size in 4KiB 1MiB; do
      for op in put get; do
        "$bin" --log-level warn bench s3 "$op" --endpoint "http://$s3" --credentials "$data/credentials.json" \
          --size "$size" --concurrency 8 --duration "$dur" --warmup 2s --server-metrics "http://$metrics/metrics" --json |
          python3 -c 'import json,sys; d=json.load(sys.stdin); r=d["ops"][0]; print("\t".join(map(str,[sys.argv[1],sys.argv[2],sys.argv[3],sys.argv[4],round(r["ops_per_second"],1),round(r["bytes_per_second"]/2**20,1),round(r["latency"]["p50_seconds"]*1e3,3),round(((d.get("server") or {}).get("cpu_seconds_per_op") or 0)*1e3,3)])))' "$r" "$hop" "$op" "$size"
      done
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
} | tee "$work/runs.tsv" >&3
python3 - "$work/runs.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for case in sorted({(r["op"], r["size"]) for r in rows}):
    for hop in ("mtls", "plain"):
        sel = [r for r in rows if (r["op"], r["size"]) == case and r["hop"] == hop]
        med[case + (hop,)] = [statistics.median(float(r[k]) for r in sel) for k in ("ops_per_second", "server_cpu_ms_per_op")]
print("\nmedians\top\tsize\tmtls_ops_per_second\tplain_ops_per_second\tthroughput_ratio\tmtls_cpu_ms_per_op\tplain_cpu_ms_per_op")
for (op, size, hop), (ops, cpu) in med.items():
    if hop == "mtls":
        p_ops, p_cpu = med[(op, size, "plain")]
        print(f"\t{op}\t{size}\t{ops:.1f}\t{p_ops:.1f}\t{ops / p_ops:.2f}\t{cpu:.3f}\t{p_cpu:.3f}")
PY
