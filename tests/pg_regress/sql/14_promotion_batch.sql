-- A campaign credited to a segment in one call (apply_promotion_batch,
-- SPEC section 12), as marketing runs it: one row per player, each credited
-- once however often the run is repeated, the budget exact, refusals named
-- by SQLSTATE, and the same keys as apply_promotion so the two replay each
-- other.
\pset footer off
SET loyalty.correlation_id = 'regress-batch';

INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
VALUES ('winter-mailer', 250, now() - interval '1 day', now() + interval '30 days', 1000),
       ('closed-mailer', 250, now() - interval '30 days', now() - interval '1 day', 1000);

-- One player was credited by apply_promotion before the run.
SELECT balance_after FROM loyalty.apply_promotion('b0000000-0000-0000-0000-000000000002', 'winter-mailer', 250);

-- The run: a new player, the one credited before, a NULL, a player named
-- twice, and more players than the budget (1000 = 4 credits) pays for.
SELECT player_id, outcome, balance_after, sqlstate, message
  FROM loyalty.apply_promotion_batch('winter-mailer', ARRAY[
        'b0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002', NULL,
        'b0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000003',
        'b0000000-0000-0000-0000-000000000004', 'b0000000-0000-0000-0000-000000000005']::uuid[]);

-- The budget is spent exactly; every credit is an audited PROMOTION row of
-- the campaign, credit number 1, under the run's correlation id.
SELECT credited_points, budget_points FROM loyalty.promotion_campaign WHERE reward_id = 'winter-mailer';
SELECT player_id, points_change, campaign_credit, correlation_id, idempotency_key = loyalty.promotion_key(player_id, 'winter-mailer') AS apply_promotion_key
  FROM loyalty.loyalty_ledger WHERE campaign_id IS NOT NULL AND player_id::text LIKE 'b0000000-0000-0000-0000-00000000000_' ORDER BY player_id;

-- Repeating the run changes nothing: the credited are replays, the refused
-- still refused.
SELECT outcome, sqlstate, count(*)
  FROM loyalty.apply_promotion_batch('winter-mailer', ARRAY[
        'b0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002',
        'b0000000-0000-0000-0000-000000000003', 'b0000000-0000-0000-0000-000000000004',
        'b0000000-0000-0000-0000-000000000005']::uuid[])
 GROUP BY outcome, sqlstate ORDER BY outcome;

-- apply_promotion after the run is a replay of the run's credit.
SELECT balance_after, idempotent_replay FROM loyalty.apply_promotion('b0000000-0000-0000-0000-000000000001', 'winter-mailer', 250);

-- A key taken by another request of the same type is a conflict (23505);
-- a key squatted by a row of another type does not block the credit (it
-- moves to a displaced key, as for apply_promotion).
UPDATE loyalty.promotion_campaign SET budget_points = 2000 WHERE reward_id = 'winter-mailer';
SELECT balance_after FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000006', 5, 'PROMOTION',
       loyalty.promotion_key('b0000000-0000-0000-0000-000000000006', 'winter-mailer'));
INSERT INTO loyalty.staff_permission (staff_id, capabilities) VALUES ('b0000000-0000-0000-0000-00000000ca51', ARRAY['loyalty:redeem']);
SELECT balance_after FROM loyalty.redeem_points('b0000000-0000-0000-0000-000000000002', 10,
       'b0000000-0000-0000-0000-00000000ca51', 'a coffee at the bar', loyalty.promotion_key('b0000000-0000-0000-0000-000000000007', 'winter-mailer'));
SELECT player_id, outcome, balance_after, sqlstate
  FROM loyalty.apply_promotion_batch('winter-mailer', ARRAY[
        'b0000000-0000-0000-0000-000000000006', 'b0000000-0000-0000-0000-000000000007']::uuid[]);
SELECT player_id, transaction_type, points_change, idempotency_key = loyalty.promotion_key(player_id, 'winter-mailer') AS plain_key
  FROM loyalty.loyalty_ledger WHERE player_id IN ('b0000000-0000-0000-0000-000000000006', 'b0000000-0000-0000-0000-000000000007')
 ORDER BY id;

-- A campaign that has credited nothing yet looks no key up before its
-- insert: keys squatted before its first run are found by the insert, and
-- the run is decided again knowing them.  The budget (two credits) pays
-- the two players not refused: the conflicting key takes none of it.
INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
VALUES ('spring-mailer', 100, now() - interval '1 day', now() + interval '30 days', 200);
SELECT balance_after FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 5, 'PROMOTION',
       loyalty.promotion_key('b0000000-0000-0000-0000-000000000001', 'spring-mailer'));
SELECT balance_after FROM loyalty.redeem_points('b0000000-0000-0000-0000-000000000002', 10,
       'b0000000-0000-0000-0000-00000000ca51', 'a coffee at the bar', loyalty.promotion_key('b0000000-0000-0000-0000-000000000003', 'spring-mailer'));
SELECT player_id, outcome, balance_after, sqlstate
  FROM loyalty.apply_promotion_batch('spring-mailer', ARRAY[
        'b0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000003',
        'b0000000-0000-0000-0000-000000000004']::uuid[]);
SELECT credited_points, budget_points FROM loyalty.promotion_campaign WHERE reward_id = 'spring-mailer';
SELECT player_id, transaction_type, points_change, idempotency_key = loyalty.promotion_key(player_id, 'spring-mailer') AS plain_key
  FROM loyalty.loyalty_ledger WHERE campaign_id = (SELECT id FROM loyalty.promotion_campaign WHERE reward_id = 'spring-mailer')
 ORDER BY id;

-- Campaign-wide refusals fail the call; bad arguments are 22023.
SELECT * FROM loyalty.apply_promotion_batch('no-such-mailer', ARRAY['b0000000-0000-0000-0000-000000000001']::uuid[]);
SELECT * FROM loyalty.apply_promotion_batch('closed-mailer', ARRAY['b0000000-0000-0000-0000-000000000001']::uuid[]);
SELECT * FROM loyalty.apply_promotion_batch('  ', ARRAY['b0000000-0000-0000-0000-000000000001']::uuid[]);
SELECT * FROM loyalty.apply_promotion_batch('winter-mailer', NULL);
SELECT count(*) FROM loyalty.apply_promotion_batch('winter-mailer', ARRAY[]::uuid[]);

-- At a casino that keeps lots, every credit opens its lot.
INSERT INTO loyalty.casino (casino_id, name, expiry_policy, expiry_months)
VALUES ('b0000000-0000-0000-0000-0000000000f1', 'Batch Fixed Term Casino', 'fixed', 12);
INSERT INTO loyalty.promotion_campaign (casino_id, reward_id, points_per_credit, valid_from, valid_to, budget_points)
VALUES ('b0000000-0000-0000-0000-0000000000f1', 'winter-mailer', 100, now() - interval '1 day', now() + interval '30 days', 1000);
SELECT outcome, balance_after
  FROM loyalty.apply_promotion_batch('winter-mailer', ARRAY['b0000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000008']::uuid[], p_casino_id => 'b0000000-0000-0000-0000-0000000000f1');
SELECT player_id, points, remaining FROM loyalty.point_lot
 WHERE casino_id = 'b0000000-0000-0000-0000-0000000000f1' ORDER BY player_id;

-- Balances are what the ledger says.
SELECT player_id, current_balance FROM loyalty.player_loyalty
 WHERE player_id::text LIKE 'b0000000-0000-0000-0000-00000000000_' ORDER BY casino_id, player_id;
SELECT * FROM loyalty.drift_check();
