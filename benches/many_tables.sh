#!/usr/bin/env bash
# Many small tables, as schema-per-tenant SaaS has them (issue 30):
#
#   benches/many_tables.sh [N…]        # table counts, default: 1000 5000 10000
#
# For each N: a throwaway cluster, a source of N tables of 50 rows in schemas
# of 20 tables each (a primary key, a self-referencing foreign key, one index,
# every column kept), then PAIRS alternating pairs (default 5) of
#   pg_dump | psql            (serial; the reference)
#   anonymize --jobs 2         (every column kept)
# each into a fresh database. Prints every pair, the median of the per-pair
# ratios, CPU seconds and peak RSS (/usr/bin/time -v), and anonymize's phases.
# Then restarts the server and runs anonymize twice: cold caches against warm.
#
# Environment: PAIRS=5, ANONYMIZE=target/release/anonymize, JOBS=2.
# PLAN_ONLY=1: only `check` and `sync --dry-run` on the N tables, with their
# wall time, CPU and peak RSS (the issue's 50,000-table point).
# RESTART_ONLY=1: no pairs; only the first run after a server restart and
# the next, with every phase of both (the issue's restart point).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/benches/lib/cluster.sh"
PAIRS=${PAIRS:-5}
JOBS=${JOBS:-2}
ANONYMIZE=${ANONYMIZE:-$ROOT/target/release/anonymize}
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(1000 5000 10000)
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed (apt-get install -y time)" >&2; exit 2; }
[ -x "$ANONYMIZE" ] || (cd "$ROOT" && cargo build --release)
WORK=$(mktemp -d /tmp/anonymize-many.XXXXXX)
trap 'stop_cluster; rm -rf "$WORK"' EXIT
say() { printf '%s\n' "$*" >&2; }

printf 'version: 1\nunknown_columns: keep\n' >"$WORK/rules.yml"
export ANONYMIZE_LOG=warn

# timed NAME CMD…: appends "wall cpu rss_kb" to $WORK/NAME.
timed() {
    local name=$1; shift
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out.log" 2>"$WORK/err.log" || {
        say "$name failed:"; tail -20 "$WORK/err.log" >&2; exit 1; }
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; wall = s }
        /User time/ { cpu += $2 } /System time/ { cpu += $2 }
        /Maximum resident set size/ { rss = $2 }
        END { print wall, cpu, rss }' "$WORK/time.txt" >>"$WORK/$name"
}

for N in "${COUNTS[@]}"; do
    rm -rf "$WORK/data" "$WORK"/pg_dump "$WORK"/anonymize "$WORK"/report-*.json
    # The target's schema script creates every table, its TOAST table and
    # TOAST index in one transaction (three locks a table; on the source,
    # pg_dump and the snapshot session take two): give the lock table room.
    start_cluster "$WORK" "max_locks_per_transaction=$(( (N * 3) / 100 + 64 ))"
    say "N=$N: cluster on port $PORT (pid $PID); creating tables …"
    ADMIN=$(db postgres)
    sql "$ADMIN" "CREATE DATABASE many_src"
    # Generated scripts through psql, a transaction per 250 tables and a
    # session per 2,500: a server-side loop of EXECUTEs ran at 300-1000
    # tables a minute, and one session for all slowed to a crawl past
    # 30,000 (its backend's caches grew to 1 GB); fresh sessions keep
    # 5,000 tables a minute. Durability is off here: a commit costs nothing.
    for ((from = 0; from < N; from += 2500)); do
        python3 - "$from" "$(( from + 2500 < N ? from + 2500 : N ))" <<'PY' |
import sys
start, end = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
out.write("SET client_min_messages = warning;\n")
for i in range(start, end):
    if (i - start) % 250 == 0:
        out.write("BEGIN;\n")
    s, t = f"tenant_{i // 20}", f"items_{i % 20}"
    if i % 20 == 0:
        out.write(f"CREATE SCHEMA {s};\n")
    q = f"{s}.{t}"
    out.write(f"CREATE TABLE {q} (id int PRIMARY KEY, parent_id int REFERENCES {q}, name text, created_at timestamptz);\n"
              f"CREATE INDEX ON {q} (name);\n"
              f"INSERT INTO {q} SELECT g, nullif(g - 1, 0), md5(g::text), now() FROM generate_series(1, 50) g;\n")
    if (i - start) % 250 == 249 or i == end - 1:
        out.write("COMMIT;\n")
PY
            psql "$(db many_src)" -X -q -v ON_ERROR_STOP=1 >/dev/null
    done
    sql "$(db many_src)" "ANALYZE"
    if [ -n "${PLAN_ONLY:-}" ]; then
        timed check "$ANONYMIZE" check --source "$(db many_src)" --rules "$WORK/rules.yml" --no-progress
        timed dry_run "$ANONYMIZE" --source "$(db many_src)" --target "$(db many_dst)" \
            --rules "$WORK/rules.yml" --no-progress --dry-run
        for name in check dry_run; do
            read -r wall cpu rss <"$WORK/$name"
            printf '%s tables: %s %s s wall, %s s CPU, peak RSS %s MB\n' "$N" "$name" "$wall" "$cpu" $((rss / 1024))
        done
        rm -f "$WORK/check" "$WORK/dry_run"
        stop_cluster
        continue
    fi
    [ -n "${RESTART_ONLY:-}" ] && PAIRS=0
    for i in $(seq 1 "$PAIRS"); do
        # Alternate which goes first, so drift of the machine falls on both.
        for side in $( [ $((i % 2)) = 1 ] && echo "dump anon" || echo "anon dump"); do
            sql "$ADMIN" "DROP DATABASE IF EXISTS many_dst WITH (FORCE)"
            if [ "$side" = dump ]; then
                sql "$ADMIN" "CREATE DATABASE many_dst"
                timed pg_dump bash -c 'pg_dump "$0" | psql "$1" -X -q -v ON_ERROR_STOP=1 >/dev/null' \
                    "$(db many_src)" "$(db many_dst)"
            else
                timed anonymize "$ANONYMIZE" --source "$(db many_src)" --target "$(db many_dst)" \
                    --rules "$WORK/rules.yml" --jobs "$JOBS" --no-progress --report "$WORK/report-$i.json"
            fi
        done
        say "  pair $i: pg_dump|psql $(tail -1 "$WORK/pg_dump" | cut -d' ' -f1) s, anonymize $(tail -1 "$WORK/anonymize" | cut -d' ' -f1) s"
    done
    # Cold catalog caches: the first run after a restart, then the next.
    sql "$ADMIN" "DROP DATABASE IF EXISTS many_dst WITH (FORCE)"
    restart_cluster "$WORK"
    timed cold "$ANONYMIZE" --source "$(db many_src)" --target "$(db many_dst)" \
        --rules "$WORK/rules.yml" --jobs "$JOBS" --no-progress --report "$WORK/report-cold.json"
    # Dropped outside the timing, as before the cold run: replacing a
    # target of N tables adds its DROP DATABASE to the swap (54 s for 5,000
    # tables on a loaded machine), which is not what this compares.
    sql "$ADMIN" "DROP DATABASE IF EXISTS many_dst WITH (FORCE)"
    timed warm "$ANONYMIZE" --source "$(db many_src)" --target "$(db many_dst)" \
        --rules "$WORK/rules.yml" --jobs "$JOBS" --no-progress --report "$WORK/report-warm.json"
    python3 - "$WORK" "$N" "$PAIRS" <<'PY'
import json, statistics, sys, os
work, n, pairs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def rows(name):
    path = os.path.join(work, name)
    return [list(map(float, l.split())) for l in open(path)] if os.path.exists(path) else []
keys = ["plan", "schema", "copy", "post_data", "post_data_after_copy", "row_counts", "finish", "swap"]
cold, warm = rows("cold")[-1], rows("warm")[-1]
c, w = (json.load(open(os.path.join(work, f"report-{x}.json")))["phases"] for x in ("cold", "warm"))
print(f"\n## {n} tables: after a server restart, the first run {cold[0]:.2f} s ({cold[1]:.2f} s CPU), "
      f"the next {warm[0]:.2f} s ({warm[1]:.2f} s CPU): {cold[0] / warm[0]:.2f}x")
for k in keys:
    if c.get(k) is not None and w.get(k) is not None:
        print(f"  {k}: {c[k]:.2f} s then {w[k]:.2f} s")
if pairs == 0:
    sys.exit(0)
dump, anon = rows("pg_dump"), rows("anonymize")
ratios = [a[0] / d[0] for a, d in zip(anon, dump)]
print(f"\n## {n} tables: anonymize / (pg_dump | psql), {pairs} alternating pairs")
print("| pair | pg_dump \\| psql s | anonymize s | ratio | anonymize CPU s | anonymize peak RSS MB |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
for i, (d, a, r) in enumerate(zip(dump, anon, ratios), 1):
    print(f"| {i} | {d[0]:.2f} | {a[0]:.2f} | {r:.2f} | {a[1]:.2f} | {a[2] / 1024:.0f} |")
print(f"median ratio **{statistics.median(ratios):.2f}x** (pairs {min(ratios):.2f}-{max(ratios):.2f})")
reps = [json.load(open(os.path.join(work, f"report-{i}.json"))) for i in range(1, pairs + 1)]
med = {k: statistics.median(r["phases"][k] for r in reps) for k in keys
       if all(r.get("phases", {}).get(k) is not None for r in reps)}
print("phases (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
PY
    stop_cluster
done
