-- Rating slips: the points formula and the saga that never loses an accrual.
\pset footer off
SET loyalty.correlation_id = 'regress-slips';

-- The formula, by hand (SPEC section 6).
-- 10 bet x 1.5% x 31 rounds x 10 = 46.5, rounded half up: 47 (floats say 46).
SELECT loyalty.calculate_gameplay_points(10, 3600, '{"house_edge": 1.5, "average_rounds_per_hour": 31}', 'BRONZE') AS spec_example;
-- 25 bet x 2% x 30 rounds x 10 = 150; the tier multiplies (GOLD x1.5 = 225).
SELECT loyalty.calculate_gameplay_points(25, 1800, '{"house_edge": 2, "average_rounds_per_hour": 60}', 'BRONZE') AS bronze,
       loyalty.calculate_gameplay_points(25, 1800, '{"house_edge": 2, "average_rounds_per_hour": 60}', 'GOLD') AS gold,
       loyalty.calculate_gameplay_points(25, 1800, '{"house_edge": 2, "average_rounds_per_hour": 60}', 'PLATINUM') AS platinum;
-- Two empty seats below 7: +10% (165); more rounds than the hourly rate: x1.1.
SELECT loyalty.calculate_gameplay_points(25, 1800, '{"house_edge": 2, "average_rounds_per_hour": 60, "seats_available": 5}', 'BRONZE') AS two_empty_seats,
       loyalty.calculate_gameplay_points(10, 7200, '{"house_edge": 1, "average_rounds_per_hour": 60}', 'BRONZE') AS fast_game;
-- Conversion rate and point multiplier; rounds round half up (30 min at 1/h = 1 round).
SELECT loyalty.calculate_gameplay_points(25, 1800, '{"house_edge": 2, "average_rounds_per_hour": 60, "points_conversion_rate": 5, "point_multiplier": 3}', 'BRONZE') AS promo_game,
       loyalty.calculate_gameplay_points(1, 1800, '{"house_edge": 100, "average_rounds_per_hour": 1}', 'BRONZE') AS half_round_up;
-- A custom tier's multiplier can be given explicitly.
SELECT loyalty.calculate_gameplay_points(25, 1800, '{"house_edge": 2, "average_rounds_per_hour": 60, "tier_multiplier": 3}', 'DIAMOND') AS custom_tier;
-- Bad inputs (22023).
SELECT loyalty.calculate_gameplay_points(10, 3600, '{"average_rounds_per_hour": 31}', 'BRONZE');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT loyalty.calculate_gameplay_points(-10, 3600, '{"house_edge": 1.5, "average_rounds_per_hour": 31}', 'BRONZE');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT loyalty.calculate_gameplay_points('NaN', 3600, '{"house_edge": 1.5, "average_rounds_per_hour": 31}', 'BRONZE');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT loyalty.calculate_gameplay_points(10, -1, '{"house_edge": 1.5, "average_rounds_per_hour": 31}', 'BRONZE');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT loyalty.calculate_gameplay_points(10, 3600, '{"house_edge": "high", "average_rounds_per_hour": 31}', 'BRONZE');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT loyalty.calculate_gameplay_points(10, 3600, '{"house_edge": 1.5, "average_rounds_per_hour": 31}', 'DIAMOND');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- Scenario 1: a slip completion is one GAMEPLAY row, 0 -> points, with the correlation id.
SELECT status, points, balance_after, tier_after, correlation_id, error
  FROM loyalty.complete_rating_slip('51100000-0000-0000-0000-000000000001', 'f0000000-0000-0000-0000-000000000001',
       25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}', p_visit_id => '71517000-0000-0000-0000-000000000001');
SELECT transaction_type, points_change, balance_before, balance_after, correlation_id,
       rating_slip_id, visit_id, idempotency_key = loyalty.gameplay_key(rating_slip_id) AS keyed_by_slip
  FROM loyalty.loyalty_ledger WHERE player_id = 'f0000000-0000-0000-0000-000000000001';
-- Scenario 2: completing it again changes nothing.
SELECT status, points, balance_after, correlation_id
  FROM loyalty.complete_rating_slip('51100000-0000-0000-0000-000000000001', 'f0000000-0000-0000-0000-000000000001',
       25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}', p_visit_id => '71517000-0000-0000-0000-000000000001');
SELECT count(*) AS gameplay_rows FROM loyalty.loyalty_ledger WHERE player_id = 'f0000000-0000-0000-0000-000000000001';
-- ... but the same slip with other play data is a conflict (23505).
SELECT * FROM loyalty.complete_rating_slip('51100000-0000-0000-0000-000000000001', 'f0000000-0000-0000-0000-000000000001',
       500, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Bad input is refused before anything is recorded (22023).
SELECT * FROM loyalty.complete_rating_slip(NULL, 'f0000000-0000-0000-0000-000000000001', 25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.complete_rating_slip('51100000-0000-0000-0000-000000000002', 'f0000000-0000-0000-0000-000000000001', 25, 3600, '{"house_edge": 2}');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.complete_rating_slip('51100000-0000-0000-0000-000000000002', 'f0000000-0000-0000-0000-000000000001', 25, 3600, 'null');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) AS recorded FROM loyalty.rating_slip_accrual WHERE rating_slip_id = '51100000-0000-0000-0000-000000000002';
-- The tier multiplier is the player's tier before the accrual: a GOLD player earns x1.5.
SELECT tier_after FROM loyalty.increment_player_loyalty('f0000000-0000-0000-0000-000000000005', 5000, 'PROMOTION', 'gold-welcome', p_reason => 'status match from a competitor');
SELECT status, points, balance_after FROM loyalty.complete_rating_slip('51100000-0000-0000-0000-000000000005',
       'f0000000-0000-0000-0000-000000000005', 25, 1800, '{"house_edge": 2, "average_rounds_per_hour": 60}');
-- Zero points (a slip closed after a minute) completes without a ledger row.
SELECT status, points, ledger_id FROM loyalty.complete_rating_slip('51100000-0000-0000-0000-000000000006',
       'f0000000-0000-0000-0000-000000000005', 25, 10, '{"house_edge": 2, "average_rounds_per_hour": 60}');

-- Scenario 6: the accrual fails (the player's row is locked by another session
-- past loyalty.lock_timeout), the slip close still commits.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('blocker', format('host=127.0.0.1 port=%s dbname=%s user=postgres',
                                        current_setting('port'), current_database()));
SELECT dblink_exec('blocker', 'BEGIN');
SELECT * FROM dblink('blocker', $$SELECT current_balance FROM loyalty.player_loyalty
                                   WHERE player_id = 'f0000000-0000-0000-0000-000000000001' FOR UPDATE$$) AS t(balance bigint);
BEGIN;
CREATE TEMP TABLE app_rating_slip (id uuid PRIMARY KEY, closed boolean);
INSERT INTO app_rating_slip VALUES ('51100000-0000-0000-0000-000000000066', true);  -- the application closes its slip
SET LOCAL loyalty.lock_timeout = '200ms';
SELECT status, points, ledger_id, correlation_id, error
  FROM loyalty.complete_rating_slip('51100000-0000-0000-0000-000000000066', 'f0000000-0000-0000-0000-000000000001',
       50, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}', p_correlation_id => 'slip-66-close');
COMMIT;
SELECT id, closed FROM app_rating_slip;
-- The request is pending, with its error and correlation id.
SELECT rating_slip_id, status, attempts, last_sqlstate, last_error, correlation_id
  FROM loyalty.pending_accruals;
SELECT dblink_exec('blocker', 'COMMIT');
SELECT dblink_disconnect('blocker');
-- Recovery completes it with the original key and correlation id.
SELECT status, points, balance_after, correlation_id, error
  FROM loyalty.recover_rating_slip('51100000-0000-0000-0000-000000000066');
SELECT transaction_type, points_change, correlation_id, idempotency_key = loyalty.gameplay_key(rating_slip_id) AS original_key
  FROM loyalty.loyalty_ledger WHERE rating_slip_id = '51100000-0000-0000-0000-000000000066';
-- A second recovery returns the same result and leaves one row.
SELECT status, points, balance_after, correlation_id
  FROM loyalty.recover_rating_slip('51100000-0000-0000-0000-000000000066');
SELECT count(*) AS rows_for_slip FROM loyalty.loyalty_ledger WHERE rating_slip_id = '51100000-0000-0000-0000-000000000066';
SELECT status, attempts, last_error FROM loyalty.rating_slip_accrual WHERE rating_slip_id = '51100000-0000-0000-0000-000000000066';
SELECT count(*) AS still_pending FROM loyalty.pending_accruals;
-- Unknown slip (55000).
SELECT * FROM loyalty.recover_rating_slip('51100000-0000-0000-0000-0000000000ff');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- recover_pending with nothing to do returns no rows; a bad batch size is 22023.
SELECT * FROM loyalty.recover_pending();
SELECT * FROM loyalty.recover_pending(0);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- A slip whose request row another session holds: recovery waits at most
-- loyalty.lock_timeout, then 55P03 names the rating slip (rating_slip_id in
-- DETAIL, not player_id).
SELECT dblink_connect('holder', format('host=127.0.0.1 port=%s dbname=%s user=postgres',
                                       current_setting('port'), current_database()));
SELECT dblink_exec('holder', 'BEGIN');
SELECT * FROM dblink('holder', $$SELECT status FROM loyalty.rating_slip_accrual
                                  WHERE rating_slip_id = '51100000-0000-0000-0000-000000000066' FOR UPDATE$$) AS t(status text);
SET loyalty.lock_timeout = '200ms';
SELECT * FROM loyalty.recover_rating_slip('51100000-0000-0000-0000-000000000066', 'slip-lock-wait');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET loyalty.lock_timeout;
SELECT dblink_exec('holder', 'COMMIT');
SELECT dblink_disconnect('holder');

SELECT * FROM loyalty.drift_check();
