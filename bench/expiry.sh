#!/usr/bin/env bash
# What expiry costs (SPEC section 15), measured side by side in one run:
#     bench/expiry.sh
# 1. Per credit and per redemption: the same pgbench workloads at a casino
#    whose policy is `none` (no lots) and at one whose policy is `fixed`
#    (every credit a lot, every redemption consuming lots), alternated,
#    BENCH_ROUNDS times each; median tps and the ratio fixed/none.
# 2. An expiry run over 1,000,000 lots (100,000 players with 10 expired lots
#    each): `loyalty.expire_points` against one set-based SQL statement doing
#    the same writes (zero the lots, record the consumption, one EXPIRATION
#    ledger row and the new balance per player).
# Knobs: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_CLIENTS (8),
# BENCH_LOT_PLAYERS (100000).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

PORT="${BENCH_PORT:-55434}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
CLIENTS="${BENCH_CLIENTS:-8}"
LOT_PLAYERS="${BENCH_LOT_PLAYERS:-100000}"
WORK="$LOYALTY_BASE/expiry-bench"
NONE=00000000-0000-0000-0000-000000000000
FIXED=0e000000-0000-0000-0000-0000000000f1
die() { echo "bench/expiry.sh: $*" >&2; exit 1; }

setup_all
rm -rf "$WORK" && mkdir -p "$WORK"
start_cluster expiry "$PORT" "shared_buffers = '512MB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
max_connections = 200"
trap 'stop_cluster expiry' EXIT

psql_at "$PORT" postgres -q -c 'CREATE DATABASE bench'
psql_at "$PORT" bench -q <<SQL
CREATE EXTENSION loyalty_ext;
CREATE SCHEMA bench;
CREATE FUNCTION bench.pid(n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS \$\$ SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid \$\$;
ALTER DATABASE bench SET loyalty.redemption_rate_limit = 2000000000;
ALTER DATABASE bench SET loyalty.redemption_points_limit = 2000000000;
ALTER DATABASE bench SET loyalty.role_redemption_rate_limit = 2000000000;
ALTER DATABASE bench SET loyalty.role_redemption_points_limit = 2000000000;
ALTER DATABASE bench SET loyalty.redemption_rate_window = 1;
INSERT INTO loyalty.casino (casino_id, name, expiry_policy, expiry_months)
VALUES ('$FIXED', 'fixed term', 'fixed', 12);
INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
SELECT c, bench.pid(900000 + g), ARRAY['loyalty:redeem']
  FROM unnest(ARRAY['$NONE', '$FIXED']::uuid[]) c, generate_series(0, 64) g;
-- 10,000 players at each casino with a balance to redeem from (at the
-- fixed-term casino: as lots, one credit each).
SELECT count(*) FROM unnest(ARRAY['$NONE', '$FIXED']::uuid[]) c, generate_series(1, 10000) g,
       LATERAL loyalty.increment_player_loyalty(bench.pid(g), 100000, 'PROMOTION', 'seed-' || g, p_casino_id => c);
VACUUM ANALYZE;
SQL

cat >"$WORK/credit.sql" <<'SQL'
\set pid random(20001, 120000)
\set r random(1, 1000000000000)
SELECT balance_after FROM loyalty.increment_player_loyalty(bench.pid(:pid), 10, 'PROMOTION', 'e' || :run || '-' || :client_id || '-' || :r);
SQL
cat >"$WORK/redeem.sql" <<'SQL'
\set pid random(1, 10000)
\set r random(1, 1000000000000)
SELECT balance_after FROM loyalty.redeem_points(bench.pid(:pid), 1, bench.pid(900000 + :client_id),
       'buffet comp for two guests', 'r' || :run || '-' || :client_id || '-' || :r);
SQL

CSV="$WORK/runs.csv"
echo "workload,policy,round,tps" >"$CSV"
RUN_NO=0
for workload in credit redeem; do
    for round in $(seq 1 "$ROUNDS"); do
        for policy in none fixed; do
            RUN_NO=$((RUN_NO + 1))
            casino=$NONE
            [ "$policy" = fixed ] && casino=$FIXED
            tps=$(PGOPTIONS="-c loyalty.session_casino_id=$casino" /usr/lib/postgresql/15/bin/pgbench -n -M prepared \
                -h 127.0.0.1 -p "$PORT" -U postgres -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -D run="$RUN_NO" \
                -f "$WORK/$workload.sql" bench 2>&1 | awk '/^tps = / {print $3}')
            [ -n "$tps" ] || die "pgbench failed: $workload $policy"
            echo "$workload,$policy,$round,$tps" | tee -a "$CSV"
        done
    done
done

log "an expiry run over $((LOT_PLAYERS * 10)) lots"
# Two identical sets of players whose lots expired a month ago: one for the
# extension, one for the raw statement.
seed() {
    local prefix=$1
    psql_at "$PORT" bench -q <<SQL
INSERT INTO loyalty.player_loyalty (casino_id, player_id, tier, current_balance, lifetime_points)
SELECT '$FIXED', ('$prefix' || lpad(g::text, 12, '0'))::uuid, 'BRONZE', 1000, 1000
  FROM generate_series(1, $LOT_PLAYERS) g;
INSERT INTO loyalty.point_lot (casino_id, player_id, points, remaining, earned_at, expires_at)
SELECT '$FIXED', ('$prefix' || lpad(g::text, 12, '0'))::uuid, 100, 100,
       now() - interval '13 months', now() - interval '1 month'
  FROM generate_series(1, $LOT_PLAYERS) g, generate_series(1, 10) i;
SQL
}
seed 00000000-0000-4000-9000-
seed 00000000-0000-4000-a000-
psql_at "$PORT" bench -q -c 'VACUUM ANALYZE'
timed() {
    psql_at "$PORT" bench -qAt -c '\timing on' -c "$1" | grep -oE 'Time: [0-9.]+' | awk '{print $2 / 1000}'
}
# The raw statement first (it takes only its own players), then the
# extension over the rest.
raw=$(timed "
WITH lots AS (
    UPDATE loyalty.point_lot l SET remaining = 0
      FROM (SELECT x.lot_id, x.remaining FROM loyalty.point_lot x
             WHERE x.casino_id = '$FIXED' AND x.remaining > 0 AND x.expires_at <= now()
               AND x.player_id::text LIKE '00000000-0000-4000-a000-%') o
     WHERE l.lot_id = o.lot_id
    RETURNING l.lot_id, l.player_id, o.remaining AS points
), per_player AS (
    SELECT player_id, sum(points) AS points FROM lots GROUP BY player_id
), players AS (
    UPDATE loyalty.player_loyalty p SET current_balance = p.current_balance - pp.points, updated_at = now()
      FROM per_player pp WHERE p.casino_id = '$FIXED' AND p.player_id = pp.player_id
    RETURNING p.player_id, p.current_balance, pp.points, p.tier, p.lifetime_points
), ledger AS (
    INSERT INTO loyalty.loyalty_ledger (casino_id, player_id, points_change, transaction_type, idempotency_key,
           request_fingerprint, balance_before, balance_after, tier_before, tier_after, tier_progress_after,
           lifetime_points_after, correlation_id, reason)
    SELECT '$FIXED', player_id, -points, 'EXPIRATION', 'raw-expiry-' || player_id,
           '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', current_balance + points,
           current_balance, tier, tier, 0, lifetime_points, lpad(txid_current()::text, 36, '0'), 'raw'
      FROM players
    RETURNING id, player_id
)
INSERT INTO loyalty.lot_consumption (casino_id, lot_id, ledger_id, points)
SELECT '$FIXED', lots.lot_id, ledger.id, lots.points FROM lots JOIN ledger USING (player_id)")
ext=$(timed "SELECT count(*) FROM loyalty.expire_points(100000, NULL, '$FIXED')")
echo "expiry,ext,$ext" | tee -a "$CSV"
echo "expiry,raw,$raw" | tee -a "$CSV"

python3 - "$CSV" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))[1:]
print("\nmedian tps at a casino without lots (none) and with (fixed), same run:")
print("| workload | none | fixed | fixed/none |")
print("|---|---|---|---|")
for w in ("credit", "redeem"):
    med = {p: statistics.median(float(r[3]) for r in rows if r[0] == w and r[1] == p) for p in ("none", "fixed")}
    print(f"| {w} | {med['none']:.0f} | {med['fixed']:.0f} | {med['fixed'] / med['none']:.3f} |")
t = {r[1]: float(r[2]) for r in rows if r[0] == "expiry"}
print(f"\nexpiry run: ext {t['ext']:.1f} s, raw set-based {t['raw']:.1f} s, raw/ext {t['raw'] / t['ext']:.3f}")
PY
