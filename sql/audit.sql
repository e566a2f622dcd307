-- Audit checks in plain SQL (SQL is clearer than Rust for set logic).

-- Every invariant of SPEC section 2, as rows describing what is wrong.
-- Returns nothing on a healthy database; tests run it after every scenario.
CREATE FUNCTION loyalty.drift_check()
RETURNS TABLE (problem text, player_id uuid, ledger_id bigint, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH sums AS (
        SELECT l.player_id,
               sum(l.points_change)                                   AS total,
               coalesce(sum(l.points_change) FILTER (WHERE l.points_change > 0), 0) AS gained
          FROM loyalty.loyalty_ledger l
         GROUP BY l.player_id
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
REVOKE ALL ON FUNCTION loyalty.drift_check() FROM PUBLIC;
COMMENT ON FUNCTION loyalty.drift_check() IS
    'Invariants of the ledger (balance and lifetime vs ledger sums, before/after chains, arithmetic, duplicate keys); returns nothing on a healthy database.';
