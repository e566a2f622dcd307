-- loyalty_ext 0.1.0 -> 0.2.0
--
-- Hand-written; tests/upgrade/run.sh proves it: a database filled through
-- 0.1.0 and updated with this script keeps every row, passes drift_check(),
-- and has the same catalog as a fresh CREATE EXTENSION of 0.2.0.  Steps are
-- added here by every change of 0.2.0, in the order they were made; the
-- library re-pointing stays last.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION loyalty_ext UPDATE TO '0.2.0'" to load this file. \quit

-- Issue 12: one source for each rule.
-- What the ledger adds up to per player, defined once: drift_check and
-- reconcile_player both read this view.
CREATE VIEW loyalty.ledger_totals AS
SELECT l.player_id,
       sum(l.points_change)::bigint                                            AS balance,
       coalesce(sum(l.points_change) FILTER (WHERE l.points_change > 0), 0)::bigint AS lifetime_points,
       count(*)                                                                AS entries
  FROM loyalty.loyalty_ledger l
 GROUP BY l.player_id;
COMMENT ON VIEW loyalty.ledger_totals IS
    'Per player, what the ledger adds up to: balance (sum of changes), lifetime_points (sum of gains), entries; loyalty.player_loyalty must equal it.';
REVOKE ALL ON loyalty.ledger_totals FROM PUBLIC;

-- The tier a new player starts in, decided by the tier ladder in Rust; a
-- C function so that balance_at asks the same code as the write path.
CREATE FUNCTION loyalty.base_tier() RETURNS text
    STABLE STRICT SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'base_tier_wrapper';
COMMENT ON FUNCTION loyalty.base_tier() IS
    'The lowest tier of loyalty.tier (threshold 0): where a new player starts, and the tier balance_at reports before a player''s first entry.';
REVOKE ALL ON FUNCTION loyalty.base_tier() FROM PUBLIC;

-- drift_check reads the totals from the view; balance_at asks base_tier.
-- (Same text as sql/audit.sql: the upgrade test compares function bodies.)
CREATE OR REPLACE FUNCTION loyalty.drift_check()
RETURNS TABLE (problem text, player_id uuid, ledger_id bigint, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH sums AS (
        SELECT t.player_id, t.balance AS total, t.lifetime_points AS gained
          FROM loyalty.ledger_totals t
    ), chain AS (
        SELECT l.id, l.player_id, l.balance_before, l.balance_after, l.points_change,
               lag(l.balance_after) OVER (PARTITION BY l.player_id ORDER BY l.id) AS previous_after
          FROM loyalty.loyalty_ledger l
    )
    SELECT 'balance_mismatch', p.player_id, NULL::bigint,
           format('current_balance=%s, ledger_sum=%s', p.current_balance, coalesce(s.total, 0))
      FROM loyalty.player_loyalty p LEFT JOIN sums s USING (player_id)
     WHERE p.current_balance <> coalesce(s.total, 0)
    UNION ALL
    SELECT 'lifetime_mismatch', p.player_id, NULL,
           format('lifetime_points=%s, ledger_gains=%s', p.lifetime_points, coalesce(s.gained, 0))
      FROM loyalty.player_loyalty p LEFT JOIN sums s USING (player_id)
     WHERE p.lifetime_points <> coalesce(s.gained, 0)
    UNION ALL
    SELECT 'missing_player', s.player_id, NULL, format('ledger_sum=%s', s.total)
      FROM sums s
     WHERE NOT EXISTS (SELECT 1 FROM loyalty.player_loyalty p WHERE p.player_id = s.player_id)
    UNION ALL
    SELECT 'broken_chain', c.player_id, c.id,
           format('balance_before=%s, previous_balance_after=%s', c.balance_before, coalesce(c.previous_after, 0))
      FROM chain c
     WHERE c.balance_before <> coalesce(c.previous_after, 0)
    UNION ALL
    SELECT 'bad_arithmetic', c.player_id, c.id,
           format('balance_before=%s, points_change=%s, balance_after=%s', c.balance_before, c.points_change, c.balance_after)
      FROM chain c
     WHERE c.balance_after <> c.balance_before + c.points_change
    UNION ALL
    SELECT 'duplicate_key', NULL, min(l.id),
           format('idempotency_key=%s, rows=%s', l.idempotency_key, count(*))
      FROM loyalty.loyalty_ledger l
     GROUP BY l.idempotency_key
    HAVING count(*) > 1
$$;
CREATE OR REPLACE FUNCTION loyalty.balance_at(p_player_id uuid, p_at timestamptz)
RETURNS TABLE (balance bigint, tier text, lifetime_points bigint, last_ledger_id bigint, as_of timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(l.balance_after, 0),
           coalesce(l.tier_after, loyalty.base_tier()),
           coalesce(l.lifetime_points_after, 0),
           l.id,
           p_at
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (
            SELECT x.* FROM loyalty.loyalty_ledger x
             WHERE x.player_id = p_player_id AND x.created_at <= p_at
             ORDER BY x.id DESC LIMIT 1) AS l ON true
$$;

-- Each release has its own shared library (loyalty_ext-X.Y.Z.so; 0.1.0's is
-- loyalty_ext.so), so that a function always calls the code of the release
-- that defined it: a backend that loaded 0.1.0's library before this update
-- loads 0.2.0's beside it for the new definitions, and a database not yet
-- updated keeps calling 0.1.0's.  Here every C function of the extension
-- still bound to another library is re-created, as it stands, on 0.2.0's:
-- pg_get_functiondef gives its exact signature, defaults and attributes,
-- and CREATE OR REPLACE keeps its oid, comment and grants.  Functions whose
-- definition changes in 0.2.0 are re-created above with it instead.
DO $repoint$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid, p.probin
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_depend d
            ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'loyalty_ext'
          JOIN pg_catalog.pg_language l ON l.oid = p.prolang AND l.lanname = 'c'
         WHERE p.probin IS DISTINCT FROM 'loyalty_ext-0.2.0'
    LOOP
        EXECUTE pg_catalog.replace(pg_catalog.pg_get_functiondef(f.oid),
                                   'AS ' || pg_catalog.quote_literal(f.probin) || ', ',
                                   'AS ' || pg_catalog.quote_literal('loyalty_ext-0.2.0') || ', ');
    END LOOP;
    IF EXISTS (SELECT 1
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang AND l.lanname = 'c'
                WHERE p.pronamespace = 'loyalty'::pg_catalog.regnamespace
                  AND p.probin IS DISTINCT FROM 'loyalty_ext-0.2.0') THEN
        RAISE EXCEPTION 'loyalty_ext 0.2.0 upgrade: a C function is still bound to another library';
    END IF;
END
$repoint$;
