-- Staff and marketing rewards: manual rewards, promotions, redemptions,
-- adjustments and reversals, with limits, permissions and gaming days.
\pset footer off
SET loyalty.correlation_id = 'regress-rewards';
-- Staff: a host who may only award, and a cashier who may only redeem.
INSERT INTO loyalty.staff_permission (staff_id, capabilities) VALUES
    ('5aff0000-0000-0000-0000-0000000000a1', ARRAY['loyalty:award']),
    ('5aff0000-0000-0000-0000-0000000000c1', ARRAY['loyalty:redeem']);

-- Scenario 3: a manual reward of 100 is a MANUAL_BONUS row with the staff id.
SELECT balance_before, balance_after, tier_after, idempotent_replay
  FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000001', '5aff0000-0000-0000-0000-0000000000a1',
                             100, 'birthday dinner for a regular');
SELECT transaction_type, points_change, staff_id, balance_before, balance_after, reason
  FROM loyalty.loyalty_ledger WHERE player_id = 'd0000000-0000-0000-0000-000000000001';

-- Scenario 8: the same reward again in the same gaming day is a replay...
SELECT balance_after, idempotent_replay
  FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000001', '5aff0000-0000-0000-0000-0000000000a1',
                             100, 'birthday dinner for a regular');
-- ... unless the host means a second one (sequence 2).
SELECT balance_after, idempotent_replay
  FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000001', '5aff0000-0000-0000-0000-0000000000a1',
                             100, 'birthday dinner for a regular', p_sequence => 2);

-- The gaming day starts at 06:00 local time, not at midnight.
SET loyalty.gaming_day_timezone = 'Etc/GMT+7';  -- UTC-7, a Las Vegas summer
SELECT loyalty.gaming_day('2026-03-14 05:59:59-07') AS before_six, loyalty.gaming_day('2026-03-14 06:00:00-07') AS at_six;
SELECT loyalty.gaming_day('2026-03-14 23:30:00-07') AS late_evening, loyalty.gaming_day('2026-03-15 02:00:00-07') AS after_midnight;
SET loyalty.gaming_day_start = '04:30';
SELECT loyalty.gaming_day('2026-03-14 04:29:59-07') AS before_half_four, loyalty.gaming_day('2026-03-14 04:30:00-07') AS at_half_four;
SET loyalty.gaming_day_start = '6am';
SELECT loyalty.gaming_day(now());
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET loyalty.gaming_day_start;
SET loyalty.gaming_day_timezone = 'Mars/Olympus_Mons';
SELECT loyalty.gaming_day(now());
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET loyalty.gaming_day_timezone;
-- Its key carries the gaming day: a different day, a different key.
SELECT loyalty.manual_reward_key('d0000000-0000-0000-0000-000000000001', '5aff0000-0000-0000-0000-0000000000a1',
                                 100, 'birthday dinner for a regular', '2026-03-13')
    <> loyalty.manual_reward_key('d0000000-0000-0000-0000-000000000001', '5aff0000-0000-0000-0000-0000000000a1',
                                 100, 'birthday dinner for a regular', '2026-03-14') AS day_changes_key;
SELECT loyalty.manual_reward_key('d0000000-0000-0000-0000-000000000001', '5aff0000-0000-0000-0000-0000000000a1',
                                 100, 'birthday dinner for a regular')
     = loyalty.manual_reward_key('d0000000-0000-0000-0000-000000000001', '5aff0000-0000-0000-0000-0000000000a1',
                                 100, 'birthday dinner for a regular', loyalty.gaming_day()) AS defaults_to_today;

-- Crossing the boundary without waiting: the same moment is one gaming day
-- later at UTC+12 than at UTC-12.  Scenario 8's "next gaming day" ...
SET loyalty.gaming_day_timezone = 'Etc/GMT+12';
SELECT balance_after, idempotent_replay
  FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000008', '5aff0000-0000-0000-0000-0000000000a1',
                             100, 'same reward on two gaming days');
SELECT balance_after, idempotent_replay
  FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000008', '5aff0000-0000-0000-0000-0000000000a1',
                             100, 'same reward on two gaming days');
SET loyalty.gaming_day_timezone = 'Etc/GMT-12';
SELECT balance_after, idempotent_replay
  FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000008', '5aff0000-0000-0000-0000-0000000000a1',
                             100, 'same reward on two gaming days');
-- ... and back: the first day's reward is still a replay.
SET loyalty.gaming_day_timezone = 'Etc/GMT+12';
SELECT balance_after, idempotent_replay
  FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000008', '5aff0000-0000-0000-0000-0000000000a1',
                             100, 'same reward on two gaming days');
RESET loyalty.gaming_day_timezone;
SELECT count(*) AS rows, sum(points_change) AS balance FROM loyalty.loyalty_ledger
 WHERE player_id = 'd0000000-0000-0000-0000-000000000008';

-- The limit: 10,000 passes, 10,001 fails (22003).
SELECT balance_after FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000002',
       '5aff0000-0000-0000-0000-0000000000a1', 10000, 'high roller welcome package');
SELECT * FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000002',
       '5aff0000-0000-0000-0000-0000000000a1', 10001, 'high roller welcome package');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- A reason needs 10 non-blank characters (22023).
SELECT * FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000002',
       '5aff0000-0000-0000-0000-0000000000a1', 50, '   thanks   ');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000002',
       '5aff0000-0000-0000-0000-0000000000a1', 50, 'good game', p_sequence => 0);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- Deny by default: an unknown staff member, or one without the capability (42501).
SELECT * FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000002',
       '5aff0000-0000-0000-0000-0000000000ff', 50, 'unknown host tries a reward');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000002',
       '5aff0000-0000-0000-0000-0000000000c1', 50, 'cashier tries to award points');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- The raw write path enforces the same rules.
SELECT * FROM loyalty.increment_player_loyalty('d0000000-0000-0000-0000-000000000002', 50, 'MANUAL_BONUS',
       'raw-bonus-1', p_reason => 'cashier tries to award points',
       p_staff_id => '5aff0000-0000-0000-0000-0000000000c1');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- A session bound to a staff member cannot act for another one (42501).
SET loyalty.session_staff_id = '5aff0000-0000-0000-0000-0000000000c1';
SELECT * FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000002',
       '5aff0000-0000-0000-0000-0000000000a1', 50, 'acting for someone else');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET loyalty.session_staff_id;

-- Promotions are registered campaigns (the admin role inserts them): a
-- reward id, points per credit, a window, credits per player, a budget.
INSERT INTO loyalty.promotion_campaign
    (reward_id, points_per_credit, valid_from, valid_to, credits_per_player, budget_points, description)
VALUES ('promo-xyz-2025', 500, now() - interval '1 day', now() + interval '30 days', 1, 100000, 'autumn mailer'),
       ('promo-host-1', 50, now() - interval '1 day', now() + interval '30 days', 1, 1000, 'host welcome'),
       ('promo-twice', 40, now() - interval '1 day', now() + interval '30 days', 2, 100, 'two stamps'),
       ('promo-ended', 10, now() - interval '30 days', now() - interval '1 day', 1, 1000, 'summer mailer');
-- A credit is keyed by the external reward id: redelivery is a replay.
SELECT balance_after, idempotent_replay
  FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000003', 'promo-xyz-2025', 500, 'autumn mailer');
SELECT balance_after, idempotent_replay
  FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000003', 'promo-xyz-2025', 500, 'autumn mailer');
SELECT idempotency_key = loyalty.promotion_key('d0000000-0000-0000-0000-000000000003', 'promo-xyz-2025') AS keyed_by_reward
  FROM loyalty.loyalty_ledger WHERE player_id = 'd0000000-0000-0000-0000-000000000003';
-- The same reward id with another amount is a conflict (23505).
SELECT * FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000003', 'promo-xyz-2025', 900, 'autumn mailer');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000003', '  ', 900);
\echo sqlstate :LAST_ERROR_SQLSTATE
-- A named staff member needs loyalty:promote.
SELECT * FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000003', 'promo-host-1', 50,
       p_staff_id => '5aff0000-0000-0000-0000-0000000000a1');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- An unknown reward id (P0002), another amount than the campaign's (22023),
-- a campaign outside its window (55000).
SELECT * FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000003', 'any-invented-id', 2000000000);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000004', 'promo-host-1', 5000);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000004', 'promo-ended', 10);
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Credits per player: the second credit takes p_sequence 2; a third is 53400.
SELECT balance_after FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000004', 'promo-twice', 40);
SELECT balance_after FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000004', 'promo-twice', 40,
       p_sequence => 2);
SELECT * FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000004', 'promo-twice', 40,
       p_sequence => 3);
\echo sqlstate :LAST_ERROR_SQLSTATE
-- The budget (100 points, 80 credited) has no room for another 40 (53400).
SELECT * FROM loyalty.apply_promotion('d0000000-0000-0000-0000-000000000005', 'promo-twice', 40);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT reward_id, credited_points, budget_points, actor_role FROM loyalty.promotion_campaign ORDER BY reward_id;

-- Redemptions: positive points in, never below zero (23514, balance and request in DETAIL).
SELECT balance_before, balance_after, lifetime_points
  FROM loyalty.redeem_points('d0000000-0000-0000-0000-000000000003', 200, '5aff0000-0000-0000-0000-0000000000c1',
                             'buffet comp for two', 'redeem-buffet-1');
SELECT * FROM loyalty.redeem_points('d0000000-0000-0000-0000-000000000003', 301, '5aff0000-0000-0000-0000-0000000000c1',
                                    'show tickets', 'redeem-show-1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.redeem_points('d0000000-0000-0000-0000-000000000003', -5, '5aff0000-0000-0000-0000-0000000000c1',
                                    'show tickets', 'redeem-show-2');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.redeem_points('d0000000-0000-0000-0000-000000000003', 5, '5aff0000-0000-0000-0000-0000000000a1',
                                    'host redeems without the right', 'redeem-show-3');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- Adjustments: either sign, by loyalty:adjust, same limit and reason rules.
SELECT balance_before, balance_after
  FROM loyalty.adjust_points('d0000000-0000-0000-0000-000000000003', '57aff000-0000-0000-0000-000000000001',
                             -50, 'duplicate mailer credit removed', 'adjust-1');
SELECT balance_before, balance_after
  FROM loyalty.adjust_points('d0000000-0000-0000-0000-000000000003', '57aff000-0000-0000-0000-000000000001',
                             25, 'goodwill after a machine fault', 'adjust-2');
SELECT * FROM loyalty.adjust_points('d0000000-0000-0000-0000-000000000003', '57aff000-0000-0000-0000-000000000001',
                                    -10001, 'too large a correction here', 'adjust-3');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.adjust_points('d0000000-0000-0000-0000-000000000003', '5aff0000-0000-0000-0000-0000000000a1',
                                    5, 'host tries an adjustment', 'adjust-4');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- Reversals cancel one entry, once; again is a replay.
SELECT id AS redeem_id FROM loyalty.loyalty_ledger WHERE idempotency_key = 'redeem-buffet-1' \gset
SELECT balance_before, balance_after, idempotent_replay
  FROM loyalty.reverse_entry(:redeem_id, '57aff000-0000-0000-0000-000000000001', 'buffet was closed, comp refunded');
SELECT balance_before, balance_after, idempotent_replay
  FROM loyalty.reverse_entry(:redeem_id, '57aff000-0000-0000-0000-000000000001', 'second click on the refund button');
SELECT transaction_type, points_change, reverses_ledger_id = :redeem_id AS links_entry, reason
  FROM loyalty.loyalty_ledger WHERE transaction_type = 'REVERSAL' AND player_id = 'd0000000-0000-0000-0000-000000000003';
-- A reversal cannot itself be reversed (55000).
SELECT id AS reversal_id FROM loyalty.loyalty_ledger WHERE reverses_ledger_id = :redeem_id \gset
SELECT * FROM loyalty.reverse_entry(:reversal_id, '57aff000-0000-0000-0000-000000000001', 'undo the refund please');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Unknown entry (P0002).
SELECT * FROM loyalty.reverse_entry(999999999, '57aff000-0000-0000-0000-000000000001', 'no such entry exists');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- A reversal that would take the balance below zero is refused (23514).
SELECT balance_after FROM loyalty.redeem_points('d0000000-0000-0000-0000-000000000003', 475,
       '5aff0000-0000-0000-0000-0000000000c1', 'spa day, all points', 'redeem-spa-1');
SELECT id AS promo_id FROM loyalty.loyalty_ledger WHERE idempotency_key = loyalty.promotion_key('d0000000-0000-0000-0000-000000000003', 'promo-xyz-2025') \gset
SELECT * FROM loyalty.reverse_entry(:promo_id, '57aff000-0000-0000-0000-000000000001', 'mailer sent by mistake');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- REVERSAL rows only come from reverse_entry (22023).
SELECT * FROM loyalty.increment_player_loyalty('d0000000-0000-0000-0000-000000000003', -5, 'REVERSAL', 'raw-rev-1',
       p_reason => 'raw reversal attempt', p_staff_id => '57aff000-0000-0000-0000-000000000001');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- validate_reward: the checks without a write.
SELECT * FROM loyalty.validate_reward(500, 'vip host welcome gift', '5aff0000-0000-0000-0000-0000000000c1');
SELECT * FROM loyalty.validate_reward(10001, 'vip host welcome gift', '5aff0000-0000-0000-0000-0000000000a1');
SELECT * FROM loyalty.validate_reward(500, 'short', '5aff0000-0000-0000-0000-0000000000a1');
SELECT valid, sqlstate, remaining FROM loyalty.validate_reward(500, 'vip host welcome gift', '5aff0000-0000-0000-0000-0000000000a1');

-- Rate limit (here 5 per window for the host, who has granted 5 rewards already).
SET loyalty.manual_reward_rate_limit = 5;
SELECT remaining, reset_at IS NOT NULL AS has_reset, used, rate_limit, window_seconds
  FROM loyalty.rate_limit_status('5aff0000-0000-0000-0000-0000000000a1');
\set VERBOSITY terse
SELECT * FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000004',
       '5aff0000-0000-0000-0000-0000000000a1', 10, 'one reward too many');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- A replay of an accepted reward is served, not refused, and uses no quota.
SELECT balance_after, idempotent_replay
  FROM loyalty.manual_reward('d0000000-0000-0000-0000-000000000001', '5aff0000-0000-0000-0000-0000000000a1',
                             100, 'birthday dinner for a regular');
SELECT valid, sqlstate, message FROM loyalty.validate_reward(10, 'one reward too many', '5aff0000-0000-0000-0000-0000000000a1');
RESET loyalty.manual_reward_rate_limit;

SELECT * FROM loyalty.drift_check();
