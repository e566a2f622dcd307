#!/usr/bin/env bash
# A/B benchmark of the extension's hot path: an older commit against the
# working tree, side by side in one run on one cluster.
#     bench/ab.sh [BASE_COMMIT]
# BASE_COMMIT is built from a git worktree under a side version (0.0.1), so
# that both libraries are installed at once; database ab_base runs
# CREATE EXTENSION loyalty_ext VERSION '0.0.1', database ab_head the current
# version.  The workloads (bench/sql: uniform, replay, reward, slip, with the
# extension's calls only) alternate base and head, BENCH_ROUNDS times each,
# and the script prints the median tps of each and the ratio head/base.
# Issue 14 measured the hot path with tenancy against the commit before it:
#     bench/ab.sh aa15022
# Knobs: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_CLIENTS (8).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

BASE="${1:-aa15022}"
PORT="${BENCH_PORT:-55434}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
CLIENTS="${BENCH_CLIENTS:-8}"
WORK="$LOYALTY_BASE/ab-work"
SIDE_VERSION=0.0.1
die() { echo "bench/ab.sh: $*" >&2; exit 1; }

setup_all
rm -rf "$WORK" && mkdir -p "$WORK"
log "building $BASE as version $SIDE_VERSION"
git -C "$ROOT" worktree remove --force "$WORK/base" 2>/dev/null || true
git -C "$ROOT" worktree add --detach "$WORK/base" "$BASE" >/dev/null
sed -i "0,/^version = .*/s//version = \"$SIDE_VERSION\"/" "$WORK/base/Cargo.toml"
# Only the side version's library and install script are wanted: the
# worktree's upgrade scripts would overwrite the current ones.
rm -f "$WORK"/base/sql/loyalty_ext--*--*.sql
# The same target directory as the working tree: only this crate is rebuilt.
(cd "$WORK/base" && CARGO_TARGET_DIR="$ROOT/target" \
    cargo pgrx install --release --pg-config "$PG_CONFIG" >"$WORK/base-build.log" 2>&1) ||
    { tail -20 "$WORK/base-build.log"; die "building $BASE failed"; }
git -C "$ROOT" worktree remove --force "$WORK/base"
log "building the working tree"
# The worktree shared the target directory: make cargo rebuild this tree.
(cd "$ROOT" && cargo clean --release -p loyalty_ext >/dev/null 2>&1 &&
    cargo pgrx install --release --pg-config "$PG_CONFIG" >"$WORK/head-build.log" 2>&1) ||
    { tail -20 "$WORK/head-build.log"; die "building the working tree failed"; }

start_cluster ab "$PORT" "shared_buffers = '512MB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
max_connections = 200"
trap 'stop_cluster ab' EXIT

for db in ab_base ab_head; do
    version=$SIDE_VERSION
    [ "$db" = ab_head ] && version=$(psql_at "$PORT" postgres -qAt -c \
        "SELECT default_version FROM pg_available_extensions WHERE name = 'loyalty_ext'")
    psql_at "$PORT" postgres -q -c "CREATE DATABASE $db"
    psql_at "$PORT" "$db" -q <<SQL
CREATE EXTENSION loyalty_ext VERSION '$version';
CREATE SCHEMA bench;
CREATE FUNCTION bench.pid(n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS \$\$ SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid \$\$;
ALTER DATABASE $db SET loyalty.manual_reward_rate_limit = 2000000000;
ALTER DATABASE $db SET loyalty.manual_reward_points_limit = 2000000000;
ALTER DATABASE $db SET loyalty.role_manual_reward_rate_limit = 2000000000;
ALTER DATABASE $db SET loyalty.role_manual_reward_points_limit = 2000000000;
ALTER DATABASE $db SET loyalty.manual_reward_rate_window = 1;
INSERT INTO loyalty.player_loyalty (player_id, tier) SELECT bench.pid(g), 'BRONZE' FROM generate_series(1, 100000) g;
SELECT count(*) FROM generate_series(1, 10000) g,
       LATERAL loyalty.increment_player_loyalty(bench.pid(g), 10, 'PROMOTION', 'replay-' || g);
INSERT INTO loyalty.staff_permission (staff_id, capabilities)
SELECT bench.pid(900000 + g), ARRAY['loyalty:award'] FROM generate_series(0, 64) g;
SQL
    { python3 "$ROOT/bench/tokens.py"; echo "VACUUM ANALYZE;"; } | psql_at "$PORT" "$db" -q
done

CSV="$WORK/runs.csv"
echo "workload,variant,round,tps" >"$CSV"
RUN_NO=0
for workload in uniform replay reward slip; do
    for round in $(seq 1 "$ROUNDS"); do
        for variant in base head; do
            RUN_NO=$((RUN_NO + 1))
            tps=$(/usr/lib/postgresql/15/bin/pgbench -n -M prepared -h 127.0.0.1 -p "$PORT" -U postgres \
                -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -D run="$RUN_NO" \
                -f "$ROOT/bench/sql/${workload}_ext.sql" "ab_$variant" 2>&1 |
                awk '/^tps = / {print $3}')
            [ -n "$tps" ] || die "pgbench failed: $workload $variant"
            echo "$workload,$variant,$round,$tps" | tee -a "$CSV"
        done
    done
done

python3 - "$CSV" "$BASE" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"\nmedian tps, {sys.argv[2]} (base) vs working tree (head), same run:")
print("| workload | base | head | head/base |")
print("|---|---|---|---|")
for w in dict.fromkeys(r["workload"] for r in rows):
    med = {v: statistics.median(float(r["tps"]) for r in rows if r["workload"] == w and r["variant"] == v)
           for v in ("base", "head")}
    print(f"| {w} | {med['base']:.0f} | {med['head']:.0f} | {med['head'] / med['base']:.3f} |")
PY
