#!/usr/bin/env bash
# Project-local PostgreSQL cluster for development and tests.
#
# Usage: scripts/dev-db.sh <command> [args...]
#
#   exec CMD...  Run CMD with DATABASE_URL set. If DATABASE_URL is already set
#                in the environment it is used as is; otherwise the local
#                cluster is started (or reused) and its URL is exported,
#                with PGGSSENCMODE=disable (it has no Kerberos).
#   start        Initialise (first time) and start the local cluster.
#   stop         Stop the local cluster (no error if it is not running).
#   status       Show whether the local cluster is running.
#   url          Print the local cluster's DATABASE_URL.
#   psql [ARGS]  Open psql on the local `chat` database (starts the cluster).
#   deps         Install PostgreSQL and libpq-dev (Debian) if they are missing.
#   browser      Install chromium and chromium-driver (Debian) for the browser tests.
#   s3           Install moto (an S3-compatible server, from PyPI) into target/s3/venv for
#                the storage tests, which start it on loopback.
#
# Environment:
#   DEV_DB_PORT  TCP port of the local cluster (default 55432).
#   DATABASE_URL If set, `exec` uses it and does not touch the local cluster.
#
# The cluster lives in .data/pg (git-ignored), its log in .data/pg.log. As root, when the
# postgres user cannot reach the checkout (a private home directory), the cluster lives under
# the postgres user's home instead, one per checkout (the script prints where).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_ROOT="$ROOT/.data"
LOCK_FILE="$DATA_ROOT/dev-db.lock"
# Where the cluster and its log live: see locate_cluster.
CLUSTER_ROOT="$DATA_ROOT"
PGDATA_DIR="$CLUSTER_ROOT/pg"
LOG_FILE="$CLUSTER_ROOT/pg.log"
PORT="${DEV_DB_PORT:-55432}"
DB_NAME="chat"
DB_USER="postgres"
LOCAL_URL="postgres://$DB_USER@127.0.0.1:$PORT/$DB_NAME"
LIBPQ_HEADER="/usr/include/postgresql/libpq-fe.h"

PG_BIN=""

log() { printf 'dev-db: %s\n' "$*" >&2; }
die() { printf 'dev-db: error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# As root the cluster runs as the postgres user, who must reach its data directory. A
# checkout in a private directory (root's home, mode 700) is out of its reach: then the
# cluster lives in the postgres user's home, in a directory named after the checkout.
locate_cluster() {
    CLUSTER_ROOT="$DATA_ROOT"
    if is_root && id postgres >/dev/null 2>&1 \
        && ! runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
        local home
        home="$(getent passwd postgres | cut -d: -f6)"
        [[ -n "$home" && -d "$home" ]] || home=/var/tmp
        CLUSTER_ROOT="$home/chat-dev-db/$(basename "$ROOT")-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
    fi
    PGDATA_DIR="$CLUSTER_ROOT/pg"
    LOG_FILE="$CLUSTER_ROOT/pg.log"
}

# Newest installed server bin dir, or empty.
newest_pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$dir" && -x "$dir/pg_ctl" && -x "$dir/initdb" ]]; then
        printf '%s\n' "$dir"
    fi
}

have_libpq_dev() {
    [[ -f "$LIBPQ_HEADER" ]] && command -v pg_config >/dev/null 2>&1
}

apt_install() {
    local -a sudo_cmd=()
    if ! is_root; then
        if command -v sudo >/dev/null 2>&1; then
            sudo_cmd=(sudo)
        else
            die "missing packages: $*; not running as root and sudo is not available. Install them with: apt-get install $*"
        fi
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "missing packages: $*; apt-get not found (this script supports Debian/Ubuntu). Install PostgreSQL server binaries and the libpq headers by hand."
    log "installing $* ..."
    "${sudo_cmd[@]}" apt-get update
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

# ensure_deps [server]: make sure libpq-dev is present (needed to build the
# diesel crate) and, with "server", the PostgreSQL server binaries too.
ensure_deps() {
    local want_server="${1:-}"
    local -a missing=()
    if [[ -n "$want_server" && -z "$(newest_pg_bin)" ]]; then
        missing+=(postgresql)
    fi
    if ! have_libpq_dev; then
        missing+=(libpq-dev)
    fi
    if ((${#missing[@]} > 0)); then
        apt_install "${missing[@]}"
        # The postgres user may be new.
        locate_cluster
    fi
    if [[ -n "$want_server" && -z "$(newest_pg_bin)" ]]; then
        die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin even after installing postgresql"
    fi
    have_libpq_dev || die "libpq headers ($LIBPQ_HEADER) or pg_config still missing after installing libpq-dev"
}

# ensure_browser: Debian's chromium and chromium-driver, for the browser tests (they drive
# headless Chromium through WebDriver). Nothing is downloaded at run time.
ensure_browser() {
    local -a missing=()
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    if ((${#missing[@]} > 0)); then
        apt_install "${missing[@]}"
    fi
    command -v chromedriver >/dev/null 2>&1 || die "chromedriver still missing after installing chromium-driver"
}

# An S3-compatible server for the storage tests: moto's server mode, pinned, in a
# project-local virtualenv (target/s3/venv); the tests start it on loopback themselves.
MOTO_VERSION="5.1.18"
ensure_s3() {
    local venv="$ROOT/target/s3/venv"
    # The whole output first: `grep -q` would stop reading early, and pipefail would count
    # pip's broken pipe as a failure.
    if [[ -x "$venv/bin/moto_server" ]] \
        && [[ "$("$venv/bin/pip" show moto 2>/dev/null)" == *$'\nVersion: '"$MOTO_VERSION"$'\n'* ]]; then
        return
    fi
    command -v python3 >/dev/null 2>&1 || apt_install python3
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_install python3-venv
    log "installing moto $MOTO_VERSION (an S3-compatible server) into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    [[ -x "$venv/bin/moto_server" ]] || die "moto_server still missing after installing moto"
}

# Pick the server bin dir: the one matching an existing cluster's version if
# it exists, otherwise the newest installed one.
select_pg_bin() {
    ensure_deps server
    if [[ -f "$PGDATA_DIR/PG_VERSION" ]]; then
        local ver
        ver="$(cat "$PGDATA_DIR/PG_VERSION")"
        if [[ -x "/usr/lib/postgresql/$ver/bin/pg_ctl" ]]; then
            PG_BIN="/usr/lib/postgresql/$ver/bin"
            return
        fi
        die "the cluster in $PGDATA_DIR was created by PostgreSQL $ver, which is not installed. Install postgresql-$ver, or remove $PGDATA_DIR to create a new cluster."
    fi
    PG_BIN="$(newest_pg_bin)"
}

# Run a server-side command (initdb, pg_ctl) as the cluster owner. Never pass
# the lock file descriptor on: a postmaster inheriting it would hold the lock
# for as long as it runs.
as_owner() {
    if is_root; then
        (cd "$CLUSTER_ROOT" && runuser -u postgres -- "$@") 9>&-
    else
        (cd "$CLUSTER_ROOT" && "$@") 9>&-
    fi
}

client() {
    local tool="$1"
    shift
    "$PG_BIN/$tool" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" "$@"
}

prepare_dirs() {
    mkdir -p "$DATA_ROOT"
    if is_root; then
        id postgres >/dev/null 2>&1 \
            || die "running as root but there is no 'postgres' user (it is created by the Debian postgresql package)"
        chmod 755 "$DATA_ROOT"
        if [[ "$CLUSTER_ROOT" != "$DATA_ROOT" ]]; then
            mkdir -p "$CLUSTER_ROOT"
            chown postgres:postgres "$CLUSTER_ROOT"
            chmod 700 "$CLUSTER_ROOT"
        fi
        if ! runuser -u postgres -- test -x "$CLUSTER_ROOT" 2>/dev/null; then
            die "the postgres user cannot reach $CLUSTER_ROOT. Set DATABASE_URL to an existing database."
        fi
    fi
}

# Holds an exclusive lock on fd 9 until the process exits or unlock() is called.
lock() {
    prepare_dirs
    exec 9>"$LOCK_FILE"
    flock 9
}

unlock() {
    exec 9>&-
}

pg_status() {
    as_owner "$PG_BIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

# pg_ctl only checks that the PID in postmaster.pid is alive. After a reboot or
# a container restart that PID may belong to an unrelated process; in that case
# the pid file is stale and is removed so the server can start.
clear_stale_pidfile() {
    local pidfile="$PGDATA_DIR/postmaster.pid" pid comm state
    [[ -f "$pidfile" ]] || return 0
    pid="$(head -n 1 "$pidfile" 2>/dev/null || true)"
    if [[ ! "$pid" =~ ^[0-9]+$ ]]; then
        log "removing unreadable $pidfile"
        rm -f "$pidfile"
        return 0
    fi
    if [[ -d "/proc/$pid" ]]; then
        state="$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
        if [[ "$state" == Z ]]; then
            log "removing stale $pidfile (PID $pid is a defunct process)"
            rm -f "$pidfile"
            return 0
        fi
        comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
        case "$comm" in
            postgres | postmaster | "") return 0 ;;
        esac
        log "removing stale $pidfile (PID $pid is '$comm', not postgres)"
        rm -f "$pidfile"
    fi
    # PID not alive: pg_ctl and postgres deal with that themselves.
}

init_cluster() {
    if [[ -f "$PGDATA_DIR/PG_VERSION" ]]; then
        if is_root && [[ "$(stat -c %U "$PGDATA_DIR")" != postgres ]]; then
            chown -R postgres:postgres "$PGDATA_DIR"
        fi
        return 0
    fi
    if [[ -d "$PGDATA_DIR" ]] && [[ -n "$(ls -A "$PGDATA_DIR")" ]]; then
        die "$PGDATA_DIR exists and is not empty but holds no cluster (no PG_VERSION); remove it and retry"
    fi
    log "initialising cluster in $PGDATA_DIR ($("$PG_BIN/postgres" --version))"
    mkdir -p "$PGDATA_DIR"
    if is_root; then
        chown postgres:postgres "$PGDATA_DIR"
    fi
    chmod 700 "$PGDATA_DIR"
    if ! as_owner "$PG_BIN/initdb" -D "$PGDATA_DIR" -U "$DB_USER" --auth=trust -E UTF8 --no-locale >"$DATA_ROOT/initdb.log" 2>&1; then
        cat "$DATA_ROOT/initdb.log" >&2
        die "initdb failed"
    fi
}

start_server() {
    touch "$LOG_FILE"
    if is_root; then
        chown postgres:postgres "$LOG_FILE"
    fi
    log "starting PostgreSQL on 127.0.0.1:$PORT (log: $LOG_FILE)"
    local options="-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=400 -c shared_buffers=256MB"
    # Time by statement, for the bench (`make bench`), when the server has the module.
    if [[ -f "$PG_BIN/../lib/pg_stat_statements.so" ]]; then
        options+=" -c shared_preload_libraries=pg_stat_statements"
    fi
    if ! as_owner "$PG_BIN/pg_ctl" start -D "$PGDATA_DIR" -l "$LOG_FILE" -w -t 60 \
        -o "$options" \
        >/dev/null; then
        log "PostgreSQL failed to start; last lines of $LOG_FILE:"
        tail -n 40 "$LOG_FILE" >&2 || true
        die "could not start PostgreSQL (is port $PORT already in use? set DEV_DB_PORT to use another port)"
    fi
}

wait_ready() {
    local i
    for ((i = 0; i < 60; i++)); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres; then
            return 0
        fi
        sleep 1
    done
    tail -n 40 "$LOG_FILE" >&2 || true
    die "PostgreSQL is running but does not accept connections on 127.0.0.1:$PORT (is it listening on another port? see $LOG_FILE)"
}

create_db() {
    local exists
    exists="$(client psql -d postgres -v ON_ERROR_STOP=1 -tAc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'")"
    if [[ "$exists" != 1 ]]; then
        log "creating database $DB_NAME"
        client createdb "$DB_NAME"
    fi
}

# Start the cluster if needed and make sure the database exists.
ensure_running() {
    select_pg_bin
    lock
    init_cluster
    clear_stale_pidfile
    if ! pg_status; then
        start_server
    fi
    wait_ready
    create_db
    unlock
}

cmd_exec() {
    (($# > 0)) || die "usage: $0 exec CMD [ARGS...]"
    if [[ -n "${DATABASE_URL:-}" ]]; then
        ensure_deps
        exec "$@"
    fi
    ensure_running
    export DATABASE_URL="$LOCAL_URL"
    # The local cluster has no Kerberos, so libpq need not look for Kerberos credentials on
    # every connection. That look-up, in a thread still connecting while the process exits,
    # can abort the process in libkrb5's exit handlers.
    export PGGSSENCMODE="${PGGSSENCMODE:-disable}"
    exec "$@"
}

cmd_start() {
    ensure_running
    log "running: $LOCAL_URL"
}

cmd_stop() {
    if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
        log "no cluster in $PGDATA_DIR; nothing to stop"
        return 0
    fi
    select_pg_bin
    lock
    if pg_status; then
        as_owner "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 60 >/dev/null
        log "stopped"
    else
        log "not running"
    fi
    unlock
}

cmd_status() {
    if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
        echo "no cluster in $PGDATA_DIR (not initialised)"
        return 3
    fi
    select_pg_bin
    local rc=0
    as_owner "$PG_BIN/pg_ctl" status -D "$PGDATA_DIR" || rc=$?
    if ((rc == 0)); then
        echo "url: $LOCAL_URL"
    fi
    return "$rc"
}

cmd_psql() {
    ensure_running
    exec "$PG_BIN/psql" "$LOCAL_URL" "$@"
}

usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
}

main() {
    locate_cluster
    local cmd="${1:-}"
    (($# > 0)) && shift
    case "$cmd" in
        exec) cmd_exec "$@" ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        url) echo "$LOCAL_URL" ;;
        psql) cmd_psql "$@" ;;
        deps) ensure_deps server ;;
        browser) ensure_browser ;;
        s3) ensure_s3 ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
