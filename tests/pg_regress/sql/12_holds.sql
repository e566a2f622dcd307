-- Holds (SPEC section 15), as a cashier works with them: a show ticket is
-- held for tonight, the player's available points shrink at once, and the
-- hold is charged in full or in part, released, or left to expire.
\pset footer off
SET loyalty.correlation_id = 'regress-holds';

-- A cashier who redeems, and a guest with 1,000 points.
INSERT INTO loyalty.staff_permission (staff_id, capabilities)
VALUES ('12000000-0000-0000-0000-00000000ca51', ARRAY['loyalty:redeem']);
SELECT balance_after FROM loyalty.increment_player_loyalty('12000000-0000-0000-0001-000000000001', 1000,
       'PROMOTION', 'holds-seed-1');

-- Two show tickets held until the show ends: 600 points reserved, 400
-- available.
SELECT date_trunc('second', now()) + interval '8 hours' AS show_ends \gset
SELECT hold_id AS show_hold, points, status, available_after, idempotent_replay
  FROM loyalty.hold_points('12000000-0000-0000-0001-000000000001', 600, '12000000-0000-0000-0000-00000000ca51',
       'two tickets for the late show', 'show-2026-11-26-row-f', :'show_ends') \gset
SELECT :show_hold > 0 AS held;
SELECT current_balance, held_points, available FROM loyalty.player_account('12000000-0000-0000-0001-000000000001');
-- The front desk retries after a timeout: the same hold, nothing new held.
SELECT hold_id = :show_hold AS same_hold, available_after, idempotent_replay
  FROM loyalty.hold_points('12000000-0000-0000-0001-000000000001', 600, '12000000-0000-0000-0000-00000000ca51',
       'two tickets for the late show', 'show-2026-11-26-row-f', :'show_ends');
-- The same key for another amount is a different request.
SELECT * FROM loyalty.hold_points('12000000-0000-0000-0001-000000000001', 700, '12000000-0000-0000-0000-00000000ca51',
       'two tickets for the late show', 'show-2026-11-26-row-f', :'show_ends');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- What is held cannot be spent twice: a redemption or a new hold beyond
-- the 400 available is refused.
SELECT * FROM loyalty.redeem_points('12000000-0000-0000-0001-000000000001', 500, '12000000-0000-0000-0000-00000000ca51',
       'steakhouse dinner for two', 'dinner-1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.hold_points('12000000-0000-0000-0001-000000000001', 401, '12000000-0000-0000-0000-00000000ca51',
       'spa treatment on sunday', 'spa-hold-1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT balance_after FROM loyalty.redeem_points('12000000-0000-0000-0001-000000000001', 100,
       '12000000-0000-0000-0000-00000000ca51', 'coffee shop voucher', 'coffee-1');

-- The guest used one ticket: 300 of the 600 are charged as one
-- REDEMPTION, the other 300 go back.
SELECT balance_before, balance_after, idempotent_replay
  FROM loyalty.capture_hold(:show_hold, '12000000-0000-0000-0000-00000000ca51', 300);
SELECT current_balance, held_points, available FROM loyalty.player_account('12000000-0000-0000-0001-000000000001');
SELECT status, captured_points, capture_ledger_id IS NOT NULL AS charged FROM loyalty.point_hold WHERE hold_id = :show_hold;
-- A captured hold cannot be captured or released again.
SELECT * FROM loyalty.capture_hold(:show_hold, '12000000-0000-0000-0000-00000000ca51');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.release_hold(:show_hold, '12000000-0000-0000-0000-00000000ca51', 'guest changed their mind');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- A buffet hold the guest does not use is released with a reason.
SELECT hold_id AS buffet_hold FROM loyalty.hold_points('12000000-0000-0000-0001-000000000001', 200,
       '12000000-0000-0000-0000-00000000ca51', 'buffet for the birthday party', 'buffet-hold-1') \gset
SELECT status, points, available_after
  FROM loyalty.release_hold(:buffet_hold, '12000000-0000-0000-0000-00000000ca51', 'party moved to another night');
-- A capture of more than was held is refused, and so is one of nothing.
SELECT hold_id AS tiny_hold FROM loyalty.hold_points('12000000-0000-0000-0001-000000000001', 50,
       '12000000-0000-0000-0000-00000000ca51', 'parking for the evening', 'parking-hold-1') \gset
SELECT * FROM loyalty.capture_hold(:tiny_hold, '12000000-0000-0000-0000-00000000ca51', 51);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.capture_hold(:tiny_hold, '12000000-0000-0000-0000-00000000ca51', 0);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- A hold left past its expiry counts for nothing at once, cannot be
-- captured, and is closed by the next change of the player or by the
-- expiry job (loyalty.expire_holds, for pg_cron).
SELECT hold_id AS old_hold FROM loyalty.hold_points('12000000-0000-0000-0001-000000000001', 100,
       '12000000-0000-0000-0000-00000000ca51', 'valet for the matinee', 'valet-hold-1',
       clock_timestamp() + interval '1 second') \gset
SELECT pg_sleep(1.2);
SELECT current_balance, held_points, available FROM loyalty.player_account('12000000-0000-0000-0001-000000000001');
SELECT * FROM loyalty.capture_hold(:old_hold, '12000000-0000-0000-0000-00000000ca51');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT hold_id = :old_hold AS expired_now, points FROM loyalty.expire_holds(10);
SELECT status FROM loyalty.point_hold WHERE hold_id = :old_hold;
SELECT count(*) AS expired_again FROM loyalty.expire_holds(10);

-- An unknown staff member, or one without loyalty:redeem, holds nothing.
SELECT * FROM loyalty.hold_points('12000000-0000-0000-0001-000000000001', 10, '12000000-0000-0000-0000-0000000000ff',
       'a hold by nobody at all', 'nobody-hold-1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.capture_hold(:tiny_hold, '12000000-0000-0000-0000-0000000000ff');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.capture_hold(999999999, '12000000-0000-0000-0000-00000000ca51');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- The trail: every hold under its correlation id, each capture a ledger row.
SELECT transaction_type, points_change, running_balance FROM loyalty.player_statement('12000000-0000-0000-0001-000000000001');
SELECT status, count(*) FROM loyalty.point_hold WHERE player_id = '12000000-0000-0000-0001-000000000001'
 GROUP BY status ORDER BY status;
SELECT * FROM loyalty.drift_check();
