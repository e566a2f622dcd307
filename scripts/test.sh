#!/usr/bin/env bash
# Every test layer: Rust unit/property tests, pg_regress, isolation specs and integration
# tests over real connections, against a throwaway cluster.
#   scripts/test.sh            the CI-sized run
#   LOYALTY_LONG=1 scripts/test.sh   the long reliability runs (60 s stress,
#                                    10 crashes, 512 model cases, 42,000 fuzz calls)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT="${LOYALTY_TEST_PORT:-55433}"
REGRESS="$LOYALTY_BASE/regress"
failed=()

setup_all

log "layer 1: Rust unit and property tests (no server)"
(cd "$ROOT" && cargo test --lib) || failed+=("unit")

log "starting a throwaway test cluster"
start_cluster test "$PORT"
trap 'stop_cluster test' EXIT

log "layer 2: pg_regress (tests/pg_regress)"
missing=0
for f in "$ROOT"/tests/pg_regress/sql/*.sql; do
    b=$(basename "$f" .sql)
    if [ ! -f "$ROOT/tests/pg_regress/expected/$b.out" ]; then
        echo "pg_regress test '$b' has no expected output" >&2
        missing=1
    fi
done
[ $missing = 0 ] || failed+=("pg_regress expected files")
tests=$(cd "$ROOT/tests/pg_regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
rm -rf "$REGRESS" && mkdir -p "$REGRESS"
if ! /usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
        --inputdir="$ROOT/tests/pg_regress" --outputdir="$REGRESS" \
        --bindir="$PG_BIN" --host=127.0.0.1 --port="$PORT" --user=postgres \
        --dbname=loyalty_regress $tests; then
    [ -f "$REGRESS/regression.diffs" ] && head -200 "$REGRESS/regression.diffs"
    failed+=("pg_regress")
fi

log "layer 2b: isolation specs (tests/isolation, pg_isolation_regress)"
ISO="$LOYALTY_BASE/isolation"
for f in "$ROOT"/tests/isolation/specs/*.spec; do
    b=$(basename "$f" .spec)
    if [ ! -f "$ROOT/tests/isolation/expected/$b.out" ]; then
        echo "isolation spec '$b' has no expected output" >&2
        failed+=("isolation expected files")
    fi
done
specs=$(cd "$ROOT/tests/isolation/specs" && ls *.spec | sed 's/\.spec$//' | sort)
rm -rf "$ISO" && mkdir -p "$ISO"
if ! /usr/lib/postgresql/15/lib/pgxs/src/test/isolation/pg_isolation_regress \
        --inputdir="$ROOT/tests/isolation" --outputdir="$ISO" \
        --bindir="$PG_BIN" --host=127.0.0.1 --port="$PORT" --user=postgres \
        --dbname=loyalty_isolation $specs; then
    [ -f "$ISO/regression.diffs" ] && head -200 "$ISO/regression.diffs"
    failed+=("isolation")
fi

log "layer 3: integration tests over real connections"
if ! (cd "$ROOT" && LOYALTY_TEST_PG="host=127.0.0.1 port=$PORT user=postgres" \
        LOYALTY_TEST_PGDATA="$LOYALTY_BASE/test/data" \
        cargo test --no-fail-fast --test '*' -- --test-threads=1 --nocapture); then
    failed+=("integration")
fi

if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all test layers passed"
