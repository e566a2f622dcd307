-- A short tour: a first award, a replay, a conflicting replay, a spend,
-- and a tier upgrade, then the invariant check.
\pset footer off
SET loyalty.correlation_id = 'demo-session';

\echo '-- a player earns 800 points from a promotion (new player row is created)'
SELECT player_id, balance_before, balance_after, tier_after, tier_progress, ledger_id, idempotent_replay
  FROM loyalty.increment_player_loyalty('11111111-1111-1111-1111-111111111111', 800, 'PROMOTION', 'demo-promo-1',
                                        p_reason => 'welcome offer');

\echo '-- the client retries the same call: a replay, nothing written'
SELECT balance_after, ledger_id, idempotent_replay
  FROM loyalty.increment_player_loyalty('11111111-1111-1111-1111-111111111111', 800, 'PROMOTION', 'demo-promo-1',
                                        p_reason => 'welcome offer');

\echo '-- the same key for a different amount is refused (23505)'
\set ON_ERROR_STOP 0
SELECT * FROM loyalty.increment_player_loyalty('11111111-1111-1111-1111-111111111111', 900, 'PROMOTION', 'demo-promo-1',
                                               p_reason => 'welcome offer');
\set ON_ERROR_STOP 1

\echo '-- 300 more points cross the SILVER threshold at 1,000 lifetime points'
SELECT balance_before, balance_after, tier_before, tier_after, tier_progress, lifetime_points
  FROM loyalty.increment_player_loyalty('11111111-1111-1111-1111-111111111111', 300, 'PROMOTION', 'demo-promo-2',
                                        p_reason => 'table games weekend');

\echo '-- the ledger, the source of truth'
SELECT id, transaction_type, points_change, balance_before, balance_after, tier_before, tier_after, correlation_id
  FROM loyalty.loyalty_ledger ORDER BY id;

\echo '-- invariant check: no rows means healthy'
SELECT * FROM loyalty.drift_check();
