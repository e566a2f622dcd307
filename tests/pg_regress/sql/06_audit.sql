-- Audit tools: trace, statements, balance at a moment, drift, reconcile.
\pset footer off
SET loyalty.correlation_id = 'regress-audit';

-- A player with some history, one request traced end to end.
SELECT balance_after FROM loyalty.increment_player_loyalty('ad000000-0000-0000-0000-000000000001', 300, 'PROMOTION', 'audit-promo-1', p_reason => 'welcome offer');
SELECT now() AS before_spend \gset
SELECT balance_after FROM loyalty.redeem_points('ad000000-0000-0000-0000-000000000001', 120,
       '57aff000-0000-0000-0000-000000000001', 'spa voucher for the player', 'audit-redeem-1',
       p_correlation_id => 'audit-trace-1');
SELECT balance_after FROM loyalty.increment_player_loyalty('ad000000-0000-0000-0000-000000000001', 80, 'PROMOTION', 'audit-promo-2',
       p_correlation_id => 'audit-trace-1');
SELECT source, kind, points, balance_before, balance_after, detail
  FROM loyalty.trace('audit-trace-1');
SELECT count(*) AS rows_for_unknown_id FROM loyalty.trace('no-such-correlation-id');

-- trace is served by the correlation-id index, not a sequential scan of the
-- ledger (checked on 3,000 rows after ANALYZE).
SELECT count(*) AS seeded FROM generate_series(1, 3000) g,
       LATERAL loyalty.increment_player_loyalty(
           ('ad000000-0000-0000-0001-' || lpad((g % 50)::text, 12, '0'))::uuid, 1, 'PROMOTION',
           'audit-seed-' || g, p_correlation_id => 'audit-seed-' || g);
ANALYZE loyalty.loyalty_ledger;
ANALYZE loyalty.rating_slip_accrual;
ANALYZE loyalty.reconciliation;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q; END $$;
SELECT count(*) FILTER (WHERE p ~ 'Seq Scan on loyalty_ledger') AS ledger_seq_scans,
       count(*) FILTER (WHERE p ~ 'loyalty_ledger_correlation_idx') AS uses_correlation_index
  FROM pg_temp.plan_of($$SELECT * FROM loyalty.trace('audit-trace-1')$$) p;

-- A statement with the running balance, paged by keyset.
SELECT transaction_type, points_change, balance_before, running_balance, reason
  FROM loyalty.player_statement('ad000000-0000-0000-0000-000000000001', p_limit => 2);
SELECT max(ledger_id) AS last_seen FROM loyalty.player_statement('ad000000-0000-0000-0000-000000000001', p_limit => 2) \gset
SELECT transaction_type, points_change, running_balance
  FROM loyalty.player_statement('ad000000-0000-0000-0000-000000000001', p_after_ledger_id => :last_seen, p_limit => 2);
-- The running balance is the sum of changes so far, page after page.
SELECT bool_and(running_balance = s) AS running_balance_is_sum FROM (
  SELECT running_balance, sum(points_change) OVER (ORDER BY ledger_id) AS s
    FROM loyalty.player_statement('ad000000-0000-0000-0001-000000000007', p_limit => 10000)) t;
SELECT count(*) AS entries FROM loyalty.player_statement('ad000000-0000-0000-0001-000000000007', p_limit => 10000);

-- The balance at a past moment counts entries made at or before it.
SELECT balance, tier FROM loyalty.balance_at('ad000000-0000-0000-0000-000000000001', :'before_spend');
SELECT balance, tier FROM loyalty.balance_at('ad000000-0000-0000-0000-000000000001', now());
SELECT balance, tier, last_ledger_id FROM loyalty.balance_at('ad000000-0000-0000-0000-000000000001', '2000-01-01');

-- reconcile_player: nothing to fix is recorded too, and changes nothing.
SELECT changed, balance_before, balance_after, tier_after
  FROM loyalty.reconcile_player('ad000000-0000-0000-0000-000000000001', '57aff000-0000-0000-0000-000000000001',
                                'quarterly balance review');
SELECT * FROM loyalty.reconcile_player('ad000000-0000-0000-0000-000000000001', '5aff0000-0000-0000-0000-0000000000c1',
                                       'cashier tries to reconcile');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.reconcile_player('ad000000-0000-0000-0000-0000000000ff', '57aff000-0000-0000-0000-000000000001',
                                       'player that never played');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.reconcile_player('ad000000-0000-0000-0000-000000000001', '57aff000-0000-0000-0000-000000000001', 'x');
\echo sqlstate :LAST_ERROR_SQLSTATE

SELECT * FROM loyalty.drift_check();

-- drift_check finds each kind of damage.  On a scratch database, a
-- superuser disables the ledger guards and damages it on purpose.
CREATE DATABASE loyalty_regress_damage;
\c loyalty_regress_damage
\pset footer off
CREATE EXTENSION loyalty_ext;
SET loyalty.correlation_id = 'regress-damage';
SELECT count(*) FROM generate_series(1, 3) g, LATERAL loyalty.increment_player_loyalty(
       ('da000000-0000-0000-0000-00000000000' || g)::uuid, 100 * g, 'PROMOTION', 'dmg-' || g);
SELECT count(*) FROM loyalty.increment_player_loyalty('da000000-0000-0000-0000-000000000001', 50, 'PROMOTION', 'dmg-4');
SELECT count(*) AS problems_before FROM loyalty.drift_check();
ALTER TABLE loyalty.loyalty_ledger DISABLE TRIGGER loyalty_ledger_no_update_delete;
ALTER TABLE loyalty.loyalty_ledger DROP CONSTRAINT loyalty_ledger_balance_arithmetic;
-- 1. an aggregate edited by hand
UPDATE loyalty.player_loyalty SET current_balance = current_balance + 7 WHERE player_id = 'da000000-0000-0000-0000-000000000002';
-- 2. lifetime points edited by hand
UPDATE loyalty.player_loyalty SET lifetime_points = 1 WHERE player_id = 'da000000-0000-0000-0000-000000000003';
-- 3. a ledger row's amount edited (breaks arithmetic and the sums)
UPDATE loyalty.loyalty_ledger SET points_change = 60 WHERE idempotency_key = 'dmg-4';
-- 4. a ledger row deleted (breaks the chain: 100 -> ?)
DELETE FROM loyalty.loyalty_ledger WHERE idempotency_key = 'dmg-1';
-- 5. a duplicate key (unique constraint dropped first)
ALTER TABLE loyalty.loyalty_ledger DROP CONSTRAINT loyalty_ledger_idempotency_key_key CASCADE;
INSERT INTO loyalty.loyalty_ledger (player_id, points_change, transaction_type, idempotency_key, request_fingerprint,
       balance_before, balance_after, tier_before, tier_after, tier_progress_after, lifetime_points_after, correlation_id)
SELECT 'da000000-0000-0000-0000-000000000009', 5, 'PROMOTION', 'dmg-2', 'x', 0, 5, 'BRONZE', 'BRONZE', 0, 5, 'forged';
-- 6. a rating slip credited twice (0.1.0 let a direct GAMEPLAY call use any key)
INSERT INTO loyalty.loyalty_ledger (player_id, points_change, transaction_type, rating_slip_id, idempotency_key,
       request_fingerprint, balance_before, balance_after, tier_before, tier_after, tier_progress_after,
       lifetime_points_after, correlation_id)
SELECT 'da000000-0000-0000-0000-000000000008', 10, 'GAMEPLAY', 'da000000-0000-0000-00a5-000000000001', k, 'x',
       b, b + 10, 'BRONZE', 'BRONZE', 0, b + 10, 'forged'
  FROM (VALUES ('slip-copy-1', 0), ('slip-copy-2', 10)) v(k, b);
INSERT INTO loyalty.player_loyalty (player_id, current_balance, lifetime_points, tier)
VALUES ('da000000-0000-0000-0000-000000000008', 20, 20, 'BRONZE');
-- 7. a campaign's counted points edited by hand
INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
VALUES ('dmg-campaign', 10, now() - interval '1 day', now() + interval '1 day', 1000);
UPDATE loyalty.promotion_campaign SET credited_points = 30 WHERE reward_id = 'dmg-campaign';
SELECT problem, player_id, detail FROM loyalty.drift_check() ORDER BY problem, player_id;
\c loyalty_regress
DROP DATABASE loyalty_regress_damage;
