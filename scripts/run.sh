#!/usr/bin/env bash
# The main job: set up, build, install, start a throwaway cluster, create the
# extension and run a short demo session.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT="${LOYALTY_RUN_PORT:-55432}"
setup_all
log "starting a throwaway cluster"
start_cluster run "$PORT"
psql_at "$PORT" postgres -q -c 'CREATE DATABASE loyalty'
psql_at "$PORT" loyalty -q -c 'CREATE EXTENSION loyalty_ext'

log "demo session"
psql_at "$PORT" loyalty -f "$ROOT/scripts/demo.sql"

cat <<MSG

The cluster keeps running. Connect with:
    psql -h 127.0.0.1 -p $PORT -U postgres loyalty
Stop it with:
    runuser -u postgres -- $PG_BIN/pg_ctl -D $LOYALTY_BASE/run/data stop
MSG
