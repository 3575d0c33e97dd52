#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL server for the test suite.
#
#   URL=$(scripts/start-test-postgres.sh)
#   export QMSBOT_TEST_POSTGRES_URL="$URL"
#
# - Installs Debian's `postgresql` package if no Debian PostgreSQL is present (needs root).
# - Creates a cluster in $QMSBOT_PG_DIR (default /tmp/qmsbot-pg), owned by the `postgres` user
#   (initdb refuses to run as root), listening on 127.0.0.1 only, on port 54329 or the next free one.
# - fsync / synchronous_commit / full_page_writes are off: the data is disposable.
# - Creates role qmsbot (password qmsbot, CREATEDB) and database qmsbot_test.
# - Prints the SQLAlchemy URL on stdout (the only thing printed on stdout; progress goes to stderr)
#   and writes it to /tmp/qmsbot_pg_url.
# - Idempotent: if the server from an earlier call is running, it only prints the URL.
#
# Stop it with:  scripts/start-test-postgres.sh --stop
set -euo pipefail

PG_DIR="${QMSBOT_PG_DIR:-/tmp/qmsbot-pg}"
[[ "$PG_DIR" == /* ]] || PG_DIR="$PWD/$PG_DIR"
cd /  # the postgres user may not be able to read the caller's directory
DATA_DIR="$PG_DIR/data"
SOCKET_DIR="$PG_DIR/run"
LOG_FILE="$PG_DIR/server.log"
PORT_FILE="$PG_DIR/port"
URL_FILE="/tmp/qmsbot_pg_url"
DEFAULT_PORT="${QMSBOT_PG_PORT:-54329}"
DB_USER=qmsbot
DB_PASSWORD=qmsbot
DB_NAME=qmsbot_test

log() { printf '[start-test-postgres] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

find_pg_bin() {
    # Debian installs each major version under /usr/lib/postgresql/<major>/bin; take the newest.
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
        printf '%s\n' "$d"
    fi
}

install_postgres() {
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed and this is not root: apt-get install postgresql"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package's post-install from starting its own `main` cluster (on 5432): we do not use it.
    # Docker-style images already ship a policy-rc.d that does this; add one only for the install.
    local added_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    local rc=0
    {
        if [[ "${QMSBOT_APT_UPDATED:-0}" != 1 ]]; then
            log "apt-get update"
            apt-get update -qq >&2
        fi
        log "apt-get install postgresql"
        apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            postgresql postgresql-client >&2
    } || rc=$?
    if [[ $added_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    [[ $rc -eq 0 ]] || die "apt-get install postgresql failed (exit $rc)"
}

# Run a command as the cluster's owner.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() {
    # Something accepts connections on 127.0.0.1:$1?
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
    local p
    for ((p = DEFAULT_PORT; p < DEFAULT_PORT + 100; p++)); do
        if ! port_in_use "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    die "no free port in $DEFAULT_PORT..$((DEFAULT_PORT + 99))"
}

url_for() {
    printf 'postgresql+asyncpg://%s:%s@127.0.0.1:%s/%s\n' "$DB_USER" "$DB_PASSWORD" "$1" "$DB_NAME"
}

psql_super() {
    as_owner "$PG_BIN/psql" -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
}

server_running() {
    # Our server (socket in our own dir) is up and answering on the recorded port.
    [[ -f "$PORT_FILE" && -d "$DATA_DIR" ]] || return 1
    PORT=$(<"$PORT_FILE")
    [[ -n "$PORT" ]] || return 1
    psql_super -c 'select 1' >/dev/null 2>&1
}

our_postmaster_alive() {
    # postmaster.pid names a live process that is a postgres on our data directory
    # (not just any process that happens to have reused the pid).
    local pid
    pid=$(head -n 1 "$DATA_DIR/postmaster.pid" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "postgres.*$DATA_DIR"
}

# ---------------------------------------------------------------------------------------------------

PG_BIN=$(find_pg_bin)

if [[ "${1:-}" == "--stop" ]]; then
    if [[ -n "$PG_BIN" && -d "$DATA_DIR" ]]; then
        as_owner "$PG_BIN/pg_ctl" -D "$DATA_DIR" -m fast -w stop >&2 || true
    fi
    rm -f "$URL_FILE"
    exit 0
fi

if [[ -z "$PG_BIN" ]]; then
    install_postgres
    PG_BIN=$(find_pg_bin)
    [[ -n "$PG_BIN" ]] || die "PostgreSQL installed but no /usr/lib/postgresql/*/bin/initdb found"
fi

if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    # Debian's package creates this user; make one if the binaries came some other way.
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

PORT=""
if ! server_running; then
    mkdir -p "$PG_DIR"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PG_DIR"; fi
    as_owner mkdir -p "$SOCKET_DIR"

    if [[ ! -s "$DATA_DIR/PG_VERSION" ]]; then
        log "initdb $DATA_DIR ($("$PG_BIN/postgres" --version))"
        rm -rf "$DATA_DIR"
        as_owner "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
            || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
        cat >>"$DATA_DIR/postgresql.conf" <<EOF

# --- qmsbot test server: disposable data, speed over durability ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCKET_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
EOF
    elif our_postmaster_alive; then
        # Ours, but not answering where we expect it: restart it cleanly.
        log "restarting the server found running on $DATA_DIR"
        as_owner "$PG_BIN/pg_ctl" -D "$DATA_DIR" -m fast -w stop >&2
    else
        # A cluster left from an earlier run whose server is gone (machine reused): stale lock file.
        rm -f "$DATA_DIR/postmaster.pid"
    fi

    PORT=$(pick_port)
    printf '%s\n' "$PORT" > "$PORT_FILE"
    log "starting on 127.0.0.1:$PORT (log: $LOG_FILE)"
    as_owner "$PG_BIN/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -o "-p $PORT" -w -t 60 start >/dev/null \
        || { tail -n 30 "$LOG_FILE" >&2 || true; die "the server did not start"; }
fi

# Cheap, and repairs a setup that was interrupted half-way.
if [[ "$(psql_super -c "select 1 from pg_roles where rolname = '$DB_USER'")" != 1 ]]; then
    psql_super -c "create role $DB_USER login createdb password '$DB_PASSWORD'"
fi
if [[ "$(psql_super -c "select 1 from pg_database where datname = '$DB_NAME'")" != 1 ]]; then
    psql_super -c "create database $DB_NAME owner $DB_USER encoding 'UTF8' template template0"
fi

URL=$(url_for "$PORT")
printf '%s\n' "$URL" > "$URL_FILE"
log "ready: $URL"
printf '%s\n' "$URL"
