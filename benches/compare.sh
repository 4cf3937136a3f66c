#!/usr/bin/env bash
# End-to-end comparison on the benchmark dataset of benches/dataset/:
#
#   benches/compare.sh [SCALE]          # SCALE defaults to 1; the issue's figures use 5
#
# Starts a throwaway PostgreSQL cluster (initdb/pg_ctl; as root they run as the
# `postgres` user; loopback only), loads the dataset at SCALE into `bench_src`,
# then runs PAIRS rounds (default 5). Each round runs, into fresh databases of
# the same cluster, alternating which side of a pair goes first (the machine
# is noisy: a ratio is only taken between runs of the same round):
#   sync pair:   pgcopydb clone --table-jobs 2 --index-jobs 2  vs  anonymize with
#                rules.yml (pgcopydb is installed with apt-get where missing;
#                without it the serial raw COPY pipe, benches/dataset/baseline.sh -p
#                then ANALYZE, is the reference)
#   export pair: pg_dump --format=plain  vs  anonymize export --format sql
#   subset:      anonymize --subset 10%, as a share of the round's full sync
# Every sync ends with the same keys, indexes, foreign keys and fresh statistics
# (pgcopydb also VACUUMs). Prints every pair's ratio and their median, and per
# command the median wall, CPU seconds (user+sys of the command and the
# children it waits for: pg_dump, psql, pg_restore) and peak RSS (/usr/bin/time
# -v; for anonymize, its own VmHWM from --report), plus anonymize's phases.
# The cluster is stopped by PID at the end.
#
# Environment:
#   PAIRS=5            rounds
#   BENCH_DIR=…        the dataset (default benches/dataset)
#   RULES=…            rules file (default $BENCH_DIR/rules.yml)
#   ANONYMIZE=…        the binary (default target/release/anonymize, built if missing)
#   BENCH_URL=…        use this server instead of a throwaway cluster; it must hold
#                      the dataset in database bench_src (URL with {db} for the name,
#                      e.g. postgresql://postgres@127.0.0.1:5432/{db})
#   JOBS=2             --jobs for anonymize and --table-jobs/--index-jobs for pgcopydb
#   ONLY=sync|export   run one pair only
set -euo pipefail

SCALE=${1:-1}
PAIRS=${PAIRS:-${RUNS:-5}}
ONLY=${ONLY:-}
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

# timed NAME ROUND CMD…: runs CMD under /usr/bin/time -v; appends
# "round wall cpu rss_kb" to $WORK/results/NAME.
mkdir -p "$WORK/results"
timed() {
    local name=$1 round=$2; shift 2
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
        say "$name failed:"; tail -20 "$WORK/$name.err" >&2; exit 1; }
    local wall cpu rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$WORK/time.txt")
    cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$WORK/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
    echo "$round $wall $cpu $rss" >>"$WORK/results/$name"
    say "  $name: ${wall} s wall, ${cpu} s CPU, peak RSS $((rss / 1024)) MB"
}

# At least 32 bytes, as every run requires (MIN_SECRET_BYTES).
export ANONYMIZE_SECRET=YFTFfFVFjQuzn5SyZvQOz8sRYD65BeJg5IzhbWjr7wszt026Fq0QwOb2 ANONYMIZE_LOG=warn

reference() {
    local round=$1
    if [ -n "$PGCOPYDB" ]; then
        recreate bench_copy
        rm -rf "$WORK/pgcopydb.dir"
        timed reference "$round" "$PGCOPYDB" clone --source "$SRC" --target "$(db bench_copy)" \
            --table-jobs "$JOBS" --index-jobs "$JOBS" --dir "$WORK/pgcopydb.dir"
        drop bench_copy
    else
        recreate bench_raw
        psql "$(db bench_raw)" -X -q -v ON_ERROR_STOP=1 -f "$BENCH_DIR/schema.sql"
        timed reference "$round" bash -c 'bash "$0/baseline.sh" -p "$1" "$2" && psql "$2" -X -q -c ANALYZE' \
            "$BENCH_DIR" "$SRC" "$(db bench_raw)"
        drop bench_raw
    fi
}
sync_run() {
    local round=$1
    drop bench_anon
    timed anonymize "$round" "$ANONYMIZE" --source "$SRC" --target "$(db bench_anon)" --rules "$RULES" \
        --jobs "$JOBS" --no-progress --report "$WORK/report-full-$round.json"
    drop bench_anon
}
pg_dump_run() {
    timed pg_dump "$1" pg_dump --format=plain -d "$SRC" -f "$WORK/dump.sql"
    rm -f "$WORK/dump.sql"
}
export_run() {
    timed export "$1" "$ANONYMIZE" export --source "$SRC" --rules "$RULES" --format sql \
        --out "$WORK/export.sql" --no-progress --report "$WORK/report-export-$1.json"
    rm -f "$WORK/export.sql"
}

for round in $(seq 1 "$PAIRS"); do
    say "round $round of $PAIRS"
    if [ "$ONLY" != export ]; then
        if [ $((round % 2)) = 1 ]; then reference "$round"; sync_run "$round"
        else sync_run "$round"; reference "$round"; fi
        drop bench_anon
        timed anonymize_subset "$round" "$ANONYMIZE" --source "$SRC" --target "$(db bench_anon)" --rules "$RULES" \
            --jobs "$JOBS" --no-progress --subset 10% --report "$WORK/report-subset-$round.json"
        drop bench_anon
    fi
    if [ "$ONLY" != sync ]; then
        if [ $((round % 2)) = 1 ]; then pg_dump_run "$round"; export_run "$round"
        else export_run "$round"; pg_dump_run "$round"; fi
    fi
done

REFNAME=$([ -n "$PGCOPYDB" ] && echo "pgcopydb clone --table-jobs $JOBS --index-jobs $JOBS" || echo "raw COPY pipe + keys + ANALYZE")
python3 - "$WORK" "$ROWS" "$SCALE" "$PAIRS" "$REFNAME" <<'PY'
import json, statistics, sys, os
work, rows, scale, pairs, refname = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
def runs(name):
    path = os.path.join(work, "results", name)
    if not os.path.exists(path):
        return {}
    out = {}
    for line in open(path):
        r, wall, cpu, rss = line.split()
        out[int(r)] = (float(wall), float(cpu), int(rss) * 1024)
    return out
def reports(kind):
    out = {}
    for r in range(1, pairs + 1):
        p = os.path.join(work, f"report-{kind}-{r}.json")
        if os.path.exists(p):
            out[r] = json.load(open(p))
    return out
def own_rss(name, kind):
    # anonymize's own peak (VmHWM), not its children's.
    reps = reports(kind)
    return {r: rep.get("peak_rss_bytes") for r, rep in reps.items()}
print(f"SCALE={scale}: {rows} rows; {pairs} alternating rounds")
def pair(title, ours, ref, ours_label, ref_label, kind):
    a, b = runs(ours), runs(ref)
    rounds = sorted(set(a) & set(b))
    if not rounds:
        return
    ratios = [a[r][0] / b[r][0] for r in rounds]
    print(f"\n{title}: median ratio {statistics.median(ratios):.2f}x  (pairs: " + ", ".join(f"{x:.2f}" for x in ratios) + ")")
    print("| command | wall s (median) | CPU s (median) | peak RSS MB (max) | per pair wall s |")
    print("| --- | ---: | ---: | ---: | --- |")
    rss_own = own_rss(ours, kind)
    for name, label, data in [(ref, ref_label, b), (ours, ours_label, a)]:
        walls = [data[r][0] for r in rounds]
        cpus = [data[r][1] for r in rounds]
        rss = max(data[r][2] for r in rounds)
        note = ""
        if name == ours and any(rss_own.values()):
            rss = max(v for v in rss_own.values() if v)
            note = " (own VmHWM)"
        print(f"| {label} | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} | {rss / 2**20:.0f}{note} | " + ", ".join(f"{w:.2f}" for w in walls) + " |")
pair("sync vs " + refname, "anonymize", "reference", "anonymize, rules.yml", refname, "full")
pair("export vs pg_dump --format=plain", "export", "pg_dump", "anonymize export --format sql, rules.yml", "pg_dump --format=plain", "export")
full, sub = runs("anonymize"), runs("anonymize_subset")
rounds = sorted(set(full) & set(sub))
if rounds:
    shares = [sub[r][0] / full[r][0] for r in rounds]
    print(f"\n--subset 10% as a share of the full sync: median {statistics.median(shares):.2f}  (rounds: " + ", ".join(f"{x:.2f}" for x in shares) + ")")
def phases(kind):
    reps = list(reports(kind).values())
    keys = ["plan", "schema", "copy", "post_data", "post_data_after_copy", "row_counts", "finish", "swap"]
    out = []
    for k in keys:
        vals = [r["phases"][k] for r in reps if r.get("phases", {}).get(k) is not None]
        if vals:
            out.append(f"{k} {statistics.median(vals):.2f}")
    return ", ".join(out)
for kind, label in [("full", "anonymize"), ("subset", "anonymize --subset 10%"), ("export", "anonymize export")]:
    if phases(kind):
        print(f"{label} phases (median s): {phases(kind)}")
PY
