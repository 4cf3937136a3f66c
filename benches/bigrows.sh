#!/usr/bin/env bash
# Peak memory against the largest row (issue 27, point 3):
#
#   benches/bigrows.sh                  # rows of 1, 50 and 200 MB
#   SIZES="1 50" ROWS=3 benches/bigrows.sh
#
# Starts a throwaway PostgreSQL cluster (benches/lib/cluster.sh; loopback only,
# stopped by its PID on exit). For each size S in SIZES (MB) it makes a
# database whose table `big` holds ROWS rows of about S MB of COPY text each:
# a text of about 40% of the row (free text with an SSN-like number every 40
# bytes), a bytea of about 15% (30% as COPY's hex), and a jsonb of about 30%
# (an owner email and an array of items). Then, into fresh databases, one
# run per case, each with every other column `keep`:
#
#   keep     every column kept (the table skips the transform step)
#   hash     the text under `hash`
#   fpe      the text under `fpe`
#   regex    the text under `regex` (every number hashed)
#   json     the jsonb under `json` (the email faked, every item's note under fpe)
#   export   `export --format sql` with the regex rule
#
# and prints, per case, the largest row, the peak RSS (the run's own VmHWM
# from --report, and /usr/bin/time's maximum resident set size), and the
# bound the issue sets: 100 MB + 2 x the largest row.
#
# Environment:
#   SIZES="1 50 200"   row sizes in MB
#   ROWS=3             rows per table
#   TABLES=1           tables of ROWS rows each (big, big2, …): with JOBS of
#                      them, as many workers read huge rows at once
#   JOBS=2             --jobs
#   CASES="keep hash fpe regex json export"
#   ANONYMIZE=…        the binary (default target/release/anonymize, built if missing)
set -euo pipefail

SIZES=${SIZES:-1 50 200}
ROWS=${ROWS:-3}
TABLES=${TABLES:-1}
JOBS=${JOBS:-2}
CASES=${CASES:-keep hash fpe regex json export}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANONYMIZE=${ANONYMIZE:-$ROOT/target/release/anonymize}
WORK=$(mktemp -d /tmp/anonymize-bigrows.XXXXXX)
. "$ROOT/benches/lib/cluster.sh"
trap 'stop_cluster; rm -rf "$WORK"' EXIT

say() { printf '%s\n' "$*" >&2; }

[ -x /usr/bin/time ] || { say "/usr/bin/time is needed (apt-get install -y time)"; exit 2; }
if [ ! -x "$ANONYMIZE" ]; then
    say "building anonymize (release) …"
    (cd "$ROOT" && cargo build --release)
fi
# At least 32 bytes, as every run requires.
export ANONYMIZE_SECRET=YFTFfFVFjQuzn5SyZvQOz8sRYD65BeJg5IzhbWjr7wszt026Fq0QwOb2 ANONYMIZE_LOG=warn

start_cluster "$WORK"
say "cluster on 127.0.0.1:$PORT (pid $PID)"
ADMIN=$(db postgres)

# rules CASE: the rules file of one case.
rules() {
    local txt=keep doc=keep
    case $1 in
        hash) txt='{ hash: {} }' ;;
        fpe) txt='{ fpe: {} }' ;;
        regex | export) txt="{ regex: { pattern: '\\d{3}-\\d{2}-\\d{4}', with: { hash: { format: digits, length: 9 } } } }" ;;
        json) doc='{ json: { paths: { owner.email: { fake: email }, "items[*].sku": keep, "items[*].note": { fpe: {} } } } }' ;;
    esac
    printf 'version: 1\ntables:\n'
    for t in $(tables); do
        printf '  public.%s:\n    columns:\n      id: keep\n      txt: %s\n      bin: keep\n      doc: %s\n' "$t" "$txt" "$doc"
    done
}

# tables: the names of the TABLES tables.
tables() {
    echo big
    for k in $(seq 2 "$TABLES"); do echo "big$k"; done
}

# load DB MB: ROWS rows of about MB megabytes of COPY text each.
load() {
    local db=$1 mb=$2
    sql "$ADMIN" "CREATE DATABASE $db"
    for t in $(tables); do
        # Uncompressed out of line: the server's decompression is not what is measured.
        sql "$(db "$db")" "CREATE TABLE $t (id int PRIMARY KEY, txt text, bin bytea, doc jsonb);
            ALTER TABLE $t ALTER txt SET STORAGE EXTERNAL, ALTER bin SET STORAGE EXTERNAL,
                ALTER doc SET STORAGE EXTERNAL"
        for i in $(seq 1 "$ROWS"); do
            sql "$(db "$db")" "INSERT INTO $t SELECT $i,
                repeat('Call 555-12-3456, after 6pm: ok. ', ($mb::bigint * 1048576 * 4 / 10 / 33)::int),
                decode(repeat(md5('$i'), ($mb::bigint * 1048576 * 15 / 100 / 16)::int), 'hex'),
                jsonb_build_object('owner', jsonb_build_object('email', 'zoe$i@example.com'),
                    'items', (SELECT jsonb_agg(jsonb_build_object('sku', 'SKU-' || k, 'note', 'card 4111 1111 1111 ' || k))
                              FROM generate_series(1, ($mb::bigint * 1048576 * 3 / 10 / 60)::int) k))"
        done
        # VACUUM as autovacuum would: ANALYZE alone leaves the TOAST size
        # at 0, and the plan would not know the rows are wide.
        sql "$(db "$db")" "VACUUM ANALYZE $t"
    done
}

# run NAME CMD…: runs CMD under /usr/bin/time -v; prints "time_rss_kb".
run() {
    local name=$1; shift
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
        say "$name failed:"; tail -20 "$WORK/$name.err" >&2; exit 1; }
    awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt"
}

printf '| rows | largest row MB | case | peak RSS MB (VmHWM) | max RSS MB (time -v) | bound MB | within |\n'
printf '| ---: | ---: | --- | ---: | ---: | ---: | --- |\n'
for mb in $SIZES; do
    src=big_src_$mb
    say "loading $ROWS rows of about $mb MB …"
    load "$src" "$mb"
    # The COPY text of the widest row: the text, the bytea's hex, the jsonb's text.
    row=$(sql "$(db "$src")" "SELECT max(16 + octet_length(txt) + 2 + 2 * octet_length(bin) + octet_length(doc::text)) FROM big")
    row_mb=$(( (row + 524288) / 1048576 ))
    bound=$(( 100 + 2 * row / 1048576 ))
    for c in $CASES; do
        rules "$c" >"$WORK/rules-$c.yml"
        sql "$ADMIN" "DROP DATABASE IF EXISTS big_dst WITH (FORCE)"
        if [ "$c" = export ]; then
            rss=$(run "$c-$mb" "$ANONYMIZE" export --source "$(db "$src")" --rules "$WORK/rules-$c.yml" \
                --format sql --out "$WORK/export.sql" --jobs "$JOBS" --no-progress --report "$WORK/report.json")
            rm -f "$WORK/export.sql"
        else
            rss=$(run "$c-$mb" "$ANONYMIZE" --source "$(db "$src")" --target "$(db big_dst)" \
                --rules "$WORK/rules-$c.yml" --jobs "$JOBS" --no-progress --report "$WORK/report.json")
        fi
        peak=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["peak_rss_bytes"] // 1048576)' "$WORK/report.json")
        within=yes; [ "$peak" -le "$bound" ] || within=NO
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$ROWS" "$row_mb" "$c" "$peak" $((rss / 1024)) "$bound" "$within"
    done
    sql "$ADMIN" "DROP DATABASE IF EXISTS big_dst WITH (FORCE)"
    sql "$ADMIN" "DROP DATABASE $src WITH (FORCE)"
done
