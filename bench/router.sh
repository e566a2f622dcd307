#!/usr/bin/env bash
# The PL/Proxy router on loopback (issue 17, item 4).  One command:
#     bench/router.sh
# Starts a router (loyalty_router) and three nodes (loyalty_ext), one casino
# per node, and measures with pgbench, the variants alternated per round:
#   overhead   increment_player_loyalty for node 0's casino, direct to the
#              node and through the router: the ratio routed/direct;
#   scale-out  the same call through the router, the clients' casinos drawn
#              from the casinos of 1, 2 or 3 nodes: aggregate throughput.
# Each run prints the CPU seconds every part used (router, each node,
# pgbench): on this machine's 2 cores the parts share the same CPUs, so
# more nodes cannot add throughput here; the CPU split shows where a call's
# work goes.  Writes bench/results/router.{csv,md}.
# Knobs: BENCH_SECONDS (8), BENCH_ROUNDS (2), BENCH_CLIENTS (8),
# BENCH_ROUTER_PORT (55450; the nodes take the next three ports),
# BENCH_NO_BUILD=1 (use the installed extension as it is), BENCH_SETUP_ONLY=1
# (start and fill the clusters, leave them running, and stop).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

BASE_PORT="${BENCH_ROUTER_PORT:-55450}"
SECONDS_PER_RUN="${BENCH_SECONDS:-8}"
ROUNDS="${BENCH_ROUNDS:-2}"
CLIENTS="${BENCH_CLIENTS:-8}"
OUT="$ROOT/bench/results"
WORK="$LOYALTY_BASE/bench-router"
CASINOS=(00000000-0000-0000-0000-000000000000 c0ffee00-0000-0000-0000-00000000000b c0ffee00-0000-0000-0000-00000000000c)

if [ -z "${BENCH_NO_BUILD:-}" ]; then setup_all; else ensure_packages; install_router; fi
log "starting a router and three nodes"
start_cluster brouter "$BASE_PORT" "max_connections = 200"
for n in 0 1 2; do
    start_cluster "bnode$n" $((BASE_PORT + 1 + n)) "shared_buffers = '256MB'
max_wal_size = '4GB'
checkpoint_timeout = '30min'
max_connections = 200"
done
trap 'for c in brouter bnode0 bnode1 bnode2; do stop_cluster "$c"; done' EXIT

servers=()
for n in 0 1 2; do
    port=$((BASE_PORT + 1 + n))
    psql_at "$port" postgres -qc 'CREATE DATABASE bench'
    psql_at "$port" bench -q -v casino="${CASINOS[$n]}" <<'SQL'
CREATE EXTENSION loyalty_ext;
INSERT INTO loyalty.casino (casino_id, name) VALUES (:'casino', 'bench casino')
    ON CONFLICT (casino_id) DO NOTHING;
-- 10,000 players of the node's casino.
INSERT INTO loyalty.player_loyalty (casino_id, player_id, tier)
SELECT :'casino', ('c0ffee00-0000-0000-0017-' || lpad(g::text, 12, '0'))::uuid, 'BRONZE'
  FROM generate_series(1, 10000) g;
VACUUM ANALYZE;
SQL
    servers+=("p$n 'host=127.0.0.1 port=$port dbname=bench'")
done
psql_at "$BASE_PORT" postgres -qc 'CREATE DATABASE bench'
psql_at "$BASE_PORT" bench -q <<SQL
CREATE EXTENSION loyalty_router CASCADE;
CREATE SERVER loyalty_nodes FOREIGN DATA WRAPPER plproxy
    OPTIONS (modular_mapping '1', $(IFS=,; echo "${servers[*]}"));
CREATE USER MAPPING FOR PUBLIC SERVER loyalty_nodes;
INSERT INTO loyalty_router.placement VALUES ('${CASINOS[0]}', 0), ('${CASINOS[1]}', 1), ('${CASINOS[2]}', 2);
SQL

if [ -n "${BENCH_SETUP_ONLY:-}" ]; then
    trap - EXIT
    log "router on port $BASE_PORT, nodes on the next three (BENCH_SETUP_ONLY)"
    exit 0
fi

rm -rf "$WORK" && mkdir -p "$WORK" "$OUT"
# A credit for a random player of one of the first :nodes casinos.
cat >"$WORK/credit.sql" <<'SQL'
\set c random(0, :nodes - 1)
\set pid random(1, 10000)
\set r random(1, 1000000000000)
SELECT balance_after FROM loyalty.increment_player_loyalty(
    ('c0ffee00-0000-0000-0017-' || lpad(:pid::text, 12, '0'))::uuid, 10, 'PROMOTION',
    'r' || :run || '-' || :client_id || '-' || :r,
    p_casino_id => (ARRAY['00000000-0000-0000-0000-000000000000', 'c0ffee00-0000-0000-0000-00000000000b',
                          'c0ffee00-0000-0000-0000-00000000000c']::uuid[])[:c + 1]);
SQL

python3 "$ROOT/bench/router_run.py" \
    --router "$BASE_PORT" --nodes $((BASE_PORT + 1)) $((BASE_PORT + 2)) $((BASE_PORT + 3)) \
    --base "$LOYALTY_BASE" --script "$WORK/credit.sql" --seconds "$SECONDS_PER_RUN" \
    --rounds "$ROUNDS" --clients "$CLIENTS" --out "$OUT/router"
