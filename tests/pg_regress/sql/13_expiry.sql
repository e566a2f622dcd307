-- Expiry and liability (SPEC section 15), as a finance analyst works with
-- them: a casino whose points expire a year after they are earned, one
-- whose points expire after 18 months without play, what expires when,
-- the expiry job run as of a chosen moment, and the liability as of
-- today and as of before the job ran.
\pset footer off
SET loyalty.correlation_id = 'regress-expiry';

INSERT INTO loyalty.casino (casino_id, name, expiry_policy, expiry_months, point_value)
VALUES ('e0000000-0000-0000-0000-0000000000f1', 'Fixed Term Casino', 'fixed', 12, 0.01),
       ('e0000000-0000-0000-0000-0000000000a1', 'Inactivity Casino', 'inactivity', 18, 0.005);
INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
VALUES ('e0000000-0000-0000-0000-0000000000f1', 'e0000000-0000-0000-0000-00000000ca51', ARRAY['loyalty:redeem']);

-- Three credits: three lots, each expiring twelve months after it was earned.
SELECT balance_after FROM loyalty.increment_player_loyalty('e0000000-0000-0000-0001-000000000001', 500, 'PROMOTION',
       'expiry-credit-1', p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT balance_after FROM loyalty.increment_player_loyalty('e0000000-0000-0000-0001-000000000001', 300, 'PROMOTION',
       'expiry-credit-2', p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT balance_after FROM loyalty.increment_player_loyalty('e0000000-0000-0000-0001-000000000001', 200, 'PROMOTION',
       'expiry-credit-3', p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT points, remaining, expires_at = earned_at + interval '12 months' AS a_year_after
  FROM loyalty.point_lot WHERE player_id = 'e0000000-0000-0000-0001-000000000001' ORDER BY lot_id;

-- A redemption of 600 takes the soonest-expiring lots first, and records which.
SELECT balance_after FROM loyalty.redeem_points('e0000000-0000-0000-0001-000000000001', 600,
       'e0000000-0000-0000-0000-00000000ca51', 'steakhouse dinner for two', 'expiry-redeem-1',
       p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT l.points AS lot, l.remaining, c.points AS taken
  FROM loyalty.point_lot l LEFT JOIN loyalty.lot_consumption c USING (lot_id)
 WHERE l.player_id = 'e0000000-0000-0000-0001-000000000001' ORDER BY l.lot_id;

-- What expires when: the soonest lot still to expire.
SELECT current_balance, next_expiry_points, next_expiry_at > now() + interval '11 months' AS in_about_a_year
  FROM loyalty.player_account('e0000000-0000-0000-0001-000000000001', 'e0000000-0000-0000-0000-0000000000f1');

-- The liability projected to a fortnight before those lots fall due.
SELECT tier, players, outstanding_points, held_points, expiring_30d, expiring_90d, point_value, outstanding_value
  FROM loyalty.liability(now() + interval '11 months 15 days', 'e0000000-0000-0000-0000-0000000000f1');

-- A cashier holds 100 of the 400 points for a show.
SELECT points FROM loyalty.hold_points('e0000000-0000-0000-0001-000000000001', 100,
       'e0000000-0000-0000-0000-00000000ca51', 'two tickets for the late show', 'expiry-hold-1',
       now() + interval '2 years', p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');

-- Today nothing has expired.
SELECT count(*) AS expired_today FROM loyalty.expire_points(p_as_of => now(), p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT now() AS before_the_job \gset
-- An audit run fixes the clock a year and a day on: the lots expired by
-- then are written off in one EXPIRATION, except the 100 points the hold
-- still reserves.
SELECT points FROM loyalty.expire_points(p_as_of => now() + interval '12 months 1 day',
                                         p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT transaction_type, points_change, running_balance, reason
  FROM loyalty.player_statement('e0000000-0000-0000-0001-000000000001', p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
-- Run again, it finds nothing more (the held points stay reserved).
SELECT count(*) AS expired_again FROM loyalty.expire_points(p_as_of => now() + interval '12 months 1 day',
                                                            p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');

-- The liability now, and as it stood before the job: the figure of a
-- past moment is reproduced from the ledger.
SELECT tier, players, outstanding_points, held_points, outstanding_value
  FROM loyalty.liability(p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT tier, players, outstanding_points, held_points, outstanding_value
  FROM loyalty.liability(:'before_the_job', 'e0000000-0000-0000-0000-0000000000f1');
-- Revaluing the points later changes today's value, not a past moment's.
UPDATE loyalty.casino SET point_value = 0.02 WHERE casino_id = 'e0000000-0000-0000-0000-0000000000f1';
SELECT point_value, outstanding_value
  FROM loyalty.liability(:'before_the_job', 'e0000000-0000-0000-0000-0000000000f1');
SELECT point_value, outstanding_value
  FROM loyalty.liability(p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');

-- Under inactivity, the whole balance falls due 18 months after the
-- player's last change; 19 months on it is written off.
SELECT balance_after FROM loyalty.increment_player_loyalty('e0000000-0000-0000-0001-000000000002', 1000, 'PROMOTION',
       'inactivity-credit-1', p_casino_id => 'e0000000-0000-0000-0000-0000000000a1');
SELECT next_expiry_points, next_expiry_at = (SELECT updated_at + interval '18 months' FROM loyalty.player_loyalty
                                            WHERE player_id = 'e0000000-0000-0000-0001-000000000002') AS eighteen_months_on
  FROM loyalty.player_account('e0000000-0000-0000-0001-000000000002', 'e0000000-0000-0000-0000-0000000000a1');
SELECT points FROM loyalty.expire_points(p_as_of => now() + interval '17 months', p_casino_id => 'e0000000-0000-0000-0000-0000000000a1');
SELECT points FROM loyalty.expire_points(p_as_of => now() + interval '19 months', p_casino_id => 'e0000000-0000-0000-0000-0000000000a1');
SELECT current_balance FROM loyalty.player_account('e0000000-0000-0000-0001-000000000002', 'e0000000-0000-0000-0000-0000000000a1');

-- Points past their expiry are not spendable even before the job writes
-- them off.  (A lot's expiry is moved into the past here by hand, as a
-- superuser, instead of waiting a year.)
SELECT balance_after FROM loyalty.increment_player_loyalty('e0000000-0000-0000-0001-000000000003', 700, 'PROMOTION',
       'fixed-credit-3', p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
UPDATE loyalty.point_lot SET expires_at = clock_timestamp() - interval '1 second'
 WHERE player_id = 'e0000000-0000-0000-0001-000000000003';
SELECT balance_after FROM loyalty.redeem_points('e0000000-0000-0000-0001-000000000003', 100,
       'e0000000-0000-0000-0000-00000000ca51', 'buffet comp for two guests', 'expired-redeem-1',
       p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT points FROM loyalty.expire_points(p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');

-- Points a hold reserved are spared by the expiry and stay chargeable: the
-- capture takes them from the expired lot.
SELECT balance_after FROM loyalty.increment_player_loyalty('e0000000-0000-0000-0001-000000000004', 100, 'PROMOTION',
       'fixed-credit-4', p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT hold_id AS spared_hold FROM loyalty.hold_points('e0000000-0000-0000-0001-000000000004', 60,
       'e0000000-0000-0000-0000-00000000ca51', 'two tickets for the late show', 'spared-hold-1',
       now() + interval '2 years', p_casino_id => 'e0000000-0000-0000-0000-0000000000f1') \gset
UPDATE loyalty.point_lot SET expires_at = clock_timestamp() - interval '1 second'
 WHERE player_id = 'e0000000-0000-0000-0001-000000000004';
SELECT points FROM loyalty.expire_points(p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT balance_before, balance_after FROM loyalty.capture_hold(:spared_hold, 'e0000000-0000-0000-0000-00000000ca51',
       p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SELECT l.points AS lot, l.remaining FROM loyalty.point_lot l
 WHERE l.player_id = 'e0000000-0000-0000-0001-000000000004' ORDER BY l.lot_id;

-- Under inactivity, the clock is the last change other than an
-- expiration: neither the expiry, a hold nor a reconciliation restarts it.
SELECT balance_after FROM loyalty.increment_player_loyalty('e0000000-0000-0000-0001-000000000005', 100, 'PROMOTION',
       'inactivity-credit-5', p_casino_id => 'e0000000-0000-0000-0000-0000000000a1');
UPDATE loyalty.player_loyalty SET updated_at = now() + interval '5 years'
 WHERE player_id = 'e0000000-0000-0000-0001-000000000005';
SELECT next_expiry_at < now() + interval '19 months' AS from_the_last_credit
  FROM loyalty.player_account('e0000000-0000-0000-0001-000000000005', 'e0000000-0000-0000-0000-0000000000a1');
SELECT points FROM loyalty.expire_points(p_as_of => now() + interval '19 months',
                                         p_casino_id => 'e0000000-0000-0000-0000-0000000000a1');

-- Nobody writes an EXPIRATION by hand, and only a superuser runs the job
-- as of a future moment.
SELECT * FROM loyalty.increment_player_loyalty('e0000000-0000-0000-0001-000000000002', -5, 'EXPIRATION', 'by-hand',
       p_casino_id => 'e0000000-0000-0000-0000-0000000000a1');
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE ROLE expiry_job_role LOGIN;
GRANT USAGE ON SCHEMA loyalty TO expiry_job_role;
GRANT EXECUTE ON FUNCTION loyalty.expire_points TO expiry_job_role;
SET SESSION AUTHORIZATION expiry_job_role;
SELECT * FROM loyalty.expire_points(p_as_of => now() + interval '5 years');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) AS expired_now FROM loyalty.expire_points();
RESET SESSION AUTHORIZATION;
DROP OWNED BY expiry_job_role;
DROP ROLE expiry_job_role;

-- A debit consumes lots with its statement's generic plan: plan_cache_mode
-- is set for that statement as a function's SET clause sets it, so a
-- setting changed inside it (here by a trigger a DBA added) ends with it,
-- and the session's own plan_cache_mode is what it was, in the
-- transaction and after it.
SELECT balance_after FROM loyalty.increment_player_loyalty('e0000000-0000-0000-0001-000000000009', 100, 'PROMOTION',
       'guc-credit-1', p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
CREATE FUNCTION public.regress_sets_a_setting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
    RETURN NULL;
END $$;
CREATE TRIGGER regress_sets_a_setting AFTER INSERT ON loyalty.lot_consumption
    FOR EACH STATEMENT EXECUTE FUNCTION public.regress_sets_a_setting();
BEGIN;
SELECT balance_after FROM loyalty.redeem_points('e0000000-0000-0000-0001-000000000009', 1,
       'e0000000-0000-0000-0000-00000000ca51', 'a coffee at the bar', 'guc-redeem-1',
       p_casino_id => 'e0000000-0000-0000-0000-0000000000f1');
SHOW plan_cache_mode;
COMMIT;
SHOW plan_cache_mode;
DROP TRIGGER regress_sets_a_setting ON loyalty.lot_consumption;
DROP FUNCTION public.regress_sets_a_setting();

SELECT * FROM loyalty.drift_check();
