#!/usr/bin/env bash
# End-to-end comparison on the benchmark dataset of benches/dataset/:
#
#   benches/compare.sh [SCALE]          # SCALE defaults to 1; the issue's figures use 5
#
# Starts a throwaway PostgreSQL cluster (initdb/pg_ctl; as root they run as the
# `postgres` user; loopback only), loads the dataset at SCALE into `bench_src`,
# then runs in turn, RUNS times (default 3, medians reported), each into a fresh
# database of the same cluster:
#   1. pgcopydb clone --table-jobs 2 --index-jobs 2   (installed with apt-get where
#      missing; skipped with a message where it cannot be)
#   2. the serial raw COPY pipe: benches/dataset/baseline.sh -p, then ANALYZE
#   3. anonymize with rules.yml (full copy)
#   4. anonymize with rules.yml --subset 10%
# Every pipeline ends with the same keys, indexes, foreign keys and fresh
# statistics (pgcopydb also VACUUMs). Prints wall, rows/s, MB/s (COPY text),
# peak RSS (/usr/bin/time -v) and the ratio to pgcopydb, plus anonymize's
# phase times from its --report. The cluster is stopped by PID at the end.
#
# Environment:
#   RUNS=3             runs per pipeline
#   BENCH_DIR=…        the dataset (default benches/dataset)
#   RULES=…            rules file (default $BENCH_DIR/rules.yml)
#   ANONYMIZE=…        the binary (default target/release/anonymize, built if missing)
#   BENCH_URL=…        use this server instead of a throwaway cluster; it must hold
#                      the dataset in database bench_src (URL with {db} for the name,
#                      e.g. postgresql://postgres@127.0.0.1:5432/{db})
#   JOBS=2             --jobs for anonymize and --table-jobs/--index-jobs for pgcopydb
set -euo pipefail

SCALE=${1:-1}
RUNS=${RUNS:-3}
JOBS=${JOBS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-$ROOT/benches/dataset}
RULES=${RULES:-$BENCH_DIR/rules.yml}
ANONYMIZE=${ANONYMIZE:-$ROOT/target/release/anonymize}
WORK=$(mktemp -d /tmp/anonymize-compare.XXXXXX)
. "$ROOT/benches/lib/cluster.sh"
# The throwaway server is stopped by its PID (fast shutdown), whatever happens.
trap 'stop_cluster; rm -rf "$WORK"' EXIT

say() { printf '%s\n' "$*" >&2; }

[ -f "$BENCH_DIR/load.sh" ] || { say "dataset not found at $BENCH_DIR; set BENCH_DIR"; exit 2; }
[ -x /usr/bin/time ] || { say "/usr/bin/time is needed (apt-get install -y time)"; exit 2; }
if [ ! -x "$ANONYMIZE" ]; then
    say "building anonymize (release) …"
    (cd "$ROOT" && cargo build --release)
fi

# pgcopydb: the fastest plain copy there is, the reference.
PGCOPYDB=$(command -v pgcopydb || true)
if [ -z "$PGCOPYDB" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing pgcopydb …"
    if apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgcopydb >/dev/null 2>&1; then
        PGCOPYDB=$(command -v pgcopydb || true)
    fi
fi
[ -n "$PGCOPYDB" ] || say "pgcopydb is not installed and could not be installed: skipping it (ratios are then to the raw pipe)"

if [ -n "${BENCH_URL:-}" ]; then
    URL=$BENCH_URL
else
    start_cluster "$WORK"
    say "cluster on 127.0.0.1:$PORT (pid $PID); loading SCALE=$SCALE …"
    psql "${URL/\{db\}/postgres}" -X -q -c "CREATE DATABASE bench_src"
    bash "$BENCH_DIR/load.sh" "$SCALE" "${URL/\{db\}/bench_src}" >/dev/null
fi
ADMIN=$(db postgres)
SRC=$(db bench_src)
recreate() { sql "$ADMIN" "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; sql "$ADMIN" "CREATE DATABASE $1"; }
drop() { sql "$ADMIN" "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }

ROWS=$(sql "$SRC" "SELECT sum(c.reltuples)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'")
say "bench_src: $ROWS rows"

# timed NAME CMD…: runs CMD under /usr/bin/time -v; appends "wall rss_kb" to $WORK/results/NAME.
mkdir -p "$WORK/results"
timed() {
    local name=$1; shift
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
        say "$name failed:"; tail -20 "$WORK/$name.err" >&2; exit 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$WORK/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
    echo "$wall $rss" >>"$WORK/results/$name"
    say "  $name: ${wall} s, peak RSS $((rss / 1024)) MB"
}


# At least 32 bytes, as every run requires (MIN_SECRET_BYTES).
export ANONYMIZE_SECRET=YFTFfFVFjQuzn5SyZvQOz8sRYD65BeJg5IzhbWjr7wszt026Fq0QwOb2 ANONYMIZE_LOG=warn
for i in $(seq 1 "$RUNS"); do
    say "run $i of $RUNS"
    if [ -n "$PGCOPYDB" ]; then
        recreate bench_copy
        rm -rf "$WORK/pgcopydb.dir"
        timed pgcopydb "$PGCOPYDB" clone --source "$SRC" --target "$(db bench_copy)" \
            --table-jobs "$JOBS" --index-jobs "$JOBS" --dir "$WORK/pgcopydb.dir"
        drop bench_copy
    fi
    recreate bench_raw
    psql "$(db bench_raw)" -X -q -v ON_ERROR_STOP=1 -f "$BENCH_DIR/schema.sql"
    timed raw_pipe bash -c 'bash "$0/baseline.sh" -p "$1" "$2" && psql "$2" -X -q -c ANALYZE' \
        "$BENCH_DIR" "$SRC" "$(db bench_raw)"
    drop bench_raw
    drop bench_anon
    timed anonymize "$ANONYMIZE" --source "$SRC" --target "$(db bench_anon)" --rules "$RULES" \
        --jobs "$JOBS" --no-progress --report "$WORK/report-full-$i.json"
    drop bench_anon
    timed anonymize_subset "$ANONYMIZE" --source "$SRC" --target "$(db bench_anon)" --rules "$RULES" \
        --jobs "$JOBS" --no-progress --subset 10% --report "$WORK/report-subset-$i.json"
    drop bench_anon
done

python3 - "$WORK" "$ROWS" "$SCALE" "$RUNS" <<'PY'
import json, statistics, sys, os
work, rows, scale, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def med(name):
    path = os.path.join(work, "results", name)
    if not os.path.exists(path):
        return None
    lines = [l.split() for l in open(path)]
    return statistics.median(float(l[0]) for l in lines), max(int(l[1]) for l in lines)
def report(kind):
    reps = [json.load(open(os.path.join(work, f"report-{kind}-{i}.json"))) for i in range(1, runs + 1)]
    return reps
full, sub = report("full"), report("subset")
mb = full[0]["bytes"] / 1e6
sub_rows = full and sub[0]["rows_written"]
sub_mb = sub[0]["bytes"] / 1e6
ref = med("pgcopydb") or med("raw_pipe")
refname = "pgcopydb" if med("pgcopydb") else "raw pipe"
print(f"SCALE={scale}: {rows} rows, {mb:.0f} MB as COPY text; median of {runs} runs")
print(f"| pipeline | wall s | x {refname} | rows/s | MB/s | peak RSS MB |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, label, r, m in [
    ("pgcopydb", "pgcopydb clone --table-jobs 2 --index-jobs 2", rows, mb),
    ("raw_pipe", "baseline.sh -p (serial raw COPY pipe, keys) + ANALYZE", rows, mb),
    ("anonymize", "anonymize, rules.yml", rows, mb),
    ("anonymize_subset", "anonymize, rules.yml, --subset 10%", sub_rows, sub_mb),
]:
    v = med(name)
    if v is None:
        print(f"| {label} | skipped | | | | |")
        continue
    wall, rss = v
    print(f"| {label} | {wall:.2f} | {wall / ref[0]:.2f} | {r / wall:,.0f} | {m / wall:.1f} | {rss / 1024:.0f} |")
def phases(reps):
    keys = ["plan", "schema", "copy", "post_data", "post_data_after_copy", "row_counts", "finish", "swap"]
    out = []
    for k in keys:
        vals = [r["phases"][k] for r in reps if r.get("phases", {}).get(k) is not None]
        if vals:
            out.append(f"{k} {statistics.median(vals):.2f}")
    return ", ".join(out)
print(f"anonymize phases (median s): {phases(full)}")
print(f"anonymize --subset 10% phases (median s): {phases(sub)}")
PY
