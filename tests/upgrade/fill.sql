-- Fills a database through the 0.1.0 API (which every later version keeps):
-- every transaction type, a rating-slip saga with a completed and a pending
-- accrual, reversals, edited tiers, staff permissions, a reconciliation, and
-- the README's three roles with their GRANTs.  tests/upgrade/run.sh runs it
-- on the old version, then upgrades the database and checks what is left.
\set ON_ERROR_STOP 1
\pset footer off
SET loyalty.correlation_id = 'upgrade-fill';
SET loyalty.manual_reward_rate_limit = 1000;

-- Edited tiers: a changed multiplier and a new top tier.
UPDATE loyalty.tier SET multiplier = 1.30 WHERE name = 'SILVER';
INSERT INTO loyalty.tier (name, threshold, multiplier) VALUES ('DIAMOND', 50000, 2.50);

-- Staff: a supervisor with everything, a host who may only award, a cashier.
INSERT INTO loyalty.staff_permission (staff_id, capabilities) VALUES
    ('0b000000-0000-0000-0000-00000000005a',
     ARRAY['loyalty:award', 'loyalty:promote', 'loyalty:redeem', 'loyalty:adjust', 'loyalty:recover']),
    ('0b000000-0000-0000-0000-00000000005b', ARRAY['loyalty:award']),
    ('0b000000-0000-0000-0000-00000000005c', ARRAY['loyalty:redeem']);

-- Every transaction type, for forty players.
SELECT count(*) AS promotions FROM generate_series(1, 40) i,
       loyalty.apply_promotion(format('0b000000-0000-0000-0001-%s', lpad(i::text, 12, '0'))::uuid,
                               'upgrade-welcome', 500 + i, 'welcome offer');
SELECT count(*) AS rewards FROM generate_series(1, 40) i,
       loyalty.manual_reward(format('0b000000-0000-0000-0001-%s', lpad(i::text, 12, '0'))::uuid,
                             '0b000000-0000-0000-0000-00000000005b', 100 + i, 'birthday bonus for a regular');
SELECT count(*) AS redemptions FROM generate_series(1, 40, 2) i,
       loyalty.redeem_points(format('0b000000-0000-0000-0001-%s', lpad(i::text, 12, '0'))::uuid, 50,
                             '0b000000-0000-0000-0000-00000000005c', 'buffet comp at the grill',
                             format('upgrade-redeem-%s', i));
SELECT count(*) AS adjustments FROM generate_series(1, 40, 4) i,
       loyalty.adjust_points(format('0b000000-0000-0000-0001-%s', lpad(i::text, 12, '0'))::uuid,
                             '0b000000-0000-0000-0000-00000000005a', -25, 'duplicate swipe corrected',
                             format('upgrade-adjust-%s', i));
SELECT count(*) AS direct_changes FROM generate_series(1, 10) i,
       loyalty.increment_player_loyalty(format('0b000000-0000-0000-0001-%s', lpad(i::text, 12, '0'))::uuid,
                                        75, 'PROMOTION', format('upgrade-direct-%s', i),
                                        p_reason => 'partner hotel stay');
-- A player who crosses into SILVER and GOLD.
SELECT tier_after FROM loyalty.apply_promotion('0b000000-0000-0000-0002-000000000001', 'upgrade-big', 6000,
                                               'high roller welcome');

-- Rating slips: completed accruals (one at the edited SILVER multiplier) ...
SELECT status, points FROM generate_series(1, 5) i,
       loyalty.complete_rating_slip(format('0b000000-0000-0000-0003-%s', lpad(i::text, 12, '0'))::uuid,
                                    format('0b000000-0000-0000-0001-%s', lpad(i::text, 12, '0'))::uuid,
                                    25 * i, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
SELECT status, points FROM loyalty.complete_rating_slip('0b000000-0000-0000-0003-000000000010',
       '0b000000-0000-0000-0002-000000000001', 40, 5400, '{"house_edge": 1.5, "average_rounds_per_hour": 70}');
-- ... and one left pending: another session holds the player's row past
-- loyalty.lock_timeout, so the accrual fails and stays recorded.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('blocker', format('host=127.0.0.1 port=%s dbname=%s user=postgres',
                                        current_setting('port'), current_database()));
SELECT dblink_exec('blocker', 'BEGIN');
SELECT * FROM dblink('blocker', $$SELECT 1 FROM loyalty.player_loyalty
                                   WHERE player_id = '0b000000-0000-0000-0001-000000000007' FOR UPDATE$$) AS t(x int);
SET loyalty.lock_timeout = '100ms';
SELECT status, error IS NOT NULL AS has_error
  FROM loyalty.complete_rating_slip('0b000000-0000-0000-0003-000000000077', '0b000000-0000-0000-0001-000000000007',
       30, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}', p_correlation_id => 'upgrade-pending-slip');
RESET loyalty.lock_timeout;
SELECT dblink_exec('blocker', 'COMMIT');
SELECT dblink_disconnect('blocker');

-- Reversals: a reward and a slip's gameplay credit.
SELECT r.ledger_id IS NOT NULL AS reversed
  FROM (SELECT min(id) AS id FROM loyalty.loyalty_ledger WHERE transaction_type = 'MANUAL_BONUS') m,
       loyalty.reverse_entry(m.id, '0b000000-0000-0000-0000-00000000005a', 'reward given to the wrong player') r;
SELECT r.ledger_id IS NOT NULL AS reversed
  FROM (SELECT min(id) AS id FROM loyalty.loyalty_ledger WHERE transaction_type = 'GAMEPLAY') m,
       loyalty.reverse_entry(m.id, '0b000000-0000-0000-0000-00000000005a', 'slip rated at the wrong table') r;

-- A reconciliation (nothing to repair: it is recorded anyway).
SELECT changed FROM loyalty.reconcile_player('0b000000-0000-0000-0001-000000000003',
       '0b000000-0000-0000-0000-00000000005a', 'quarterly audit sample');

-- The README's roles, with its GRANTs as 0.1.0 printed them.
CREATE ROLE loyalty_app NOLOGIN;
GRANT USAGE ON SCHEMA loyalty TO loyalty_app;
GRANT EXECUTE ON FUNCTION
    loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text),
    loyalty.manual_reward(uuid, uuid, integer, text, integer, text),
    loyalty.apply_promotion(uuid, text, integer, text, uuid, text),
    loyalty.redeem_points(uuid, integer, uuid, text, text, text),
    loyalty.adjust_points(uuid, uuid, integer, text, text, text),
    loyalty.reverse_entry(bigint, uuid, text, text),
    loyalty.complete_rating_slip(uuid, uuid, numeric, integer, jsonb, uuid, text),
    loyalty.recover_rating_slip(uuid, text),
    loyalty.validate_reward(integer, text, uuid),
    loyalty.rate_limit_status(uuid)
  TO loyalty_app;
CREATE ROLE loyalty_auditor NOLOGIN;
GRANT USAGE ON SCHEMA loyalty TO loyalty_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA loyalty TO loyalty_auditor;
GRANT EXECUTE ON FUNCTION
    loyalty.trace(text),
    loyalty.player_statement(uuid, timestamptz, timestamptz, bigint, integer),
    loyalty.balance_at(uuid, timestamptz),
    loyalty.drift_check(),
    loyalty.rate_limit_status(uuid)
  TO loyalty_auditor;
CREATE ROLE loyalty_admin NOLOGIN;
GRANT loyalty_auditor TO loyalty_admin;
GRANT INSERT, UPDATE, DELETE ON loyalty.staff_permission, loyalty.tier TO loyalty_admin;
GRANT EXECUTE ON FUNCTION
    loyalty.reconcile_player(uuid, uuid, text),
    loyalty.recover_rating_slip(uuid, text),
    loyalty.recover_pending(integer)
  TO loyalty_admin;

-- What the old version left: one pending accrual, no drift.
SELECT status, count(*) FROM loyalty.rating_slip_accrual GROUP BY status ORDER BY status;
SELECT transaction_type, count(*) FROM loyalty.loyalty_ledger GROUP BY 1 ORDER BY 1;
SELECT count(*) AS drift FROM loyalty.drift_check();
