#!/usr/bin/env bash
# One sync, many workers: the coordinator (`sync --workers external`) and
# N `anonymize worker` processes on this machine, for N in $COUNTS, each
# into a fresh target; prints the wall-clock time per N and the CPU
# seconds per unit from the coordinator's report. The figures of
# docs/operations.md ("Past one machine") come from this script.
#
#   benches/workers.sh SRC_URL TARGET_SERVER_URL RULES
#
# SRC_URL holds the benchmark dataset (../shared/bench/load.sh); targets
# `wk_bench_N` are created on TARGET_SERVER_URL (a URL without a database
# name) and dropped at the end.
# Environment: ANONYMIZE (default target/release/anonymize), COUNTS="1 2 3",
# JOBS=1 (units at once per worker), ANONYMIZE_SPLIT_MB (default 16),
# ANONYMIZE_SECRET (default: a fixed bench secret).
set -euo pipefail
SRC=$1 SERVER=${2%/} RULES=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANONYMIZE=${ANONYMIZE:-$ROOT/target/release/anonymize}
COUNTS=${COUNTS:-1 2 3}
JOBS=${JOBS:-1}
export ANONYMIZE_SPLIT_MB=${ANONYMIZE_SPLIT_MB:-16}
export ANONYMIZE_SECRET=${ANONYMIZE_SECRET:-bench-workers-Qm3xV8rT1zLp6NcW9sKd2YhF4uJe7Ga}
[ -x "$ANONYMIZE" ] || (cd "$ROOT" && cargo build --release)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for n in $COUNTS; do
    target="$SERVER/wk_bench_$n"
    start=$(date +%s.%N)
    pids=()
    for i in $(seq 1 "$n"); do
        "$ANONYMIZE" worker --source "$SRC" --target "$target" --rules "$RULES" \
            --name "w$i" --jobs "$JOBS" --no-progress -q >"$work/w$i.out" 2>"$work/w$i.err" &
        pids+=($!)
    done
    "$ANONYMIZE" sync --workers external --source "$SRC" --target "$target" --rules "$RULES" \
        --no-progress -q --report "$work/report-$n.json" >/dev/null 2>"$work/coordinator-$n.err"
    for p in "${pids[@]}"; do wait "$p"; done
    end=$(date +%s.%N)
    python3 - "$work/report-$n.json" "$n" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n, wall = sys.argv[2], float(sys.argv[4]) - float(sys.argv[3])
units = [u for w in r["workers"] for u in w["units"]]
cpu = sum(u["cpu_seconds"] for u in units)
busy = sum(u["seconds"] for u in units)
rows = sum(u["rows"] for u in units)
p = r["phases"]
print(f"workers={n} wall={wall:.1f}s copy={p['copy']:.1f}s post_data_after_copy={p['post_data_after_copy']:.1f}s "
      f"units={len(units)} rows={rows} cpu_per_unit={cpu/len(units):.2f}s busy_per_unit={busy/len(units):.2f}s "
      f"worker_cpu={cpu:.1f}s rows_per_cpu_second={rows/cpu:.0f}")
for w in r["workers"]:
    print(f"  {w['name']}: {len(w['units'])} units, {w['rows']} rows, {w['seconds']:.1f} s, {w['cpu_seconds']:.1f} cpu s")
PY
done
for n in $COUNTS; do
    psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS wk_bench_$n" 2>/dev/null || true
done
