# Sourced by the benches: a throwaway PostgreSQL cluster on loopback, stopped by
# its PID on exit. As root, initdb/pg_ctl run as the `postgres` user.
#
#   start_cluster WORKDIR [extra -c settings…]   sets URL (with {db}), PID, PGBIN
#   stop_cluster                                   fast shutdown, waits for it
#
# Durability is off, as in the test clusters: nothing here is worth an fsync.

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || PGBIN=$(dirname "$(command -v pg_ctl)")
export PATH="$PGBIN:$PATH"
PID=

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_cluster() {
    local work=$1; shift
    local data=$work/data extra=""
    for setting in "$@"; do extra="$extra -c $setting"; done
    mkdir -p "$data"
    chmod 755 "$work"
    [ "$(id -u)" = 0 ] && chown postgres "$work" "$data"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg env -i PATH="$PATH" "$PGBIN/initdb" -D "$data" -U postgres -A trust >"$work/initdb.log" 2>&1
    as_pg env -i PATH="$PATH" "$PGBIN/pg_ctl" -D "$data" -l "$work/server.log" -w -o "-p $PORT -k $work \
        -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c shared_buffers=256MB -c max_wal_size=8GB \
        -c max_connections=100 $extra" start >/dev/null
    PID=$(head -1 "$data/postmaster.pid")
    URL="postgresql://postgres@127.0.0.1:$PORT/{db}"
}

# restart_cluster WORKDIR: stop and start the same data directory (cold caches).
restart_cluster() {
    local work=$1
    as_pg env -i PATH="$PATH" "$PGBIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w -m fast restart >/dev/null
    PID=$(head -1 "$work/data/postmaster.pid")
}

stop_cluster() {
    if [ -n "$PID" ]; then
        kill -INT "$PID" 2>/dev/null || true
        while kill -0 "$PID" 2>/dev/null; do sleep 0.2; done
        PID=
    fi
}

db() { printf '%s' "${URL/\{db\}/$1}"; }
sql() { PGOPTIONS="-c client_min_messages=warning" psql "$1" -X -q -At -v ON_ERROR_STOP=1 -c "$2"; }
