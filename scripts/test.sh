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
BOUNCER_PORT="${LOYALTY_TEST_PGBOUNCER_PORT:-55435}"
start_pgbouncer bouncer "$BOUNCER_PORT" "$PORT" postgres loyalty_pooled_app
# tests/failover.rs and tests/router.rs start clusters of their own
# (ha_*, router, node0-2): stop whatever they left running.
trap 'stop_pgbouncer bouncer; stop_cluster test
      for c in router node0 node1 node2 ha_sync_primary ha_sync_standby ha_reads_primary ha_replay_primary ha_replay_standby \
               ha_reads_standby ha_async_primary ha_async_standby; do stop_cluster "$c"; done' EXIT

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
log "layer 1d: loyalty_router matches loyalty_ext's catalog (router/generate.py --check)"
psql_at "$PORT" postgres -qc "DROP DATABASE IF EXISTS loyalty_router_check" -c "CREATE DATABASE loyalty_router_check"
psql_at "$PORT" loyalty_router_check -qc "CREATE EXTENSION loyalty_ext"
"$ROOT/router/generate.py" --check -h 127.0.0.1 -p "$PORT" -U postgres -d loyalty_router_check || failed+=("router drift")

log "layer 2: pg_regress (tests/pg_regress)"
suite pg_regress "$PGXS_TEST/regress/pg_regress" "$ROOT/tests/pg_regress" sql sql loyalty_regress

log "layer 2b: isolation specs (tests/isolation, pg_isolation_regress)"
suite isolation "$PGXS_TEST/isolation/pg_isolation_regress" "$ROOT/tests/isolation" specs spec loyalty_isolation

log "layer 3: integration tests over real connections"
if ! (cd "$ROOT" && LOYALTY_TEST_PG="host=127.0.0.1 port=$PORT user=postgres" \
        LOYALTY_TEST_PGDATA="$LOYALTY_BASE/test/data" \
        LOYALTY_TEST_PGBOUNCER="host=127.0.0.1 port=$BOUNCER_PORT" \
        cargo test --no-fail-fast --test '*' -- --test-threads=1 --nocapture); then
    failed+=("integration")
fi

log "layer 3c: the Python client (clients/python) through PgBouncer in transaction mode"
if ensure_python_client; then
    (cd "$ROOT/clients/python" && PYTHONPATH="$ROOT/clients/python" LOYALTY_TEST_PG="host=127.0.0.1 port=$PORT user=postgres" \
        LOYALTY_TEST_PGBOUNCER="host=127.0.0.1 port=$BOUNCER_PORT" \
        "$PY_VENV/bin/python" -m pytest -q -p no:cacheprovider tests) || failed+=("python client")
else
    failed+=("python client (set-up)")
fi

log "layer 3d: the TypeScript client (clients/typescript) through PgBouncer in transaction mode"
if ensure_typescript_client; then
    (cd "$ROOT/clients/typescript" && npx tsc -p . && LOYALTY_TEST_PG="host=127.0.0.1 port=$PORT user=postgres" \
        LOYALTY_TEST_PGBOUNCER="host=127.0.0.1 port=$BOUNCER_PORT" node --test dist/test/) \
        || failed+=("typescript client")
else
    failed+=("typescript client (set-up)")
fi

# The attack layer can fail: against the first release (0.1.0, installed by
# the package beside the current version, with the grants its README gave)
# every attack must still succeed, so every attack test must fail.
log "layer 3b: the attack layer against 0.1.0 (every attack test must fail there)"
first_release=$(released_versions | head -1)
git -C "$ROOT" show "$(released_commit "$first_release"):README.md" >"$LOYALTY_BASE/README-$first_release.md"
attack_out=$(cd "$ROOT" && LOYALTY_TEST_PG="host=127.0.0.1 port=$PORT user=postgres" \
        LOYALTY_TEST_PGDATA="$LOYALTY_BASE/test/data" LOYALTY_TEST_EXTVERSION="$first_release" \
        LOYALTY_TEST_README="$LOYALTY_BASE/README-$first_release.md" \
        cargo test --test attacks -- --test-threads=1 2>&1) || true
attacks=$(grep -B1 '^fn ' "$ROOT/tests/attacks.rs" | grep -c '#\[test\]')
# Each attack is expected to succeed against the old release, so its test
# fails there; say so in words that do not read as a failing test.
echo "$attack_out" | sed -nE 's/^test (.*) \.\.\. FAILED$/  attack works against '"$first_release"' (as expected): \1/p;
                              s/^test (.*) \.\.\. ok$/  ATTACK DOES NOT WORK against '"$first_release"': \1/p'
if ! echo "$attack_out" | grep -q "test result: FAILED. 0 passed; $attacks failed"; then
    echo "an attack test passed against $first_release: it proves nothing" >&2
    failed+=("attacks against $first_release")
fi

if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all test layers passed"
