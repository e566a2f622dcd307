-- Audit checks in plain SQL (SQL is clearer than Rust for set logic).

-- What the ledger says each player has: the balance is the sum of the
-- changes, lifetime points the sum of the gains (SPEC section 2).  The one
-- definition of both, read by drift_check and by reconcile_player; a query
-- for one player is served by the ledger's (player_id, id) index.
CREATE VIEW loyalty.ledger_totals WITH (security_invoker = true) AS
SELECT l.casino_id,
       l.player_id,
       sum(l.points_change)::bigint                                            AS balance,
       coalesce(sum(l.points_change) FILTER (WHERE l.points_change > 0), 0)::bigint AS lifetime_points,
       count(*)                                                                AS entries
  FROM loyalty.loyalty_ledger l
 GROUP BY l.casino_id, l.player_id;
COMMENT ON VIEW loyalty.ledger_totals IS
    'Per casino and player, what the ledger adds up to: balance (sum of changes), lifetime_points (sum of gains), entries; loyalty.player_loyalty must equal it.';
REVOKE ALL ON loyalty.ledger_totals FROM PUBLIC;

-- Every invariant of SPEC section 2, as rows describing what is wrong.
-- Returns nothing on a healthy database; tests run it after every scenario.
-- Scoped like every audit function: the casino named (a bound session may
-- name only its own), else the session's casino, else (unbound) all.
CREATE FUNCTION loyalty.drift_check(p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (problem text, player_id uuid, ledger_id bigint, detail text, casino_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.casino_scope(p_casino_id);
    WITH scope AS (
        SELECT loyalty.casino_scope(p_casino_id) AS casino_id
    ), ledger AS (
        SELECT l.* FROM loyalty.loyalty_ledger l, scope
         WHERE l.casino_id = coalesce(scope.casino_id, l.casino_id)
    ), players AS (
        SELECT p.* FROM loyalty.player_loyalty p, scope
         WHERE p.casino_id = coalesce(scope.casino_id, p.casino_id)
    ), sums AS (
        SELECT t.casino_id, t.player_id, t.balance AS total, t.lifetime_points AS gained
          FROM loyalty.ledger_totals t, scope
         WHERE t.casino_id = coalesce(scope.casino_id, t.casino_id)
    ), chain AS (
        SELECT l.id, l.casino_id, l.player_id, l.balance_before, l.balance_after, l.points_change,
               lag(l.balance_after) OVER (PARTITION BY l.casino_id, l.player_id ORDER BY l.id) AS previous_after
          FROM ledger l
    )
    SELECT 'balance_mismatch', p.player_id, NULL::bigint,
           format('current_balance=%s, ledger_sum=%s', p.current_balance, coalesce(s.total, 0)),
           p.casino_id
      FROM players p LEFT JOIN sums s ON s.casino_id = p.casino_id AND s.player_id = p.player_id
     WHERE p.current_balance <> coalesce(s.total, 0)
    UNION ALL
    SELECT 'lifetime_mismatch', p.player_id, NULL,
           format('lifetime_points=%s, ledger_gains=%s', p.lifetime_points, coalesce(s.gained, 0)),
           p.casino_id
      FROM players p LEFT JOIN sums s ON s.casino_id = p.casino_id AND s.player_id = p.player_id
     WHERE p.lifetime_points <> coalesce(s.gained, 0)
    UNION ALL
    SELECT 'missing_player', s.player_id, NULL, format('ledger_sum=%s', s.total), s.casino_id
      FROM sums s
     WHERE NOT EXISTS (SELECT 1 FROM loyalty.player_loyalty p
                        WHERE p.casino_id = s.casino_id AND p.player_id = s.player_id)
    UNION ALL
    SELECT 'broken_chain', c.player_id, c.id,
           format('balance_before=%s, previous_balance_after=%s', c.balance_before, coalesce(c.previous_after, 0)),
           c.casino_id
      FROM chain c
     WHERE c.balance_before <> coalesce(c.previous_after, 0)
    UNION ALL
    SELECT 'bad_arithmetic', c.player_id, c.id,
           format('balance_before=%s, points_change=%s, balance_after=%s', c.balance_before, c.points_change, c.balance_after),
           c.casino_id
      FROM chain c
     WHERE c.balance_after <> c.balance_before + c.points_change
    UNION ALL
    SELECT 'duplicate_key', NULL, min(l.id),
           format('idempotency_key=%s, rows=%s', l.idempotency_key, count(*)), l.casino_id
      FROM ledger l
     GROUP BY l.casino_id, l.idempotency_key
    HAVING count(*) > 1
    UNION ALL
    -- A rating slip credited more than once (possible before 0.2.0, which
    -- did not tie a GAMEPLAY credit to its slip's key).
    SELECT 'duplicate_accrual', min(l.player_id::text)::uuid, min(l.id),
           format('rating_slip_id=%s, gameplay_rows=%s', l.rating_slip_id, count(*)), l.casino_id
      FROM ledger l
     WHERE l.transaction_type = 'GAMEPLAY'
     GROUP BY l.casino_id, l.rating_slip_id
    HAVING count(*) > 1
    UNION ALL
    -- A campaign whose counted points differ from its credits in the ledger.
    SELECT 'campaign_mismatch', NULL, NULL,
           format('reward_id=%s, credited_points=%s, ledger_credits=%s',
                  c.reward_id, c.credited_points, coalesce(sum(l.points_change), 0)),
           c.casino_id
      FROM loyalty.promotion_campaign c
      JOIN scope ON c.casino_id = coalesce(scope.casino_id, c.casino_id)
      LEFT JOIN loyalty.loyalty_ledger l ON l.campaign_id = c.id
     GROUP BY c.id, c.reward_id, c.credited_points, c.casino_id
    HAVING c.credited_points <> coalesce(sum(l.points_change), 0)
    UNION ALL
    -- Points held that differ from the player's active holds.
    SELECT 'held_mismatch', p.player_id, NULL,
           format('held_points=%s, active_holds=%s', p.held_points, coalesce(h.held, 0)),
           p.casino_id
      FROM players p
      LEFT JOIN (SELECT x.casino_id, x.player_id, sum(x.points) AS held
                   FROM loyalty.point_hold x WHERE x.status = 'ACTIVE'
                  GROUP BY x.casino_id, x.player_id) h
        ON h.casino_id = p.casino_id AND h.player_id = p.player_id
     WHERE p.held_points <> coalesce(h.held, 0)
    UNION ALL
    -- Under an expiry policy, a player's lots hold exactly the balance.
    SELECT 'lot_mismatch', p.player_id, NULL,
           format('current_balance=%s, lots_remaining=%s', p.current_balance, l.remaining),
           p.casino_id
      FROM players p
      JOIN loyalty.casino c ON c.casino_id = p.casino_id AND c.expiry_policy <> 'none'
      JOIN (SELECT x.casino_id, x.player_id, sum(x.remaining) AS remaining
              FROM loyalty.point_lot x GROUP BY x.casino_id, x.player_id) l
        ON l.casino_id = p.casino_id AND l.player_id = p.player_id
     WHERE l.remaining <> p.current_balance
    UNION ALL
    -- Only an EXPIRATION (or a hold's capture, of the points its hold
    -- kept) takes points of a lot after it expired.
    SELECT 'expired_lot_consumed', l.player_id, d.id,
           format('lot_id=%s, expires_at=%s, consumed_at=%s', l.lot_id, l.expires_at, d.created_at),
           l.casino_id
      FROM loyalty.lot_consumption x
      JOIN loyalty.point_lot l ON l.lot_id = x.lot_id
      JOIN ledger d ON d.id = x.ledger_id
     WHERE d.transaction_type <> 'EXPIRATION' AND l.expires_at <= d.created_at
       -- A hold's capture takes the points its hold kept from expiring.
       AND NOT EXISTS (SELECT 1 FROM loyalty.point_hold h WHERE h.capture_ledger_id = d.id)
    UNION ALL
    -- A ledger row whose casino's account, campaign or reversed entry
    -- belongs to another casino.
    SELECT 'cross_casino', l.player_id, l.id,
           format('ledger casino_id=%s, %s', l.casino_id,
                  CASE WHEN c.casino_id IS DISTINCT FROM l.casino_id AND l.campaign_id IS NOT NULL
                       THEN format('campaign casino_id=%s', c.casino_id)
                       ELSE format('reversed entry casino_id=%s', r.casino_id) END),
           l.casino_id
      FROM ledger l
      LEFT JOIN loyalty.promotion_campaign c ON c.id = l.campaign_id
      LEFT JOIN loyalty.loyalty_ledger r ON r.id = l.reverses_ledger_id
     WHERE (l.campaign_id IS NOT NULL AND c.casino_id IS DISTINCT FROM l.casino_id)
        OR (l.reverses_ledger_id IS NOT NULL AND r.casino_id IS DISTINCT FROM l.casino_id)
$$;
REVOKE ALL ON FUNCTION loyalty.drift_check(uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.drift_check(uuid) IS
    'Invariants of the ledger (balance and lifetime vs ledger sums, before/after chains, arithmetic, duplicate keys, rating slips credited twice, campaign budgets vs their credits, points held vs active holds, lots vs balance and expired lots consumed, rows tied to another casino), per casino: the one named, else the session''s, else (unbound session) all; returns nothing on a healthy database.';

-- Every ledger row, saga row and reconciliation written under one
-- correlation id, in order, served by the correlation-id indexes.
-- SECURITY INVOKER, so that row-level security shows a bound reader its
-- casino's rows only; every operator and function is schema-qualified, so
-- a caller's search_path cannot change what it means.
CREATE FUNCTION loyalty.trace(p_correlation_id text, p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (source text, ledger_id bigint, rating_slip_id uuid, player_id uuid, kind text,
               points integer, balance_before bigint, balance_after bigint, staff_id uuid,
               detail text, at timestamptz, casino_id uuid)
LANGUAGE sql STABLE
AS $$
    -- The scope is the outer side of the join, evaluated once and always: a
    -- bound session naming another casino is refused even when nothing
    -- matches (OFFSET 0 keeps the planner from pulling it into the rows).
    SELECT t.* FROM (SELECT loyalty.casino_scope(p_casino_id) AS casino_id OFFSET 0) AS scope,
    LATERAL (
        SELECT 'ledger'::text, l.id, l.rating_slip_id, l.player_id, l.transaction_type,
               l.points_change, l.balance_before, l.balance_after, l.staff_id,
               l.reason, l.created_at, l.casino_id
          FROM loyalty.loyalty_ledger l
         WHERE l.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
           AND l.casino_id OPERATOR(pg_catalog.=) COALESCE(scope.casino_id, l.casino_id)
        UNION ALL
        SELECT 'rating_slip'::text, a.ledger_id, a.rating_slip_id, a.player_id, a.status,
               a.points, NULL::bigint, NULL::bigint, NULL::uuid,
               pg_catalog.format('attempts=%s %s', a.attempts,
                                 COALESCE(a.last_sqlstate OPERATOR(pg_catalog.||) ': '
                                          OPERATOR(pg_catalog.||) a.last_error, '')),
               a.created_at, a.casino_id
          FROM loyalty.rating_slip_accrual a
         WHERE a.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
           AND a.casino_id OPERATOR(pg_catalog.=) COALESCE(scope.casino_id, a.casino_id)
        UNION ALL
        SELECT 'reconciliation'::text, NULL::bigint, NULL::uuid, r.player_id, 'RECONCILE',
               NULL::integer, r.balance_before, r.balance_after, r.staff_id,
               r.reason, r.created_at, r.casino_id
          FROM loyalty.reconciliation r
         WHERE r.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
           AND r.casino_id OPERATOR(pg_catalog.=) COALESCE(scope.casino_id, r.casino_id)
        UNION ALL
        SELECT 'resolution'::text, NULL::bigint, x.rating_slip_id, NULL::uuid,
               pg_catalog.upper(x.action), NULL::integer, NULL::bigint, NULL::bigint, x.staff_id,
               x.reason, x.created_at, x.casino_id
          FROM loyalty.accrual_resolution x
         WHERE x.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
           AND x.casino_id OPERATOR(pg_catalog.=) COALESCE(scope.casino_id, x.casino_id)
    ) AS t(source, ledger_id, rating_slip_id, player_id, kind, points, balance_before,
           balance_after, staff_id, detail, at, casino_id)
    ORDER BY t.at, t.ledger_id
$$;
COMMENT ON FUNCTION loyalty.trace(text, uuid) IS
    'Every ledger row, rating-slip accrual, reconciliation and accrual resolution recorded under one correlation id, in time order (served by the correlation-id indexes); at the casino named, else the session''s, else (unbound session) all.';

-- A player's entries with the running balance, paged by keyset: pass the
-- last ledger_id of a page as p_after_ledger_id to get the next one.
CREATE FUNCTION loyalty.player_statement(
    p_player_id uuid,
    p_from timestamptz DEFAULT NULL,
    p_to timestamptz DEFAULT NULL,
    p_after_ledger_id bigint DEFAULT NULL,
    p_limit integer DEFAULT 100,
    p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (ledger_id bigint, created_at timestamptz, transaction_type text,
               points_change integer, balance_before bigint, running_balance bigint,
               tier_after text, reason text, staff_id uuid, rating_slip_id uuid,
               reverses_ledger_id bigint, correlation_id text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.current_casino_id(p_casino_id);
    SELECT l.id, l.created_at, l.transaction_type, l.points_change, l.balance_before,
           l.balance_after, l.tier_after, l.reason, l.staff_id, l.rating_slip_id,
           l.reverses_ledger_id, l.correlation_id
      FROM loyalty.loyalty_ledger l
     WHERE l.casino_id = loyalty.current_casino_id(p_casino_id)
       AND l.player_id = p_player_id
       AND l.id > coalesce(p_after_ledger_id, 0)
       AND (p_from IS NULL OR l.created_at >= p_from)
       AND (p_to IS NULL OR l.created_at <= p_to)
     ORDER BY l.id
     LIMIT greatest(least(coalesce(p_limit, 100), 10000), 1)
$$;
COMMENT ON FUNCTION loyalty.player_statement(uuid, timestamptz, timestamptz, bigint, integer, uuid) IS
    'A player''s ledger entries at one casino (named, else the session''s) in order with the running balance; keyset paging: pass the last ledger_id seen as p_after_ledger_id (p_limit 1-10000, default 100).';

-- Balance and tier as of a past moment, counting entries made at or before it.
CREATE FUNCTION loyalty.balance_at(p_player_id uuid, p_at timestamptz, p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (balance bigint, tier text, lifetime_points bigint, last_ledger_id bigint, as_of timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.current_casino_id(p_casino_id);
    SELECT coalesce(l.balance_after, 0),
           coalesce(l.tier_after, loyalty.base_tier(p_casino_id)),
           coalesce(l.lifetime_points_after, 0),
           l.id,
           p_at
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (
            SELECT x.* FROM loyalty.loyalty_ledger x
             WHERE x.casino_id = loyalty.current_casino_id(p_casino_id)
               AND x.player_id = p_player_id AND x.created_at <= p_at
             ORDER BY x.id DESC LIMIT 1) AS l ON true
$$;
COMMENT ON FUNCTION loyalty.balance_at(uuid, timestamptz, uuid) IS
    'A player''s balance and tier at one casino (named, else the session''s) (then lifetime points and the last counted entry) as of a past moment, counting ledger entries made at or before it.';

REVOKE ALL ON FUNCTION loyalty.player_statement(uuid, timestamptz, timestamptz, bigint, integer, uuid),
                       loyalty.balance_at(uuid, timestamptz, uuid),
                       loyalty.trace(text, uuid)
  FROM PUBLIC;

-- A player's account at one casino as of now: what is held by active holds
-- (an expired hold no longer counts, whether or not a sweep has closed it
-- yet) and what is available.  Expiry of points (next_expiry_at,
-- next_expiry_points) follows the casino's expiry policy; with none, both
-- are NULL.
CREATE FUNCTION loyalty.player_account(p_player_id uuid, p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (current_balance bigint, held_points bigint, available bigint, lifetime_points bigint,
               tier text, next_expiry_at timestamptz, next_expiry_points bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.current_casino_id(p_casino_id);
    WITH casino AS (
        SELECT c.casino_id, c.expiry_policy, c.expiry_months
          FROM loyalty.casino c WHERE c.casino_id = loyalty.current_casino_id(p_casino_id)
    ), next_lot AS (
        SELECT l.expires_at, sum(l.remaining)::bigint AS points
          FROM loyalty.point_lot l, casino
         WHERE casino.expiry_policy = 'fixed' AND l.casino_id = casino.casino_id
           AND l.player_id = p_player_id AND l.remaining > 0 AND l.expires_at > clock_timestamp()
         GROUP BY l.expires_at ORDER BY l.expires_at LIMIT 1
    ), held AS (
        SELECT coalesce(sum(h.points), 0)::bigint AS points
          FROM loyalty.point_hold h, casino
         WHERE h.casino_id = casino.casino_id AND h.player_id = p_player_id
           AND h.status = 'ACTIVE' AND h.expires_at > clock_timestamp()
    )
    SELECT coalesce(p.current_balance, 0), held.points, coalesce(p.current_balance, 0) - held.points,
           coalesce(p.lifetime_points, 0), coalesce(p.tier, loyalty.base_tier(p_casino_id)),
           CASE casino.expiry_policy
                WHEN 'fixed' THEN next_lot.expires_at
                WHEN 'inactivity' THEN coalesce((SELECT a.created_at FROM loyalty.loyalty_ledger a
                                                    WHERE a.casino_id = p.casino_id AND a.player_id = p.player_id
                                                      AND a.transaction_type <> 'EXPIRATION'
                                                    ORDER BY a.id DESC LIMIT 1), p.created_at)
                                       + make_interval(months => casino.expiry_months)
           END,
           CASE casino.expiry_policy
                WHEN 'fixed' THEN next_lot.points
                WHEN 'inactivity' THEN p.current_balance
           END
      FROM casino CROSS JOIN held
      LEFT JOIN next_lot ON true
      LEFT JOIN loyalty.player_loyalty p
        ON p.casino_id = casino.casino_id AND p.player_id = p_player_id
$$;
REVOKE ALL ON FUNCTION loyalty.player_account(uuid, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.player_account(uuid, uuid) IS
    'A player''s account at one casino (named, else the session''s): current_balance, held_points (active holds not yet expired), available (balance - held), lifetime_points, tier, and the next expiry of points: under fixed, the soonest lot still to expire and its points; under inactivity, the player''s last change plus expiry_months and the whole balance; NULL under none.';

-- What the program owes, per casino and tier, as of a moment: reproduced
-- from the ledger, the holds and the lots as they stood then (SPEC 15).
CREATE FUNCTION loyalty.liability(p_as_of timestamptz DEFAULT now(), p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (casino_id uuid, tier text, players bigint, outstanding_points bigint, held_points bigint,
               expiring_30d bigint, expiring_60d bigint, expiring_90d bigint, point_value numeric,
               outstanding_value numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.casino_scope(p_casino_id);
    WITH scope AS (
        SELECT loyalty.casino_scope(p_casino_id) AS casino_id
    ), standing AS (
        -- Each player's last ledger row at or before the moment.
        SELECT DISTINCT ON (l.casino_id, l.player_id)
               l.casino_id, l.player_id, l.balance_after, l.tier_after, l.created_at
          FROM loyalty.loyalty_ledger l, scope
         WHERE l.created_at <= p_as_of AND l.casino_id = coalesce(scope.casino_id, l.casino_id)
         ORDER BY l.casino_id, l.player_id, l.id DESC
    ), held AS (
        SELECT h.casino_id, h.player_id, sum(h.points)::bigint AS points
          FROM loyalty.point_hold h
         WHERE h.created_at <= p_as_of AND (h.closed_at IS NULL OR h.closed_at > p_as_of)
           AND h.expires_at > p_as_of
         GROUP BY h.casino_id, h.player_id
    ), lot_then AS (
        -- Lots as they stood then: earned by the moment, less what debits
        -- written by then consumed (the debit's own time, as the ledger
        -- has it).
        SELECT l.casino_id, l.player_id, l.expires_at,
               l.points - coalesce((SELECT sum(x.points) FROM loyalty.lot_consumption x
                                      LEFT JOIN loyalty.loyalty_ledger d ON d.id = x.ledger_id
                                     WHERE x.lot_id = l.lot_id
                                       AND coalesce(d.created_at, x.created_at) <= p_as_of), 0) AS remaining
          FROM loyalty.point_lot l
         WHERE l.earned_at <= p_as_of
    ), due AS (
        -- When each player's points fall due: a fixed lot's own expiry, or
        -- under inactivity the last change plus the term, for the balance.
        SELECT t.casino_id, t.player_id, t.expires_at AS due_at, t.remaining AS points
          FROM lot_then t JOIN loyalty.casino c ON c.casino_id = t.casino_id
         WHERE c.expiry_policy = 'fixed' AND t.remaining > 0
        UNION ALL
        SELECT s.casino_id, s.player_id,
               (SELECT a.created_at FROM loyalty.loyalty_ledger a
                 WHERE a.casino_id = s.casino_id AND a.player_id = s.player_id
                   AND a.transaction_type <> 'EXPIRATION' AND a.created_at <= p_as_of
                 ORDER BY a.id DESC LIMIT 1) + make_interval(months => c.expiry_months),
               s.balance_after
          FROM standing s JOIN loyalty.casino c ON c.casino_id = s.casino_id
         WHERE c.expiry_policy = 'inactivity' AND s.balance_after > 0
    ), expiring AS (
        SELECT d.casino_id, d.player_id,
               coalesce(sum(d.points) FILTER (WHERE d.due_at > p_as_of AND d.due_at <= p_as_of + interval '30 days'), 0) AS d30,
               coalesce(sum(d.points) FILTER (WHERE d.due_at > p_as_of AND d.due_at <= p_as_of + interval '60 days'), 0) AS d60,
               coalesce(sum(d.points) FILTER (WHERE d.due_at > p_as_of AND d.due_at <= p_as_of + interval '90 days'), 0) AS d90
          FROM due d GROUP BY d.casino_id, d.player_id
    )
    SELECT s.casino_id, s.tier_after,
           count(*) FILTER (WHERE s.balance_after > 0),
           sum(s.balance_after)::bigint,
           coalesce(sum(h.points), 0)::bigint,
           coalesce(sum(e.d30), 0)::bigint, coalesce(sum(e.d60), 0)::bigint, coalesce(sum(e.d90), 0)::bigint,
           v.point_value,
           sum(s.balance_after) * v.point_value
      FROM standing s
      JOIN loyalty.casino c ON c.casino_id = s.casino_id
      -- The point value in effect at the moment.
      LEFT JOIN LATERAL (
            SELECT h.point_value FROM loyalty.point_value_history h
             WHERE h.casino_id = c.casino_id AND h.valid_from <= p_as_of
             ORDER BY h.valid_from DESC LIMIT 1) v ON true
      LEFT JOIN held h ON h.casino_id = s.casino_id AND h.player_id = s.player_id
      LEFT JOIN expiring e ON e.casino_id = s.casino_id AND e.player_id = s.player_id
     GROUP BY s.casino_id, s.tier_after, v.point_value
     ORDER BY s.casino_id, min(s.balance_after), s.tier_after
$$;
REVOKE ALL ON FUNCTION loyalty.liability(timestamptz, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.liability(timestamptz, uuid) IS
    'What the program owes as of p_as_of, per casino and tier, from the ledger, holds and lots as they stood then: players holding points, outstanding_points, held_points, points falling due within 30/60/90 days under the casino''s expiry policy, the point_value in effect then and outstanding_value; for the casino named, else the session''s, else (unbound) every casino.';
