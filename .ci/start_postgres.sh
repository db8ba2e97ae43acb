#!/usr/bin/env bash
# Start a throwaway PostgreSQL 15 + PostGIS server for the tests and print how to reach it.
#
#   eval "$(bash .ci/start_postgres.sh)"     # sets TEST_DATABASE_URL
#
# Idempotent: a server this script started earlier (state in $CAM_PG_STATE, default
# /tmp/cam-ci-postgres) is reused while it still answers. Everything except the final
# `export` line goes to stderr, so `eval` sees only that line.
# Stop it with: pg_ctl -D "$CAM_PG_STATE/data" stop   (as the $CAM_PG_USER user)
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
PG_BIN="/usr/lib/postgresql/${PG_VERSION}/bin"
STATE="${CAM_PG_STATE:-/tmp/cam-ci-postgres}"
PG_USER="${CAM_PG_USER:-pgtest}"   # initdb refuses to run as root
DATA="$STATE/data"
PORT_FILE="$STATE/port"

say() { echo "start_postgres: $*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

as_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

answers() {  # is a server we started before still up on its port?
    [ -f "$PORT_FILE" ] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(cat "$PORT_FILE")" 2>/dev/null
}

[ -x "$PG_BIN/initdb" ] || fail "PostgreSQL ${PG_VERSION} binaries not found in $PG_BIN (apt-get install postgresql-${PG_VERSION})"

if answers; then
    say "reusing the server already running on port $(cat "$PORT_FILE")"
    echo "export TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$(cat "$PORT_FILE")/postgres"
    exit 0
fi

# PostGIS: the tests need CREATE EXTENSION postgis.
if [ ! -f "/usr/share/postgresql/${PG_VERSION}/extension/postgis.control" ]; then
    [ "$(id -u)" -eq 0 ] || fail "PostGIS is not installed and installing it needs root: apt-get install -y postgresql-${PG_VERSION}-postgis-3"
    say "installing postgresql-${PG_VERSION}-postgis-3"
    # Wait for another apt/dpkg (e.g. a parallel install) instead of failing on its lock.
    apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || fail "apt-get update failed (no access to the package mirror?)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        "postgresql-${PG_VERSION}-postgis-3" >&2 \
        || fail "apt-get install postgresql-${PG_VERSION}-postgis-3 failed (see the messages above)"
fi

if [ "$(id -u)" -eq 0 ] && ! id "$PG_USER" >/dev/null 2>&1; then
    say "creating user $PG_USER to own the cluster"
    useradd --create-home --shell /bin/bash "$PG_USER" || fail "could not create user $PG_USER"
fi

# A fresh cluster each time the old one is not answering: it holds only test databases.
if [ -f "$DATA/postmaster.pid" ]; then
    say "stopping the unresponsive server left in $DATA"
    as_pg_user "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >&2 || true
fi
rm -rf "$STATE"
mkdir -p "$STATE"
if [ "$(id -u)" -eq 0 ]; then
    chown "$PG_USER" "$STATE"
fi
as_pg_user "$PG_BIN/initdb" -A trust -U postgres -D "$DATA" --no-sync >"$STATE/initdb.log" 2>&1 \
    || fail "initdb failed; see $STATE/initdb.log"

# A free port: ask the kernel for one, then hand it to the server (retry if someone takes it first).
for attempt in 1 2 3 4 5; do
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    if as_pg_user "$PG_BIN/pg_ctl" -D "$DATA" -l "$STATE/server.log" -w -t 30 \
        -o "-p $PORT -k $STATE -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100" \
        start >&2; then
        echo "$PORT" >"$PORT_FILE"
        break
    fi
    say "start on port $PORT failed (attempt $attempt); see $STATE/server.log"
    PORT=""
done
[ -n "${PORT:-}" ] || fail "PostgreSQL would not start; see $STATE/server.log"

"$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE EXTENSION IF NOT EXISTS postgis" >&2 \
    || fail "the server started but CREATE EXTENSION postgis failed; see $STATE/server.log"
"$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "DROP EXTENSION postgis" >&2 || true

say "PostgreSQL ${PG_VERSION} + PostGIS running on 127.0.0.1:$PORT (data in $DATA)"
echo "export TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PORT/postgres"
