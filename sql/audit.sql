-- Audit checks in plain SQL (SQL is clearer than Rust for set logic).

-- What the ledger says each player has: the balance is the sum of the
-- changes, lifetime points the sum of the gains (SPEC section 2).  The one
-- definition of both, read by drift_check and by reconcile_player; a query
-- for one player is served by the ledger's (player_id, id) index.
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

-- Every invariant of SPEC section 2, as rows describing what is wrong.
-- Returns nothing on a healthy database; tests run it after every scenario.
CREATE FUNCTION loyalty.drift_check()
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
    UNION ALL
    -- A rating slip credited more than once (possible before 0.2.0, which
    -- did not tie a GAMEPLAY credit to its slip's key).
    SELECT 'duplicate_accrual', min(l.player_id::text)::uuid, min(l.id),
           format('rating_slip_id=%s, gameplay_rows=%s', l.rating_slip_id, count(*))
      FROM loyalty.loyalty_ledger l
     WHERE l.transaction_type = 'GAMEPLAY'
     GROUP BY l.rating_slip_id
    HAVING count(*) > 1
    UNION ALL
    -- A campaign whose counted points differ from its credits in the ledger.
    SELECT 'campaign_mismatch', NULL, NULL,
           format('reward_id=%s, credited_points=%s, ledger_credits=%s',
                  c.reward_id, c.credited_points, coalesce(sum(l.points_change), 0))
      FROM loyalty.promotion_campaign c
      LEFT JOIN loyalty.loyalty_ledger l ON l.campaign_id = c.id
     GROUP BY c.id, c.reward_id, c.credited_points
    HAVING c.credited_points <> coalesce(sum(l.points_change), 0)
$$;
REVOKE ALL ON FUNCTION loyalty.drift_check() FROM PUBLIC;
COMMENT ON FUNCTION loyalty.drift_check() IS
    'Invariants of the ledger (balance and lifetime vs ledger sums, before/after chains, arithmetic, duplicate keys, rating slips credited twice, campaign budgets vs their credits); returns nothing on a healthy database.';

-- Every ledger row, saga row and reconciliation written under one
-- correlation id, in order.  Plain SQL and SECURITY INVOKER so that the
-- planner inlines it and serves it from the correlation-id indexes; every
-- operator and function is schema-qualified, so a caller's search_path
-- cannot change what it means.
CREATE FUNCTION loyalty.trace(p_correlation_id text)
RETURNS TABLE (source text, ledger_id bigint, rating_slip_id uuid, player_id uuid, kind text,
               points integer, balance_before bigint, balance_after bigint, staff_id uuid,
               detail text, at timestamptz)
LANGUAGE sql STABLE
AS $$
    SELECT t.* FROM (
        SELECT 'ledger'::text, l.id, l.rating_slip_id, l.player_id, l.transaction_type,
               l.points_change, l.balance_before, l.balance_after, l.staff_id,
               l.reason, l.created_at
          FROM loyalty.loyalty_ledger l
         WHERE l.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
        UNION ALL
        SELECT 'rating_slip'::text, a.ledger_id, a.rating_slip_id, a.player_id, a.status,
               a.points, NULL::bigint, NULL::bigint, NULL::uuid,
               pg_catalog.format('attempts=%s %s', a.attempts,
                                 COALESCE(a.last_sqlstate OPERATOR(pg_catalog.||) ': '
                                          OPERATOR(pg_catalog.||) a.last_error, '')),
               a.created_at
          FROM loyalty.rating_slip_accrual a
         WHERE a.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
        UNION ALL
        SELECT 'reconciliation'::text, NULL::bigint, NULL::uuid, r.player_id, 'RECONCILE',
               NULL::integer, r.balance_before, r.balance_after, r.staff_id,
               r.reason, r.created_at
          FROM loyalty.reconciliation r
         WHERE r.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
        UNION ALL
        SELECT 'resolution'::text, NULL::bigint, x.rating_slip_id, NULL::uuid,
               pg_catalog.upper(x.action), NULL::integer, NULL::bigint, NULL::bigint, x.staff_id,
               x.reason, x.created_at
          FROM loyalty.accrual_resolution x
         WHERE x.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
    ) AS t(source, ledger_id, rating_slip_id, player_id, kind, points, balance_before,
           balance_after, staff_id, detail, at)
    ORDER BY t.at, t.ledger_id
$$;
COMMENT ON FUNCTION loyalty.trace(text) IS
    'Every ledger row, rating-slip accrual, reconciliation and accrual resolution recorded under one correlation id, in time order (served by the correlation-id indexes).';

-- A player's entries with the running balance, paged by keyset: pass the
-- last ledger_id of a page as p_after_ledger_id to get the next one.
CREATE FUNCTION loyalty.player_statement(
    p_player_id uuid,
    p_from timestamptz DEFAULT NULL,
    p_to timestamptz DEFAULT NULL,
    p_after_ledger_id bigint DEFAULT NULL,
    p_limit integer DEFAULT 100)
RETURNS TABLE (ledger_id bigint, created_at timestamptz, transaction_type text,
               points_change integer, balance_before bigint, running_balance bigint,
               tier_after text, reason text, staff_id uuid, rating_slip_id uuid,
               reverses_ledger_id bigint, correlation_id text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.id, l.created_at, l.transaction_type, l.points_change, l.balance_before,
           l.balance_after, l.tier_after, l.reason, l.staff_id, l.rating_slip_id,
           l.reverses_ledger_id, l.correlation_id
      FROM loyalty.loyalty_ledger l
     WHERE l.player_id = p_player_id
       AND l.id > coalesce(p_after_ledger_id, 0)
       AND (p_from IS NULL OR l.created_at >= p_from)
       AND (p_to IS NULL OR l.created_at <= p_to)
     ORDER BY l.id
     LIMIT greatest(least(coalesce(p_limit, 100), 10000), 1)
$$;
COMMENT ON FUNCTION loyalty.player_statement(uuid, timestamptz, timestamptz, bigint, integer) IS
    'A player''s ledger entries in order with the running balance; keyset paging: pass the last ledger_id seen as p_after_ledger_id (p_limit 1-10000, default 100).';

-- Balance and tier as of a past moment, counting entries made at or before it.
CREATE FUNCTION loyalty.balance_at(p_player_id uuid, p_at timestamptz)
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
COMMENT ON FUNCTION loyalty.balance_at(uuid, timestamptz) IS
    'A player''s balance and tier (then lifetime points and the last counted entry) as of a past moment, counting ledger entries made at or before it.';

REVOKE ALL ON FUNCTION loyalty.player_statement(uuid, timestamptz, timestamptz, bigint, integer),
                       loyalty.balance_at(uuid, timestamptz),
                       loyalty.trace(text)
  FROM PUBLIC;
