-- The outbox (SPEC 16): events written in the transaction of the change,
-- read by consumers with claim_events and ack_events, at least once, none
-- skipped (isolation spec events_commit_out_of_id_order), pruned by
-- prune_events.
\pset footer off
SET loyalty.correlation_id = 'regress-events';
INSERT INTO loyalty.staff_permission (staff_id, capabilities)
VALUES ('5aff0000-0000-0000-0016-000000000001', ARRAY['loyalty:redeem']);

-- A new consumer first takes every event retained (earlier tests wrote
-- some); acknowledging them starts it from now.
SELECT count(*) > 0 AS retained FROM loyalty.claim_events('regress-feed', 10000);
SELECT loyalty.ack_events('regress-feed', ARRAY(SELECT event_id FROM loyalty.event)) > 0 AS acknowledged;
SELECT count(*) AS pending FROM loyalty.claim_events('regress-feed');

-- A plain credit is no event (balance events are opt-in per casino); a
-- tier upgrade is.
SELECT balance_after, tier_after FROM loyalty.increment_player_loyalty('e7000000-0000-0000-0000-000000000001', 50, 'PROMOTION', 'regress-ev-1');
SELECT count(*) AS events FROM loyalty.claim_events('regress-feed');
SELECT balance_after, tier_after FROM loyalty.increment_player_loyalty('e7000000-0000-0000-0000-000000000001', 20000, 'PROMOTION', 'regress-ev-2');
SELECT kind, casino_id, player_id, payload - 'ledger_id' AS payload, correlation_id
  FROM loyalty.claim_events('regress-feed');
-- The ledger id in the payload is the upgrading change's.
SELECT (SELECT (payload->>'ledger_id')::bigint FROM loyalty.claim_events('regress-feed'))
     = (SELECT id FROM loyalty.loyalty_ledger WHERE idempotency_key = 'regress-ev-2') AS same_ledger_id;

-- Not acknowledged, it comes back to the same consumer; acknowledged, not.
SELECT kind FROM loyalty.claim_events('regress-feed');
SELECT loyalty.ack_events('regress-feed', ARRAY(SELECT event_id FROM loyalty.claim_events('regress-feed'))) AS acked;
SELECT count(*) AS pending FROM loyalty.claim_events('regress-feed');
-- A replay writes no event.
SELECT idempotent_replay FROM loyalty.increment_player_loyalty('e7000000-0000-0000-0000-000000000001', 20000, 'PROMOTION', 'regress-ev-2');
SELECT count(*) AS events FROM loyalty.claim_events('regress-feed');

-- Holds: placed and released, each an event.
SELECT points, status FROM loyalty.hold_points('e7000000-0000-0000-0000-000000000001', 300,
    '5aff0000-0000-0000-0016-000000000001', 'dinner comp on hold', 'regress-ev-hold');
SELECT status FROM loyalty.release_hold((SELECT hold_id FROM loyalty.point_hold WHERE idempotency_key = 'regress-ev-hold'),
    '5aff0000-0000-0000-0016-000000000001', 'guest left before dinner');
SELECT kind, player_id, payload - 'hold_id' - 'expires_at' AS payload
  FROM loyalty.claim_events('regress-feed');
SELECT loyalty.ack_events('regress-feed', ARRAY(SELECT event_id FROM loyalty.claim_events('regress-feed'))) AS acked;

-- Every balance change is an event where the casino asks for it.
UPDATE loyalty.casino SET balance_events = true WHERE casino_id = '00000000-0000-0000-0000-000000000000';
SELECT balance_after FROM loyalty.increment_player_loyalty('e7000000-0000-0000-0000-000000000002', 40, 'PROMOTION', 'regress-ev-3');
SELECT balance_after FROM loyalty.redeem_points('e7000000-0000-0000-0000-000000000002', 15,
    '5aff0000-0000-0000-0016-000000000001', 'coffee and a sandwich', 'regress-ev-4');
SELECT kind, player_id, payload - 'ledger_id' AS payload FROM loyalty.claim_events('regress-feed');
SELECT loyalty.ack_events('regress-feed', ARRAY(SELECT event_id FROM loyalty.claim_events('regress-feed'))) AS acked;
UPDATE loyalty.casino SET balance_events = false WHERE casino_id = '00000000-0000-0000-0000-000000000000';

-- Bad input is refused, and names what is wrong.
\set VERBOSITY verbose
\set SHOW_CONTEXT never
SELECT * FROM loyalty.claim_events('bad consumer!');
SELECT * FROM loyalty.claim_events(NULL);
SELECT * FROM loyalty.claim_events('regress-feed', 0);
SELECT * FROM loyalty.claim_events('regress-feed', 10001);
-- A consumer belongs to its casino: a session bound to another one can
-- neither claim its events nor acknowledge them away.
INSERT INTO loyalty.casino (casino_id, name) VALUES ('e7000000-0000-0000-0000-0000000000ca', 'events casino');
SET loyalty.session_casino_id = 'e7000000-0000-0000-0000-0000000000ca';
SELECT * FROM loyalty.claim_events('regress-feed');
SELECT loyalty.ack_events('regress-feed', ARRAY[1, 2, 3]);
-- Its own consumer sees only its casino's events.
SELECT count(*) AS events FROM loyalty.claim_events('regress-casino-feed');
RESET loyalty.session_casino_id;
\set VERBOSITY default
\set SHOW_CONTEXT errors
SELECT consumer, casino_id FROM loyalty.event_consumer WHERE consumer LIKE 'regress-%' ORDER BY consumer;

-- Pruning: events every consumer has taken and acknowledged, older than
-- the retention.  Nothing is younger than a day here; everything acked
-- goes with a retention of zero, and no pending event does.
SELECT loyalty.prune_events() AS pruned_with_default_retention;
SELECT balance_after, tier_after FROM loyalty.increment_player_loyalty('e7000000-0000-0000-0000-000000000003', 20000, 'PROMOTION', 'regress-ev-5');
SELECT count(*) AS pending FROM loyalty.claim_events('regress-feed');
SELECT loyalty.prune_events('0 seconds') > 0 AS pruned;
SELECT count(*) AS pending_kept FROM loyalty.claim_events('regress-feed');
SELECT count(*) AS events_left FROM loyalty.event;

SELECT * FROM loyalty.drift_check();
