#!/usr/bin/env bash
# The upgrade test (SPEC section 13).  For every released version FROM in
# sql/RELEASES, on a throwaway cluster of its own:
#   1. build FROM from its recorded commit and install it;
#   2. fill a database through its API (tests/upgrade/fill.sql), keep a
#      pg_dump of it, and open a session that uses FROM's library;
#   3. install the current version from the Debian package given as $1 and
#      call the old definitions in that window, from the old session and
#      from a new one;
#   4. ALTER EXTENSION loyalty_ext UPDATE, then check: every row kept,
#      drift_check() empty, the catalog equal to a fresh CREATE EXTENSION,
#      the DBA's grants still in force, the old session still working (with
#      both libraries loaded), recovery and new writes on old data
#      (tests/upgrade/after.sql), the pg_regress suite on an upgraded
#      database, the pg_dump restored into the current version, and a
#      rolled-back update that leaves no crash behind.
# Exits non-zero on the first failed check, after printing what differs.
#   tests/upgrade/run.sh target/debian/postgresql-15-loyalty-ext_X-1_amd64.deb
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"

DEB=${1:?usage: tests/upgrade/run.sh PACKAGE.deb}
PORT="${LOYALTY_UPGRADE_PORT:-55434}"
HERE="$ROOT/tests/upgrade"
CURRENT=$(current_version)
WORK="$LOYALTY_BASE/upgrade-work"
PGXS_TEST=/usr/lib/postgresql/15/lib/pgxs/src/test

die() {
    echo "UPGRADE TEST FAILED: $*" >&2
    exit 1
}
# q DB SQL: one query, unaligned tuples.
q() { psql_at "$PORT" "$1" -qAt -c "$2"; }
# expect_equal WHAT EXPECTED ACTUAL
expect_equal() {
    [ "$2" = "$3" ] || die "$1: expected '$2', got '$3'"
}
# expect_output NAME DB: runs $HERE/NAME.sql on DB and compares its output
# with $HERE/expected/NAME.out (psql echoes the statements, as pg_regress does).
expect_output() {
    local name=$1 db=$2 out="$WORK/$1.out"
    # From its own folder, so that psql's error prefixes name the file, not
    # where the checkout happens to be.
    (cd "$HERE" && psql_at "$PORT" "$db" -a -q -f "$name.sql") >"$out" 2>&1 ||
        { cat "$out" >&2; die "$name.sql failed on $db"; }
    diff -u "$HERE/expected/$name.out" "$out" >"$WORK/$name.diff" ||
        { cat "$WORK/$name.diff" >&2; die "$name.sql output differs from tests/upgrade/expected/$name.out"; }
}

# --- a session that stays connected across the upgrade --------------------
# psql reads from a FIFO kept open on fd 7; session_run sends SQL followed by
# a marker and waits for the marker in the output.
session_start() {
    local db=$1
    rm -f "$WORK/session.in" && mkfifo "$WORK/session.in"
    : >"$WORK/session.out"
    stdbuf -oL -eL "$PG_BIN/psql" -X -qAt -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" \
        <"$WORK/session.in" >>"$WORK/session.out" 2>&1 &
    SESSION_PID=$!
    exec 7>"$WORK/session.in"
    SESSION_SEQ=0
}
# session_run SQL: leaves what the session printed for SQL in $SESSION_OUT
# (not printed: a $(...) subshell would lose the sequence number); fails on
# ERROR.
session_run() {
    SESSION_SEQ=$((SESSION_SEQ + 1))
    local mark="__session_done_$SESSION_SEQ" start
    start=$(wc -l <"$WORK/session.out")
    printf '%s\n\\echo %s\n' "$1" "$mark" >&7
    for _ in $(seq 1 600); do
        grep -qx "$mark" "$WORK/session.out" && break
        sleep 0.1
    done
    grep -qx "$mark" "$WORK/session.out" || die "the old session did not answer: $1"
    SESSION_OUT=$(tail -n +"$((start + 1))" "$WORK/session.out" | grep -vx "$mark" || true)
    if grep -q 'ERROR' <<<"$SESSION_OUT"; then
        die "the old session failed on: $1
$SESSION_OUT"
    fi
}
session_stop() {
    exec 7>&-
    wait "$SESSION_PID" 2>/dev/null || true
}

# --- rows ------------------------------------------------------------------
# table_columns DB: "table<TAB>col, col, ..." for every table of the schema.
table_columns() {
    q "$1" "SELECT c.oid::regclass, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
              FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind = 'r'
             GROUP BY c.oid ORDER BY 1" | tr '|' '\t'
}
# digest DB COLUMNS_FILE: row count and md5 of every table's rows, reading
# only the columns listed (those of the old version).
digest() {
    local db=$1 table cols
    while IFS=$'\t' read -r table cols; do
        printf '%s %s\n' "$table" "$(q "$db" "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text COLLATE \"C\")), '-')
                                             FROM (SELECT $cols FROM $table) t")"
    done <"$2"
}

# explicit_grants DB: "role function-name" for each function EXECUTE granted
# to a role other than the owner (what a DBA granted).
explicit_grants() {
    q "$1" "SELECT DISTINCT x.grantee::regrole || ' ' || p.proname
              FROM pg_proc p, aclexplode(p.proacl) x
             WHERE p.pronamespace = 'loyalty'::regnamespace AND x.grantee NOT IN (0, p.proowner)
             ORDER BY 1"
}
# granted_on_every_overload DB: the same, but only where every function of
# that name (every signature) carries the grant.
granted_on_every_overload() {
    q "$1" "SELECT r.rolname || ' ' || p.proname
              FROM pg_proc p CROSS JOIN pg_roles r
             WHERE p.pronamespace = 'loyalty'::regnamespace AND r.rolname IN ('loyalty_app', 'loyalty_auditor', 'loyalty_admin')
             GROUP BY r.rolname, p.proname
            HAVING bool_and(EXISTS (SELECT 1 FROM aclexplode(p.proacl) x WHERE x.grantee = r.oid
                                                                       AND x.privilege_type = 'EXECUTE'))
             ORDER BY 1"
}

# --- the checks of one upgrade path ----------------------------------------
upgrade_from() {
    local from=$1 tree pid
    log "upgrade test: $from -> $CURRENT"
    rm -rf "$WORK" && mkdir -p "$WORK" && chown postgres "$WORK"

    # 1. The old version, exactly as released, on a machine without the
    #    current one.
    tree=$(build_released "$from")
    dpkg -r postgresql-15-loyalty-ext >/dev/null 2>&1 || true
    rm -f "$("$PG_CONFIG" --pkglibdir)"/loyalty_ext*.so "$("$PG_CONFIG" --sharedir)"/extension/loyalty_ext*
    install_tree "$tree"
    # Its frozen install script is what the release generated (with
    # MODULE_PATHNAME resolved to the library it was released with).
    local libpath
    libpath=$(sed -n "s/^module_pathname = '\(.*\)'$/\1/p" "$tree"/usr/share/postgresql/15/extension/loyalty_ext.control)
    sed "s|MODULE_PATHNAME|$libpath|g" "$tree/usr/share/postgresql/15/extension/loyalty_ext--$from.sql" |
        diff -u "$ROOT/sql/loyalty_ext--$from.sql" - >"$WORK/frozen.diff" ||
        { head -50 "$WORK/frozen.diff" >&2; die "sql/loyalty_ext--$from.sql is not the script $from was released with"; }

    start_cluster upgrade "$PORT" >/dev/null
    trap 'stop_cluster upgrade' RETURN
    for db in up_data loyalty_regress up_rollback; do
        q postgres "CREATE DATABASE $db"
        q "$db" "CREATE EXTENSION loyalty_ext"
        expect_equal "version created in $db" "$from" "$(q "$db" "SELECT extversion FROM pg_extension WHERE extname = 'loyalty_ext'")"
    done

    # 2. Data written by the old version, a dump of it, and a session using it.
    expect_output fill up_data
    # (pg_dump warns that the ledger references itself, reversals naming the
    # entries they cancel; a full restore handles that.)
    runuser -u postgres -- "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U postgres -Fc -f "$WORK/up_data.dump" \
        up_data 2>"$WORK/pg_dump.err" || { cat "$WORK/pg_dump.err" >&2; die "pg_dump on $from"; }
    table_columns up_data >"$WORK/columns"
    digest up_data "$WORK/columns" >"$WORK/dump.digest"
    explicit_grants up_data >"$WORK/grants.before"
    session_start up_data
    session_run "SELECT pg_backend_pid();"
    pid=$SESSION_OUT
    session_run "SET loyalty.correlation_id = 'old-session';
                 SET loyalty.max_manual_reward = 20000;
                 SET loyalty.manual_reward_rate_limit = 1000;
                 SELECT balance_after FROM loyalty.manual_reward('0b000000-0000-0000-0001-000000000020',
                        '0b000000-0000-0000-0000-00000000005b', 111, 'old session before the new package');"

    # 3. The window: the current version installed, the database not updated.
    log "installing the current version from $DEB"
    dpkg -i "$DEB" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; die "dpkg -i $DEB"; }
    expect_equal "default version after installing the package" "$CURRENT" \
        "$(q up_data "SELECT default_version FROM pg_available_extensions WHERE name = 'loyalty_ext'")"
    session_run "SELECT balance_after FROM loyalty.manual_reward('0b000000-0000-0000-0001-000000000020',
                        '0b000000-0000-0000-0000-00000000005b', 112, 'old session in the window');"
    q up_data "SET loyalty.manual_reward_rate_limit = 1000;
               SELECT balance_after FROM loyalty.manual_reward('0b000000-0000-0000-0001-000000000021',
                      '0b000000-0000-0000-0000-00000000005b', 113, 'new session in the window')" >/dev/null ||
        die "a new session could not call the old definitions in the window"

    # 4. The update.
    table_columns up_data >"$WORK/columns"
    digest up_data "$WORK/columns" >"$WORK/before.digest"
    log "ALTER EXTENSION loyalty_ext UPDATE"
    for db in up_data loyalty_regress; do
        q "$db" "ALTER EXTENSION loyalty_ext UPDATE"
        expect_equal "version after the update of $db" "$CURRENT" \
            "$(q "$db" "SELECT extversion FROM pg_extension WHERE extname = 'loyalty_ext'")"
    done

    # Every row kept, nothing drifted.
    digest up_data "$WORK/columns" >"$WORK/after.digest"
    diff -u "$WORK/before.digest" "$WORK/after.digest" || die "rows changed by the update"
    expect_equal "drift_check() after the update" "0" "$(q up_data "SELECT count(*) FROM loyalty.drift_check()")"

    # The catalog equals a fresh install of the current version.
    q postgres "CREATE DATABASE up_fresh"
    q up_fresh "CREATE EXTENSION loyalty_ext"
    for db in up_fresh up_data loyalty_regress; do
        psql_at "$PORT" "$db" -q -f "$HERE/catalog.sql" >"$WORK/$db.catalog"
    done
    [ "$(wc -l <"$WORK/up_fresh.catalog")" -gt 100 ] || die "the catalog listing is implausibly short"
    for db in up_data loyalty_regress; do
        diff -u "$WORK/up_fresh.catalog" "$WORK/$db.catalog" >"$WORK/$db.catalog.diff" ||
            { cat "$WORK/$db.catalog.diff" >&2; die "the catalog of upgraded $db differs from a fresh install (- fresh, + upgraded)"; }
    done

    # The DBA's grants hold, on every signature of each granted function.
    granted_on_every_overload up_data >"$WORK/grants.after"
    if [ -n "$(comm -23 "$WORK/grants.before" "$WORK/grants.after")" ]; then
        comm -23 "$WORK/grants.before" "$WORK/grants.after" >&2
        die "grants made on $from are missing after the update (role function)"
    fi

    # The session that used the old library keeps working: the current
    # library is loaded beside the old one and reads the settings it set.
    session_run "SELECT correlation_id || ' ' || (balance_after - balance_before)
                   FROM loyalty.manual_reward('0b000000-0000-0000-0001-000000000020',
                        '0b000000-0000-0000-0000-00000000005b', 15000, 'old session after the update');"
    expect_equal "old session after the update (correlation id and points, max_manual_reward 20000)" \
        "old-session 15000" "$SESSION_OUT"
    grep -q "/loyalty_ext-$CURRENT.so" "/proc/$pid/maps" ||
        die "the old session did not load the current library"
    session_stop

    # Recovery, replays, reversals and new writes on the old data, through
    # the roles the DBA made on the old version.
    expect_output after up_data

    # A dump taken on the old version restores into the current one, two
    # ways (README, "Upgrading"):
    # - into the old version, then updated: everything, grants included;
    # - straight into the current version, without the dump's grants (some
    #   name functions whose signature changed); the DBA grants again.
    q postgres "CREATE DATABASE up_restore"
    q up_restore "CREATE EXTENSION loyalty_ext VERSION '$from'"
    # (The one error allowed: CREATE EXTENSION made the schema already.)
    runuser -u postgres -- "$PG_BIN/pg_restore" -h 127.0.0.1 -p "$PORT" -U postgres -d up_restore \
        "$WORK/up_data.dump" 2>"$WORK/restore.err" || true
    if grep 'ERROR' "$WORK/restore.err" | grep -qv 'schema "loyalty" already exists'; then
        cat "$WORK/restore.err" >&2
        die "restoring the dump into $from"
    fi
    q up_restore "ALTER EXTENSION loyalty_ext UPDATE"
    q postgres "CREATE DATABASE up_restore_direct"
    runuser -u postgres -- "$PG_BIN/pg_restore" -h 127.0.0.1 -p "$PORT" -U postgres -d up_restore_direct \
        --exit-on-error --no-acl "$WORK/up_data.dump"
    explicit_grants up_restore >"$WORK/grants.restored"
    if [ -n "$(comm -23 "$WORK/grants.before" "$WORK/grants.restored")" ]; then
        comm -23 "$WORK/grants.before" "$WORK/grants.restored" >&2
        die "grants of the dump are missing after restoring into $from and updating"
    fi
    for db in up_restore up_restore_direct; do
        expect_equal "version of $db" "$CURRENT" \
            "$(q "$db" "SELECT extversion FROM pg_extension WHERE extname = 'loyalty_ext'")"
        # Compared on the old version's columns.
        digest "$db" "$WORK/columns" >"$WORK/$db.digest"
        diff -u "$WORK/dump.digest" "$WORK/$db.digest" || die "the rows restored into $db differ from the dump"
        expect_equal "drift_check() after the restore into $db" "0" \
            "$(q "$db" "SELECT count(*) FROM loyalty.drift_check()")"
        expect_equal "a write after the restore into $db" "t" \
            "$(q "$db" "SET loyalty.manual_reward_rate_limit = 1000;
                        SELECT balance_after = balance_before + 10 FROM loyalty.manual_reward(
                               '0b000000-0000-0000-0001-000000000022', '0b000000-0000-0000-0000-00000000005b',
                               10, 'first reward after the restore')")"
    done

    # The pg_regress suite on a database created by the old version and
    # updated (named as the suite expects: 06_audit reconnects to it).  Its
    # roles are the README's, so the ones made here go first.
    for db in up_data up_restore up_restore_direct; do
        q "$db" "DROP OWNED BY loyalty_app, loyalty_auditor, loyalty_admin"
    done
    q postgres "DROP ROLE loyalty_app, loyalty_auditor, loyalty_admin"
    local tests
    tests=$(cd "$ROOT/tests/pg_regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
    "$PGXS_TEST/regress/pg_regress" --inputdir="$ROOT/tests/pg_regress" --outputdir="$WORK/regress" \
        --bindir="$PG_BIN" --host=127.0.0.1 --port="$PORT" --user=postgres \
        --use-existing --dbname=loyalty_regress $tests ||
        { head -100 "$WORK/regress/regression.diffs" >&2; die "pg_regress on the upgraded database"; }

    # An update rolled back after the new library was loaded: the old
    # library then cannot define the settings again in that session.  A
    # clear error, never a crash; a new session works.
    local out
    out=$(psql_at "$PORT" up_rollback -qAt -v ON_ERROR_STOP=0 2>&1 <<SQL
BEGIN;
ALTER EXTENSION loyalty_ext UPDATE;
SELECT loyalty.gaming_day('2026-06-01 12:00+00');
ROLLBACK;
SELECT loyalty.gaming_day('2026-06-01 12:00+00');
SQL
)
    grep -q 'terminat\|server closed the connection' <<<"$out" && die "rolled-back update: $out"
    echo "a rolled-back update, then the old definitions in the same session: $(tail -1 <<<"$out")"
    expect_equal "version after the rolled-back update" "$from" \
        "$(q up_rollback "SELECT extversion FROM pg_extension WHERE extname = 'loyalty_ext'")"
    expect_equal "a new session after the rolled-back update" "2026-06-01" \
        "$(q up_rollback "SELECT loyalty.gaming_day('2026-06-01 12:00+00')")"
    if grep -q 'terminated by signal' "$LOYALTY_BASE/upgrade/server.log"; then
        grep 'terminated by signal' "$LOYALTY_BASE/upgrade/server.log" >&2
        die "a backend crashed during the upgrade test"
    fi
    log "upgrade $from -> $CURRENT: all checks passed"
}

[ -f "$DEB" ] || die "no package at $DEB (scripts/package.sh builds it)"
for from in $(released_versions); do
    [ "$from" = "$CURRENT" ] && continue
    upgrade_from "$from"
done
