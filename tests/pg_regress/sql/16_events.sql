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
-- A reconciliation that rebuilds a balance is a balance change too.
INSERT INTO loyalty.staff_permission (staff_id, capabilities)
VALUES ('5aff0000-0000-0000-0016-000000000002', ARRAY['loyalty:adjust']);
UPDATE loyalty.player_loyalty SET current_balance = current_balance + 7 WHERE player_id = 'e7000000-0000-0000-0000-000000000002';
SELECT changed, balance_before, balance_after FROM loyalty.reconcile_player('e7000000-0000-0000-0000-000000000002',
    '5aff0000-0000-0000-0016-000000000002', 'drift found by the night audit');
SELECT kind, player_id, payload - 'reconciliation_id' AS payload FROM loyalty.claim_events('regress-feed');
SELECT loyalty.ack_events('regress-feed', ARRAY(SELECT event_id FROM loyalty.claim_events('regress-feed'))) AS acked;
-- ... and a tier it raises (here: SILVER's threshold lowered) a tier upgrade.
UPDATE loyalty.tier SET threshold = 20 WHERE name = 'SILVER' AND casino_id = '00000000-0000-0000-0000-000000000000';
SELECT changed, tier_before, tier_after FROM loyalty.reconcile_player('e7000000-0000-0000-0000-000000000002',
    '5aff0000-0000-0000-0016-000000000002', 'silver threshold lowered by marketing');
SELECT kind, player_id, payload - 'reconciliation_id' AS payload FROM loyalty.claim_events('regress-feed');
SELECT loyalty.ack_events('regress-feed', ARRAY(SELECT event_id FROM loyalty.claim_events('regress-feed'))) AS acked;
UPDATE loyalty.tier SET threshold = 1000 WHERE name = 'SILVER' AND casino_id = '00000000-0000-0000-0000-000000000000';
UPDATE loyalty.casino SET balance_events = false WHERE casino_id = '00000000-0000-0000-0000-000000000000';

-- Bad input is refused, and names what is wrong.
\set VERBOSITY verbose
\set SHOW_CONTEXT never
SELECT * FROM loyalty.claim_events('bad consumer!');
SELECT * FROM loyalty.claim_events(NULL);
SELECT * FROM loyalty.claim_events('regress-feed', 0);
SELECT * FROM loyalty.claim_events('regress-feed', 10001);
-- Consumer names are per casino: a session bound to another casino gets a
-- consumer of its own under the same name, which takes only that casino's
-- events and cannot acknowledge the other's away.
INSERT INTO loyalty.casino (casino_id, name) VALUES ('e7000000-0000-0000-0000-0000000000ca', 'events casino');
SELECT balance_after, tier_after FROM loyalty.increment_player_loyalty('e7000000-0000-0000-0000-000000000004', 20000, 'PROMOTION', 'regress-ev-6');
SET loyalty.session_casino_id = 'e7000000-0000-0000-0000-0000000000ca';
SELECT count(*) AS events FROM loyalty.claim_events('regress-feed');
SELECT loyalty.ack_events('regress-feed', ARRAY(SELECT event_id FROM loyalty.event)) AS acked;
SELECT balance_after, tier_after FROM loyalty.increment_player_loyalty('e7000000-0000-0000-0000-000000000005', 20000, 'PROMOTION', 'regress-ev-7');
SELECT kind, casino_id, player_id FROM loyalty.claim_events('regress-feed');
-- A bound auditor reading the outbox directly sees its casino's events only.
CREATE ROLE regress_events_auditor;
GRANT USAGE ON SCHEMA loyalty TO regress_events_auditor;
GRANT SELECT ON loyalty.event, loyalty.event_consumer, loyalty.event_pending TO regress_events_auditor;
SET ROLE regress_events_auditor;
SELECT DISTINCT casino_id FROM loyalty.event;
SELECT consumer, casino_id FROM loyalty.event_consumer;
RESET ROLE;
RESET loyalty.session_casino_id;
-- The unbound consumer's event is still there for it.
SELECT kind, casino_id, player_id FROM loyalty.claim_events('regress-feed');
SELECT loyalty.ack_events('regress-feed', ARRAY(SELECT event_id FROM loyalty.claim_events('regress-feed'))) AS acked;
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

-- A consumer no longer run is dropped, with what it had pending.
SET loyalty.session_casino_id = 'e7000000-0000-0000-0000-0000000000ca';
SELECT loyalty.drop_event_consumer('regress-feed') AS dropped;
RESET loyalty.session_casino_id;
SELECT consumer, casino_id FROM loyalty.event_consumer WHERE consumer LIKE 'regress-%' ORDER BY consumer;
-- An event waits only for its own casino's consumers (and those of every
-- casino): a consumer of another casino left idle does not keep it.
SET loyalty.session_casino_id = 'e7000000-0000-0000-0000-0000000000ca';
SELECT count(*) >= 0 AS claimed FROM loyalty.claim_events('idle-elsewhere');
RESET loyalty.session_casino_id;
SELECT balance_after, tier_after FROM loyalty.increment_player_loyalty('e7000000-0000-0000-0000-000000000006', 20000, 'PROMOTION', 'regress-ev-8');
SELECT loyalty.ack_events('regress-feed', ARRAY(SELECT event_id FROM loyalty.claim_events('regress-feed'))) AS acked;
SELECT loyalty.prune_events('0 seconds') > 0 AS pruned;
SELECT count(*) AS left_of_player_6 FROM loyalty.event WHERE player_id = 'e7000000-0000-0000-0000-000000000006';

-- A casino has at most 100 consumers (here: idle-elsewhere and 99 more);
-- consumers idle for p_drop_idle are
-- dropped by prune_events.
SET loyalty.session_casino_id = 'e7000000-0000-0000-0000-0000000000ca';
SELECT count(*) AS made FROM generate_series(1, 99) g, LATERAL loyalty.claim_events('cap-' || g, 1);
\set VERBOSITY verbose
\set SHOW_CONTEXT never
SELECT count(*) FROM loyalty.claim_events('cap-100', 1);
\set VERBOSITY default
\set SHOW_CONTEXT errors
RESET loyalty.session_casino_id;
SELECT loyalty.prune_events('7 days', '0 seconds') AS pruned;
SELECT count(*) AS cap_consumers_left FROM loyalty.event_consumer WHERE consumer LIKE 'cap-%';
DROP OWNED BY regress_events_auditor;
DROP ROLE regress_events_auditor;

SELECT * FROM loyalty.drift_check();
