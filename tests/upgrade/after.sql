-- After ALTER EXTENSION loyalty_ext UPDATE, on the database fill.sql wrote
-- through the old version: the roles the DBA made then still work, old keys
-- replay, the pending accrual recovers, old entries reverse, new writes
-- chain onto old balances, and nothing drifts.
\set ON_ERROR_STOP 0
\pset footer off
SET loyalty.correlation_id = 'upgrade-after';
SET loyalty.manual_reward_rate_limit = 1000;

-- The application role: an old promotion key replays with its original row.
SET ROLE loyalty_app;
SELECT balance_before, balance_after, idempotent_replay, correlation_id
  FROM loyalty.apply_promotion('0b000000-0000-0000-0001-000000000001', 'upgrade-welcome', 501, 'welcome offer');
-- The same key with another amount is still a conflict.
SELECT * FROM loyalty.apply_promotion('0b000000-0000-0000-0001-000000000001', 'upgrade-welcome', 999, 'welcome offer');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- New changes chain onto balances the old version wrote.
SELECT balance_after - balance_before AS credited, idempotent_replay
  FROM loyalty.manual_reward('0b000000-0000-0000-0001-000000000002', '0b000000-0000-0000-0000-00000000005b',
                             200, 'first reward after the upgrade');
SELECT status, points
  FROM loyalty.complete_rating_slip('0b000000-0000-0000-0003-000000000011', '0b000000-0000-0000-0001-000000000002',
                                    25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
-- A slip the old version completed is still completed.
SELECT status, points
  FROM loyalty.complete_rating_slip('0b000000-0000-0000-0003-000000000001', '0b000000-0000-0000-0001-000000000001',
                                    25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
RESET ROLE;

-- The admin role recovers the accrual left pending by the old version,
-- under its original correlation id.
SET ROLE loyalty_admin;
SELECT rating_slip_id, status, points, correlation_id FROM loyalty.recover_pending(10);
SELECT changed, balance_after FROM loyalty.reconcile_player('0b000000-0000-0000-0001-000000000007',
       '0b000000-0000-0000-0000-00000000005a', 'post-upgrade audit sample');
RESET ROLE;

-- The auditor role reads what both versions wrote.
SET ROLE loyalty_auditor;
SELECT source, kind, points FROM loyalty.trace('upgrade-pending-slip') ORDER BY source;
SELECT count(*) AS entries, max(running_balance) AS last_balance
  FROM loyalty.player_statement('0b000000-0000-0000-0001-000000000002');
SELECT count(*) AS problems FROM loyalty.drift_check();
RESET ROLE;

-- An entry the old version wrote reverses once; again is a replay.
SELECT points_change FROM loyalty.loyalty_ledger WHERE idempotency_key = 'upgrade-redeem-3';
SELECT balance_after - balance_before AS reversed, idempotent_replay
  FROM loyalty.reverse_entry((SELECT id FROM loyalty.loyalty_ledger WHERE idempotency_key = 'upgrade-redeem-3'),
                             '0b000000-0000-0000-0000-00000000005a', 'redemption voided at the cage');
SELECT balance_after - balance_before AS reversed, idempotent_replay
  FROM loyalty.reverse_entry((SELECT id FROM loyalty.loyalty_ledger WHERE idempotency_key = 'upgrade-redeem-3'),
                             '0b000000-0000-0000-0000-00000000005a', 'redemption voided at the cage');

-- Nothing drifted, nothing is pending.
SELECT * FROM loyalty.drift_check();
SELECT status, count(*) FROM loyalty.rating_slip_accrual GROUP BY status ORDER BY status;
