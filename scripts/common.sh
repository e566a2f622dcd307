#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh: installs what is
# missing (and only that), builds and installs the extension, and manages
# throwaway PostgreSQL 15 clusters owned by the `postgres` user.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG="$PG_BIN/pg_config"
PGX_VERSION=0.18.1
LOYALTY_BASE="${LOYALTY_BASE:-/tmp/loyalty_ext}"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\n==> %s\n' "$*"; }

ensure_packages() {
    local wanted=(postgresql-15 postgresql-contrib postgresql-server-dev-15 postgresql-15-cron
                  libclang-dev clang sudo pgbouncer postgresql-15-plproxy)
    local missing=()
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

ensure_pgrx() {
    if ! cargo pgrx --version 2>/dev/null | grep -q "$PGX_VERSION"; then
        log "installing cargo-pgrx $PGX_VERSION (about 7 minutes, once)"
        cargo install cargo-pgrx --version "$PGX_VERSION" --locked
    fi
    if ! grep -qs '^pg15' "$HOME/.pgrx/config.toml"; then
        cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
    fi
}

build_and_install() {
    log "building and installing loyalty_ext into PostgreSQL 15"
    (cd "$ROOT" && cargo pgrx install --release --pg-config "$PG_CONFIG")
    install_router
}

# install_router: the companion extension loyalty_router (SQL only, for a
# PL/Proxy router database; router/README in the README's "High
# availability and scale-out").
install_router() {
    local extdir
    extdir="$("$PG_CONFIG" --sharedir)/extension"
    install -m 644 "$ROOT/router/loyalty_router.control" "$ROOT"/router/loyalty_router--*.sql "$extdir/"
}

# The version being developed (Cargo.toml) and the released ones (sql/RELEASES).
current_version() {
    sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -1
}
released_versions() {
    grep -v '^#' "$ROOT/sql/RELEASES" | awk 'NF == 2 { print $1 }'
}
released_commit() {
    grep -v '^#' "$ROOT/sql/RELEASES" | awk -v v="$1" '$1 == v { print $2 }'
}

# build_released VERSION: builds a released version from the commit recorded
# in sql/RELEASES (a `git archive` of it under target/releases/VERSION, built
# there once and kept) and prints the directory of its packaged files: the
# same tree `cargo pgrx install` would write, rooted at that directory.
build_released() {
    local version=$1 commit dir
    commit=$(released_commit "$version")
    [ -n "$commit" ] || { echo "version $version is not in sql/RELEASES" >&2; return 1; }
    dir="$ROOT/target/releases/$version"
    if [ "$(cat "$dir/COMMIT" 2>/dev/null)" != "$commit" ]; then
        git -C "$ROOT" cat-file -e "$commit^{commit}" 2>/dev/null || {
            echo "commit $commit of release $version is not in this clone (a shallow clone? run git fetch --unshallow)" >&2
            return 1
        }
        rm -rf "$dir" && mkdir -p "$dir/src"
        git -C "$ROOT" archive "$commit" | tar -x -C "$dir/src"
        echo "$commit" >"$dir/COMMIT"
    fi
    if [ ! -f "$dir/PACKAGED" ]; then
        log "building released version $version from commit $commit (once; kept in target/releases)" >&2
        (cd "$dir/src" && cargo pgrx package --pg-config "$PG_CONFIG" >&2)
        touch "$dir/PACKAGED"
    fi
    echo "$dir/src/target/release/loyalty_ext-pg15"
}

# install_tree DIR: copies a packaged tree (as printed by build_released or
# made by `cargo pgrx package`) into the system.  A shared library is
# removed before it is copied, never overwritten in place: running backends
# keep their mapping of the old file.
install_tree() {
    local tree=$1 f dest
    (cd "$tree" && find . -type f) | while read -r f; do
        dest="/${f#./}"
        mkdir -p "$(dirname "$dest")"
        rm -f "$dest"
        cp "$tree/$f" "$dest"
    done
}

# ensure_python_client: a virtualenv with psycopg 3 and pytest for the
# Python client's tests (clients/python), made once and kept.
PY_VENV="$LOYALTY_BASE/venv-python-client"
ensure_python_client() {
    if ! "$PY_VENV/bin/python" -c 'import psycopg, pytest' 2>/dev/null; then
        log "installing psycopg 3 and pytest for the Python client (once)"
        python3 -m venv "$PY_VENV" &&
            "$PY_VENV/bin/pip" install -q "psycopg[binary]>=3.2" "pytest>=7" || return 1
    fi
}

# ensure_typescript_client: node-postgres and TypeScript for the
# TypeScript client's tests (clients/typescript/node_modules, from its
# package-lock.json), installed once.
ensure_typescript_client() {
    command -v npm >/dev/null || { echo "npm is missing (Node.js 20)" >&2; return 1; }
    if [ ! -x "$ROOT/clients/typescript/node_modules/.bin/tsc" ]; then
        log "installing the TypeScript client's packages (npm ci, once)"
        (cd "$ROOT/clients/typescript" && npm ci --no-audit --no-fund >/dev/null) || return 1
    fi
}

setup_all() {
    [ "$(id -u)" = 0 ] || { echo "run as root (it installs packages and the extension)" >&2; exit 1; }
    ensure_packages
    ensure_pgrx
    build_and_install
}

# start_cluster NAME PORT [EXTRA_CONF]: a fresh cluster in $LOYALTY_BASE/NAME,
# trust auth, listening on 127.0.0.1:PORT and a private socket directory.
start_cluster() {
    local name=$1 port=$2 extra="${3:-}" dir="$LOYALTY_BASE/$1"
    reserve_ports
    stop_cluster "$name"
    wait_port_free "$port"
    rm -rf "$dir"
    mkdir -p "$dir"
    chown -R postgres:postgres "$LOYALTY_BASE" "$dir"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
        --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 120
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 32
log_line_prefix = '%m [%p] '
$extra
CONF
    pg_start "$name" || return 1
    echo "cluster '$name' up on 127.0.0.1:$port (socket $dir, log $dir/server.log)"
}

# pg_start NAME: starts the cluster NAME made by start_cluster or
# start_standby and waits until it accepts connections.  Our ports lie in
# Linux's ephemeral range (32768-60999): unless reserve_ports took them out
# of it, a client connection of an earlier test may have used the port as
# its own end, and its TIME_WAIT then blocks the postmaster's bind for up
# to 60 s.  That start is retried for 90 s; any other failure shows the log.
pg_start() {
    local dir="$LOYALTY_BASE/$1" attempt seen
    for attempt in $(seq 45); do
        seen=$( (wc -l <"$dir/server.log") 2>/dev/null || echo 0)
        # Never let a Rust backtrace reach a client's error message.
        env -u RUST_BACKTRACE runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" \
            -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1 && return 0
        tail -n "+$((seen + 1))" "$dir/server.log" 2>/dev/null |
            grep -q "could not create any TCP/IP sockets" || break
        [ "$attempt" = 1 ] && echo "cluster '$1': its port is held by another socket; retrying for 90 s" >&2
        sleep 2
    done
    echo "cluster '$1' did not start" >&2
    show_logs "$1"
    return 1
}

# reserve_ports: takes the ports our clusters, poolers and benchmarks
# listen on (55432-55460) out of Linux's ephemeral port range, so that no
# client connection made by a test can hold one when a server starts.  Best
# effort: needs root, and keeps whatever else was reserved.
reserve_ports() {
    local f=/proc/sys/net/ipv4/ip_local_reserved_ports current
    [ -w "$f" ] || return 0
    current=$(cat "$f")
    case ",$current," in *,55432-55460,*) return 0 ;; esac
    echo "${current:+$current,}55432-55460" >"$f" 2>/dev/null || true
}

stop_cluster() {
    local dir="$LOYALTY_BASE/$1"
    if [ -f "$dir/data/postmaster.pid" ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
}

# wait_port_free PORT: waits (up to 60 s) until nothing listens on PORT; a
# server killed with kill -9 by a test can leave a child that still holds
# its listening socket for a moment.
wait_port_free() {
    local i
    for i in $(seq 120); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . || return 0
        sleep 0.5
    done
    echo "port $1 is still in use:" >&2
    ss -Hltnp "sport = :$1" >&2 || true
}

# port_of NAME: the port a cluster made by start_cluster or start_standby listens on.
port_of() {
    awk -F' *= *' '$1 == "port" { p = $2 } END { print p }' "$LOYALTY_BASE/$1/data/postgresql.conf"
}

# start_standby NAME PRIMARY PORT: a hot standby of the cluster PRIMARY on
# 127.0.0.1:PORT, made with `pg_basebackup -R -X stream` (its WAL receiver
# names itself NAME, the name synchronous_standby_names uses), started, and
# streaming before this returns.
start_standby() {
    local name=$1 primary=$2 port=$3 dir="$LOYALTY_BASE/$1" pport
    pport=$(port_of "$primary")
    stop_cluster "$name"
    wait_port_free "$port"
    rm -rf "$dir" && mkdir -p "$dir" && chown postgres:postgres "$dir"
    runuser -u postgres -- "$PG_BIN/pg_basebackup" --no-sync -c fast -R -X stream -D "$dir/data" \
        -d "host=127.0.0.1 port=$pport user=postgres application_name=$name"
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$dir'
CONF
    pg_start "$name" || return 1
    for _ in $(seq 300); do
        if [ "$(psql_at "$pport" postgres -Atc "SELECT count(*) FROM pg_stat_replication
                                             WHERE application_name = '$name' AND state = 'streaming'" 2>/dev/null)" = 1 ]; then
            echo "standby '$name' of '$primary' up on 127.0.0.1:$port, streaming"
            return 0
        fi
        sleep 0.1
    done
    echo "standby '$name' of '$primary' does not stream after 30 s" >&2
    show_logs "$primary" "$name"
    return 1
}

# show_logs NAME...: the end of each named cluster's server log, on stderr
# (what a failed set-up step prints before it fails).
show_logs() {
    local n
    for n in "$@"; do
        echo "--- last lines of $LOYALTY_BASE/$n/server.log" >&2
        tail -n 40 "$LOYALTY_BASE/$n/server.log" >&2 2>/dev/null || true
    done
}

# make_synchronous PRIMARY STANDBY: every commit on PRIMARY waits until
# STANDBY has flushed its WAL.  Set only once the standby streams: set
# before, every commit waits for a standby that is not there.
make_synchronous() {
    local pport standby=$2
    pport=$(port_of "$1")
    psql_at "$pport" postgres -qc "ALTER SYSTEM SET synchronous_standby_names = '$standby'" -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 100); do
        [ "$(psql_at "$pport" postgres -Atc "SELECT sync_state FROM pg_stat_replication
                                             WHERE application_name = '$standby'")" = sync ] && return 0
        sleep 0.1
    done
    echo "standby '$standby' did not become synchronous" >&2
    show_logs "$1" "$standby"
    return 1
}

# start_pgbouncer NAME PORT PG_PORT USERS...: a PgBouncer in transaction
# pooling mode on 127.0.0.1:PORT in front of the cluster on PG_PORT, trust
# auth for the listed users, two server connections per database and user
# (so that clients share them), running as postgres.  The Debian package's
# own service is not used.
start_pgbouncer() {
    local name=$1 port=$2 pg_port=$3; shift 3
    local dir="$LOYALTY_BASE/$name" u
    reserve_ports
    stop_pgbouncer "$name"
    rm -rf "$dir" && mkdir -p "$dir"
    : >"$dir/userlist.txt"
    for u in "$@"; do printf '"%s" ""\n' "$u" >>"$dir/userlist.txt"; done
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
admin_users = postgres
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    chown -R postgres:postgres "$dir"
    runuser -u postgres -- /usr/sbin/pgbouncer -d -q "$dir/pgbouncer.ini"
    for _ in $(seq 50); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        sleep 0.1
    done
    echo "pgbouncer '$name' up on 127.0.0.1:$port (transaction mode, log $dir/pgbouncer.log)"
}

stop_pgbouncer() {
    local pidfile="$LOYALTY_BASE/$1/pgbouncer.pid"
    if [ -f "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$pidfile" ] || break; sleep 0.1; done
    fi
}

# psql_at PORT DB ARGS...: psql as postgres over the cluster's socket.
psql_at() {
    local port=$1 db=$2; shift 2
    "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}
