#!/usr/bin/env bash
# Every test layer: Rust unit/property tests, pg_regress, isolation specs and integration
# tests over real connections, against a throwaway cluster.
#   scripts/test.sh            the CI-sized run
#   LOYALTY_LONG=1 scripts/test.sh   the long reliability runs (60 s stress,
#                                    10 crashes, 512 model cases, 42,000 fuzz calls)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT="${LOYALTY_TEST_PORT:-55433}"
failed=()

setup_all

log "layer 1: Rust unit and property tests (no server)"
(cd "$ROOT" && cargo test --lib) || failed+=("unit")

# The functional core stays pure: no pgrx, no settings, no shell module
# (comment lines are not code).
impure=$(awk '!/^[[:space:]]*\/\// && (/(^|[^a-z_])pgrx([^a-z_]|$)/ || /gucs/ || (/crate::[a-z_]+/ && !/crate::domain/)) \
              { print FILENAME ":" FNR ": " $0 }' "$ROOT"/src/domain/*.rs)
if [ -n "$impure" ]; then
    echo "src/domain must not depend on pgrx, the settings or the shell:" >&2
    echo "$impure" >&2
    failed+=("pure core")
fi

log "layer 1b: the Debian package (scripts/package.sh), checked and installed with dpkg -i"
DEB=$("$ROOT/scripts/package.sh") && "$ROOT/tests/package/check.sh" "$DEB" || failed+=("package")

log "layer 1c: upgrades from every released version (tests/upgrade/run.sh)"
if [ -n "${DEB:-}" ] && [ -f "$DEB" ]; then
    "$ROOT/tests/upgrade/run.sh" "$DEB" || failed+=("upgrade")
    # Whatever the upgrade test left installed, the later layers test the package.
    dpkg -i "$DEB" >/dev/null
else
    failed+=("upgrade (no package)")
fi

log "starting a throwaway test cluster"
start_cluster test "$PORT"
trap 'stop_cluster test' EXIT

# suite NAME RUNNER DIR INPUTS EXT DB: run pg_regress or pg_isolation_regress
# over DIR/INPUTS/*.EXT against the test cluster; a test without an
# expected output in DIR/expected fails the run.
suite() {
    local name=$1 runner=$2 dir=$3 inputs=$4 ext=$5 db=$6 out="$LOYALTY_BASE/$1"
    local f b tests
    for f in "$dir/$inputs"/*."$ext"; do
        b=$(basename "$f" ."$ext")
        if [ ! -f "$dir/expected/$b.out" ]; then
            echo "$name test '$b' has no expected output" >&2
            failed+=("$name expected files")
        fi
    done
    tests=$(cd "$dir/$inputs" && ls *."$ext" | sed "s/\\.$ext\$//" | sort)
    rm -rf "$out" && mkdir -p "$out"
    if ! "$runner" --inputdir="$dir" --outputdir="$out" \
            --bindir="$PG_BIN" --host=127.0.0.1 --port="$PORT" --user=postgres \
            --dbname="$db" $tests; then
        [ -f "$out/regression.diffs" ] && head -200 "$out/regression.diffs"
        failed+=("$name")
    fi
}

PGXS_TEST=/usr/lib/postgresql/15/lib/pgxs/src/test
log "layer 2: pg_regress (tests/pg_regress)"
suite pg_regress "$PGXS_TEST/regress/pg_regress" "$ROOT/tests/pg_regress" sql sql loyalty_regress

log "layer 2b: isolation specs (tests/isolation, pg_isolation_regress)"
suite isolation "$PGXS_TEST/isolation/pg_isolation_regress" "$ROOT/tests/isolation" specs spec loyalty_isolation

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
