#!/usr/bin/env bash
# Side-by-side benchmark of loyalty_ext (issue 7).  One command:
#     bench/run.sh
# Builds and installs the extension, starts a throwaway cluster on port
# 55434, and runs each workload with pgbench, alternating the variants
#   raw      the bare minimum SQL: lock+update the player, insert the ledger row
#   rawfn    the raw statement inside a plain PL/pgSQL function (the floor for
#            any server-side function: what the call boundary alone costs)
#   plpgsql  bench/plpgsql.sql, a PL/pgSQL function with the same contract
#   client   the same work as separate client statements in one transaction
#   ext      loyalty.increment_player_loyalty (and manual_reward, complete_rating_slip)
# each for the same duration and client count.  Prints a table and writes
# bench/results/latest.{csv,md}.
# Knobs: BENCH_SECONDS (10), BENCH_ROUNDS (2), BENCH_CLIENTS (8),
# BENCH_ONLY (a subset of: uniform zipf hot replay slip reward events bulk),
# BENCH_PGOPTIONS (extra settings for every pgbench session, e.g.
# "-c loyalty.log_events=off"), BENCH_NAME (output name, default latest),
# BENCH_SETUP_ONLY=1 (set the cluster and database up, leave it running on
# its port for profiling, and stop: `source scripts/common.sh; stop_cluster
# bench` when done).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

PORT="${BENCH_PORT:-55434}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
ROUNDS="${BENCH_ROUNDS:-2}"
CLIENTS="${BENCH_CLIENTS:-8}"
OUT="$ROOT/bench/results"
WORK="$LOYALTY_BASE/bench-work"
SQL="$ROOT/bench/sql"

setup_all
log "starting the benchmark cluster"
# Checkpoints and autovacuum off the measured path; fsync stays on.
start_cluster bench "$PORT" "shared_buffers = '512MB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
max_connections = 200"
trap 'stop_cluster bench' EXIT

psql_at "$PORT" postgres -q -c 'CREATE DATABASE bench'
psql_at "$PORT" bench -q <<'SQL'
CREATE EXTENSION loyalty_ext;
\i bench/plpgsql.sql
-- Velocity limits out of the way of throughput (a host grants about 10
-- rewards a minute, not thousands a second) but still counted: each staff
-- member's limit is far above what a run reaches, in the default 60 s
-- window. The login role's limit is at the maximum, which turns it off
-- (README, "Velocity limits"): one login role's counted changes would
-- otherwise commit one after another on its usage row.
ALTER DATABASE bench SET loyalty.manual_reward_rate_limit = 2000000000;
ALTER DATABASE bench SET loyalty.manual_reward_points_limit = 2000000000;
ALTER DATABASE bench SET loyalty.role_manual_reward_rate_limit = 2147483647;
ALTER DATABASE bench SET loyalty.role_manual_reward_points_limit = 2147483647;
-- 100,000 players, 10,000 known keys for the replay workload, 64 hosts.
INSERT INTO loyalty.player_loyalty (player_id, tier) SELECT bench.pid(g), 'BRONZE' FROM generate_series(1, 100000) g;
SELECT count(*) FROM generate_series(1, 10000) g,
       LATERAL loyalty.increment_player_loyalty(bench.pid(g), 10, 'PROMOTION', 'replay-' || g);
INSERT INTO loyalty.staff_permission SELECT bench.pid(900000 + g), ARRAY['loyalty:award'] FROM generate_series(0, 64) g;
-- A casino that asks for an outbox event per balance change (SPEC 16), with
-- the same 100,000 players: the events workload runs against it and the
-- default casino alternately.
INSERT INTO loyalty.casino (casino_id, name, balance_events) VALUES ('e7e7e7e7-0000-0000-0000-000000000000', 'bench events', true);
INSERT INTO loyalty.player_loyalty (casino_id, player_id, tier)
SELECT 'e7e7e7e7-0000-0000-0000-000000000000', bench.pid(g), 'BRONZE' FROM generate_series(1, 100000) g;
SQL
# Manual rewards are token-authenticated: one HS256 token per host.
{ python3 "$ROOT/bench/tokens.py"; echo "VACUUM ANALYZE;"; } | psql_at "$PORT" bench -q

if [ -n "${BENCH_SETUP_ONLY:-}" ]; then
    trap - EXIT
    log "database bench is ready on port $PORT (BENCH_SETUP_ONLY)"
    exit 0
fi

rm -rf "$WORK" && mkdir -p "$WORK/logs" "$WORK/sql" "$OUT"
# The uniform scripts are the templates: Zipf-skewed and single-hot-player
# workloads differ only in how the player is drawn.
cp "$SQL"/*.sql "$WORK/sql/"
for v in raw rawfn plpgsql client ext; do
    sed 's/\\set pid random(1, 100000)/\\set pid random_zipfian(1, 100000, 1.1)/' "$SQL/uniform_$v.sql" > "$WORK/sql/zipf_$v.sql"
    sed 's/\\set pid random(1, 100000)/\\set pid 1/' "$SQL/uniform_$v.sql" > "$WORK/sql/hot_$v.sql"
done
SQL="$WORK/sql"
RAW="$WORK/runs.csv"
echo "workload,sync,clients,variant,round,tps,mean_ms,p99_ms" > "$RAW"

# run WORKLOAD SYNC CLIENTS ROUND VARIANT
# Every run gets its own number, part of every idempotency key it makes, so
# no two runs can collide on a key.
RUN_NO=0
run() {
    RUN_NO=$((RUN_NO + 1))
    local workload=$1 sync=$2 clients=$3 round=$4 variant=$5
    local tag="${workload}-${sync}-${clients}-${variant}-${round}"
    local threads=$(( clients < 2 ? 1 : 2 ))
    rm -f "$WORK/logs/$tag".*
    PGOPTIONS="-c synchronous_commit=$sync ${BENCH_PGOPTIONS:-}" /usr/lib/postgresql/15/bin/pgbench -n -M prepared \
        -h 127.0.0.1 -p "$PORT" -U postgres -c "$clients" -j "$threads" -T "$SECONDS_PER_RUN" -D run="$RUN_NO" \
        -l --log-prefix="$WORK/logs/$tag" -f "$SQL/${workload}_${variant}.sql" bench \
        > "$WORK/$tag.out" 2>&1 || { echo "pgbench failed for $tag:"; tail -5 "$WORK/$tag.out"; exit 1; }
    python3 "$ROOT/bench/latency.py" "$WORK/$tag.out" "$WORK/logs/$tag" \
        "$workload,$sync,$clients,$variant,$round" >> "$RAW"
    tail -1 "$RAW"
}

# compare WORKLOAD SYNC CLIENTS VARIANTS...: alternate the variants, ROUNDS times.
# BENCH_ONLY="uniform hot" restricts the run to some workloads.
compare() {
    local workload=$1 sync=$2 clients=$3; shift 3
    if [ -n "${BENCH_ONLY:-}" ] && ! [[ " $BENCH_ONLY " == *" $workload "* ]]; then return; fi
    for round in $(seq 1 "$ROUNDS"); do
        for variant in "$@"; do run "$workload" "$sync" "$clients" "$round" "$variant"; done
    done
}

BULK="$WORK/bulk.csv"
echo "variant,seconds" > "$BULK"
log "workloads (synchronous_commit = on)"
compare uniform on "$CLIENTS" raw rawfn plpgsql client ext
compare zipf    on "$CLIENTS" raw rawfn plpgsql client ext
for c in 1 2 8 32; do compare hot on "$c" raw rawfn plpgsql client ext; done
compare replay  on "$CLIENTS" raw plpgsql ext
compare slip    on "$CLIENTS" ext
compare reward  on "$CLIENTS" ext
compare events  on "$CLIENTS" ext extev
log "workloads (synchronous_commit = off)"
compare uniform off "$CLIENTS" raw plpgsql client ext
compare hot     off "$CLIENTS" raw plpgsql client ext

if [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" bulk "* ]]; then
log "bulk promotion: one call crediting 100,000 players"
bulk() {
    local variant=$1 statement=$2
    local ms
    ms=$(psql_at "$PORT" bench -qAt -c '\timing on' -c "$statement" | grep -oE 'Time: [0-9.]+' | awk '{print $2}')
    [ -n "$ms" ] || { echo "bench/run.sh: the $variant bulk statement failed" >&2; exit 1; }
    echo "$variant,$(python3 -c "print(round($ms/1000, 3))")" | tee -a "$BULK"
}
# raw and ext alternate, ROUNDS times, each round crediting campaigns of
# its own (the ledger grows by 100,000 rows per run: alternating keeps the
# two on tables of the same size); the PL/pgSQL loop runs once.
for round in $(seq 1 "$ROUNDS"); do
    psql_at "$PORT" bench -qAt -c "INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
        VALUES ('bulk-raw-$round', 10, now() - interval '1 day', now() + interval '30 days', 1000000000000),
               ('bulk-ext-$round', 10, now() - interval '1 day', now() + interval '30 days', 1000000000000)"
    bulk raw "WITH c AS (SELECT id FROM loyalty.promotion_campaign WHERE reward_id = 'bulk-raw-$round' FOR UPDATE), p AS (UPDATE loyalty.player_loyalty SET current_balance = current_balance + 10, lifetime_points = lifetime_points + 10, updated_at = now() WHERE casino_id = '00000000-0000-0000-0000-000000000000' RETURNING casino_id, player_id, current_balance, lifetime_points, tier), l AS (INSERT INTO loyalty.loyalty_ledger (casino_id, player_id, points_change, transaction_type, idempotency_key, request_fingerprint, balance_before, balance_after, tier_before, tier_after, tier_progress_after, lifetime_points_after, correlation_id, campaign_id, campaign_credit) SELECT casino_id, player_id, 10, 'PROMOTION', encode(sha256(('bulk-raw-$round/' || player_id)::bytea), 'hex'), '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', current_balance - 10, current_balance, tier, tier, 0, lifetime_points, lpad(txid_current()::text, 36, '0'), (SELECT id FROM c), 1 FROM p RETURNING 1) UPDATE loyalty.promotion_campaign SET credited_points = credited_points + 10 * (SELECT count(*) FROM l) WHERE id = (SELECT id FROM c)"
    bulk ext "SELECT count(*) FROM loyalty.apply_promotion_batch('bulk-ext-$round', ARRAY(SELECT bench.pid(g) FROM generate_series(1, 100000) g)) WHERE outcome = 'credited'"
done
bulk plpgsql "SELECT count(*) FROM generate_series(1, 100000) g, LATERAL bench.increment_plpgsql(bench.pid(g), 10, 'PROMOTION', 'bulk-plpgsql-' || g)"
fi

log "ledger size after the run"
SIZES="$WORK/sizes.csv"
psql_at "$PORT" bench -qAt -F, > "$SIZES" <<'SQL'
SELECT 'rows', count(*)::text FROM loyalty.loyalty_ledger
UNION ALL SELECT 'heap_bytes_per_row', (pg_relation_size('loyalty.loyalty_ledger') / greatest(count(*), 1))::text FROM loyalty.loyalty_ledger
UNION ALL SELECT 'index_bytes_per_row', (pg_indexes_size('loyalty.loyalty_ledger') / greatest(count(*), 1))::text FROM loyalty.loyalty_ledger
UNION ALL SELECT 'index ' || c.relname, pg_size_pretty(pg_relation_size(c.oid))
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'loyalty.loyalty_ledger'::regclass;
SQL
cat "$SIZES"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
NAME="${BENCH_NAME:-latest}"
python3 "$ROOT/bench/report.py" "$RAW" "$BULK" "$SIZES" "$OUT/$NAME.md" "$OUT/$NAME.csv" \
    "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, PostgreSQL 15, ${SECONDS_PER_RUN}s x ${ROUNDS} rounds per variant, ${BENCH_PGOPTIONS:-default settings}, $STAMP"
cp "$RAW" "$OUT/runs-$NAME.csv"
