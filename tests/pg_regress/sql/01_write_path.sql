-- The one write path, as a DBA would exercise it in psql.
\pset footer off
SET loyalty.correlation_id = 'regress-write-path';

-- First award for a new player: the player row is created, BRONZE, 0 -> 250.
SELECT player_id, balance_before, balance_after, tier_before, tier_after, tier_progress,
       lifetime_points, row_locked, idempotent_replay, correlation_id
  FROM loyalty.increment_player_loyalty(
       p_player_id        => 'a0000000-0000-0000-0000-000000000001',
       p_delta_points     => 250,
       p_transaction_type => 'PROMOTION',
       p_idempotency_key  => 'wp-promo-1',
       p_reason           => 'spring welcome offer');

-- The client times out and retries: the same result, flagged as a replay.
SELECT balance_before, balance_after, row_locked, idempotent_replay, correlation_id
  FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000001', 250, 'PROMOTION',
       'wp-promo-1', p_reason => 'spring welcome offer', p_correlation_id => 'retry-of-promo-1');
SELECT count(*) AS ledger_rows FROM loyalty.loyalty_ledger WHERE idempotency_key = 'wp-promo-1';

-- The same key for another amount, another player or another type is refused.
SELECT * FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000001', 251, 'PROMOTION',
       'wp-promo-1', p_reason => 'spring welcome offer');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000002', 250, 'PROMOTION',
       'wp-promo-1', p_reason => 'spring welcome offer');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- A gameplay accrual carries its rating slip and visit.
SELECT balance_before, balance_after, tier_after
  FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000001', 100, 'GAMEPLAY',
       loyalty.gameplay_key('5100e000-0000-0000-0000-000000000001'),
       p_rating_slip_id => '5100e000-0000-0000-0000-000000000001',
       p_visit_id       => '71517000-0000-0000-0000-000000000001');

-- A negative change: a redemption by a staff member, lifetime points stay.
SELECT balance_before, balance_after, lifetime_points, tier_after
  FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000001', -150, 'REDEMPTION',
       'wp-redeem-1', p_reason => 'dinner comp at the steakhouse',
       p_staff_id => '57aff000-0000-0000-0000-000000000001');

-- More than the balance is refused with the balance and the request in DETAIL.
SELECT * FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000001', -1000, 'REDEMPTION',
       'wp-redeem-2', p_reason => 'suite upgrade for the weekend',
       p_staff_id => '57aff000-0000-0000-0000-000000000001');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- Tier upgrade: 900 more points cross SILVER (1,000) and the progress resets.
SELECT balance_before, balance_after, tier_before, tier_after, tier_progress, lifetime_points
  FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000001', 900, 'PROMOTION',
       'wp-promo-2', p_reason => 'table games weekend');
-- ... and on to PLATINUM (20,000) in one step: progress is 100 at the top.
SELECT tier_before, tier_after, tier_progress, lifetime_points
  FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000001', 20000, 'PROMOTION',
       'wp-promo-3', p_reason => 'high roller invitation');
-- Spending everything never demotes.
SELECT balance_after, tier_after, lifetime_points
  FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000001', -21100, 'REDEMPTION',
       'wp-redeem-3', p_reason => 'cruise package for two',
       p_staff_id => '57aff000-0000-0000-0000-000000000001');

-- The player's aggregate and its ledger, with all six audit columns.
SELECT current_balance, lifetime_points, tier, tier_progress
  FROM loyalty.player_loyalty WHERE player_id = 'a0000000-0000-0000-0000-000000000001';
SELECT transaction_type, points_change, staff_id, balance_before, balance_after,
       tier_before, tier_after, correlation_id, rating_slip_id IS NOT NULL AS has_slip,
       length(request_fingerprint) AS fingerprint_len
  FROM loyalty.loyalty_ledger
 WHERE player_id = 'a0000000-0000-0000-0000-000000000001' ORDER BY id;

-- Without an explicit id or setting, one id is generated per transaction.
RESET loyalty.correlation_id;
BEGIN;
SELECT correlation_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS is_uuid_v7
  FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000003', 10, 'PROMOTION', 'wp-gen-1');
SELECT count(DISTINCT correlation_id) AS ids_in_one_transaction FROM (
  SELECT correlation_id FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000003', 10, 'PROMOTION', 'wp-gen-1')
  UNION ALL
  SELECT correlation_id FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000003', 10, 'PROMOTION', 'wp-gen-2')
) t;
COMMIT;
-- Generated ids are time-ordered (UUID version 7): a later transaction's id
-- sorts after an earlier one's.
SELECT correlation_id AS earlier_id
  FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000003', 1, 'PROMOTION', 'wp-gen-order-1') \gset
SELECT pg_sleep(0.01);
SELECT correlation_id > :'earlier_id' AS later_id_sorts_later
  FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000003', 1, 'PROMOTION', 'wp-gen-order-2');
-- SET LOCAL applies to one transaction; the argument beats the setting.
BEGIN;
SET LOCAL loyalty.correlation_id = 'req-7f3a';
SELECT correlation_id FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000003', 5, 'PROMOTION', 'wp-gen-3');
SELECT correlation_id FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000003', 5, 'PROMOTION', 'wp-gen-4',
       p_correlation_id => 'explicit-1');
COMMIT;

-- A failed call in a transaction writes nothing.
BEGIN;
SET LOCAL loyalty.correlation_id = 'regress-rollback';
SELECT balance_after FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000004', 40, 'PROMOTION', 'wp-tx-1');
SELECT * FROM loyalty.increment_player_loyalty('a0000000-0000-0000-0000-000000000004', -41, 'ADJUSTMENT', 'wp-tx-2',
       p_reason => 'correction of a keying error', p_staff_id => '57aff000-0000-0000-0000-000000000001');
ROLLBACK;
SELECT count(*) AS rows_for_rolled_back_player FROM loyalty.loyalty_ledger
 WHERE player_id = 'a0000000-0000-0000-0000-000000000004';

-- The invariants of SPEC section 2 hold: no rows.
SELECT * FROM loyalty.drift_check();
