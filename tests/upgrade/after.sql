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

-- The README's Upgrading steps, verbatim (tests/docs.rs): the update ran
-- already, so running it again changes nothing.
ALTER EXTENSION loyalty_ext UPDATE;                -- to the installed default version
SELECT extversion FROM pg_extension WHERE extname = 'loyalty_ext';
SELECT * FROM loyalty.drift_check();               -- no rows: the ledger adds up

-- What the README's Upgrading section tells the owner to grant, verbatim
-- (tests/docs.rs), then a login role of the application role, which is not
-- a superuser, so its login-role capabilities are checked.
-- After ALTER EXTENSION loyalty_ext UPDATE from 0.1.0, as the extension's owner.
-- The floor application's role credits gameplay:
INSERT INTO loyalty.role_permission (role_name, capabilities)
VALUES ('loyalty_app', ARRAY['loyalty:accrue']);
-- The admin role manages login-role capabilities and campaigns, and resolves accruals:
GRANT INSERT, UPDATE, DELETE ON loyalty.role_permission TO loyalty_admin;
GRANT INSERT (reward_id, points_per_credit, valid_from, valid_to, credits_per_player, budget_points, description),
      UPDATE (valid_to, budget_points, description)
   ON loyalty.promotion_campaign TO loyalty_admin;
GRANT EXECUTE ON FUNCTION loyalty.resolve_accrual TO loyalty_admin;

SET ROLE loyalty_admin;
INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
VALUES ('upgrade-winter', 300, now() - interval '1 hour', now() + interval '30 days', 100000);
RESET ROLE;
CREATE ROLE upgrade_floor LOGIN IN ROLE loyalty_app;
SET SESSION AUTHORIZATION upgrade_floor;
SELECT status, points
  FROM loyalty.complete_rating_slip('0b000000-0000-0000-0003-000000000012', '0b000000-0000-0000-0001-000000000003',
                                    25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
SELECT balance_after - balance_before AS credited, idempotent_replay
  FROM loyalty.apply_promotion('0b000000-0000-0000-0001-000000000003', 'upgrade-winter', 300);
SELECT * FROM loyalty.apply_promotion('0b000000-0000-0000-0001-000000000003', 'never-registered', 300);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('0b000000-0000-0000-0001-000000000003', 100, 'PROMOTION', 'upgrade-direct');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SELECT actor_role, transaction_type, points_change FROM loyalty.loyalty_ledger
 WHERE player_id = '0b000000-0000-0000-0001-000000000003' AND actor_role = 'upgrade_floor' ORDER BY id;
DROP ROLE upgrade_floor;

-- Nothing drifted, nothing is pending.
SELECT * FROM loyalty.drift_check();
SELECT status, count(*) FROM loyalty.rating_slip_accrual GROUP BY status ORDER BY status;
