-- Casinos (SPEC section 14), as a DBA sets them up: a group serves two
-- properties from one database, each with its own gaming day, tiers, staff
-- and limits; a login role per casino, bound to it; an auditor per casino
-- and one for the group.  Then what each of them can see and do.
\pset footer off
SET loyalty.correlation_id = 'regress-casinos';

-- The default casino exists from CREATE EXTENSION: single-casino users
-- never name a casino.
SELECT casino_id, name FROM loyalty.casino ORDER BY name;

-- The group adds its properties.  A setting a casino leaves NULL follows
-- the loyalty.* setting of the same name.
INSERT INTO loyalty.casino (casino_id, name, gaming_day_timezone, max_manual_reward, manual_reward_rate_limit)
VALUES ('ca510000-0000-0000-0000-00000000001a', 'Las Vegas Strip', 'America/Los_Angeles', 500, 3),
       ('ca510000-0000-0000-0000-0000000000ac', 'Atlantic City Boardwalk', 'America/New_York', NULL, NULL);

-- Each starts with the default tier ladder, and edits its own.
UPDATE loyalty.tier SET multiplier = 1.40
 WHERE casino_id = 'ca510000-0000-0000-0000-0000000000ac' AND name = 'SILVER';
SELECT c.name AS casino, t.name AS tier, t.threshold, t.multiplier
  FROM loyalty.tier t JOIN loyalty.casino c USING (casino_id)
 WHERE c.name <> 'default' AND t.name IN ('BRONZE', 'SILVER')
 ORDER BY c.name, t.threshold;

-- Staff capabilities are per casino: the same host awards in Las Vegas,
-- and only redeems and adjusts in Atlantic City.
INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities) VALUES
    ('ca510000-0000-0000-0000-00000000001a', '5a000000-0000-0000-0000-000000000001', ARRAY['loyalty:award', 'loyalty:redeem', 'loyalty:adjust']),
    ('ca510000-0000-0000-0000-0000000000ac', '5a000000-0000-0000-0000-000000000001', ARRAY['loyalty:redeem', 'loyalty:adjust']);

-- One application role; a login role per casino, bound to it for good.
CREATE ROLE casinos_app NOLOGIN;
GRANT USAGE ON SCHEMA loyalty TO casinos_app;
GRANT EXECUTE ON FUNCTION loyalty.increment_player_loyalty, loyalty.manual_reward, loyalty.redeem_points,
      loyalty.reverse_entry, loyalty.complete_rating_slip, loyalty.recover_rating_slip, loyalty.gaming_day
   TO casinos_app;
INSERT INTO loyalty.role_permission VALUES ('casinos_app', ARRAY['loyalty:accrue']);
CREATE ROLE floor_vegas LOGIN IN ROLE casinos_app;
ALTER ROLE floor_vegas SET loyalty.session_casino_id = 'ca510000-0000-0000-0000-00000000001a';
CREATE ROLE floor_boardwalk LOGIN IN ROLE casinos_app;
ALTER ROLE floor_boardwalk SET loyalty.session_casino_id = 'ca510000-0000-0000-0000-0000000000ac';

-- Auditors read tables directly and run the audit functions; the casino's
-- own auditor is bound to it, the group's is bound to none.
CREATE ROLE casinos_auditor NOLOGIN;
GRANT USAGE ON SCHEMA loyalty TO casinos_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA loyalty TO casinos_auditor;
REVOKE SELECT ON loyalty.trusted_key FROM casinos_auditor;
GRANT EXECUTE ON FUNCTION loyalty.trace, loyalty.player_statement, loyalty.balance_at, loyalty.drift_check
   TO casinos_auditor;
CREATE ROLE auditor_vegas LOGIN IN ROLE casinos_auditor;
ALTER ROLE auditor_vegas SET loyalty.session_casino_id = 'ca510000-0000-0000-0000-00000000001a';
CREATE ROLE auditor_group LOGIN IN ROLE casinos_auditor;
-- A casino's admin edits its own tiers and staff.
CREATE ROLE admin_boardwalk LOGIN;
GRANT USAGE ON SCHEMA loyalty TO admin_boardwalk;
GRANT SELECT, UPDATE ON loyalty.tier TO admin_boardwalk;
ALTER ROLE admin_boardwalk SET loyalty.session_casino_id = 'ca510000-0000-0000-0000-0000000000ac';

-- The same player plays at both casinos: two accounts, two balances.
\c - floor_vegas
SET loyalty.correlation_id = 'regress-casinos-vegas';
SHOW loyalty.session_casino_id;
SELECT status, points, balance_after, tier_after FROM loyalty.complete_rating_slip(
       '5b000000-0000-0000-0000-00000000001a', 'f5000000-0000-0000-0000-000000000001',
       25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
SELECT balance_after FROM loyalty.manual_reward('f5000000-0000-0000-0000-000000000001',
       '5a000000-0000-0000-0000-000000000001', 200, 'birthday dinner at the steakhouse');
-- The casino's own limit (500) applies, not the server's (10000).
SELECT balance_after FROM loyalty.manual_reward('f5000000-0000-0000-0000-000000000001',
       '5a000000-0000-0000-0000-000000000001', 600, 'suite upgrade for the anniversary');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- The binding cannot be changed or shed by the session.
SET loyalty.session_casino_id = 'ca510000-0000-0000-0000-0000000000ac';
RESET ALL;
SHOW loyalty.session_casino_id;
SET loyalty.correlation_id = 'regress-casinos-vegas';
-- Naming the other casino is refused: read, credit, redeem, recover.
SELECT balance_after FROM loyalty.redeem_points('f5000000-0000-0000-0000-000000000001', 10,
       '5a000000-0000-0000-0000-000000000001', 'buffet comp for two guests', 'vegas-names-boardwalk',
       p_casino_id => 'ca510000-0000-0000-0000-0000000000ac');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT loyalty.gaming_day(now(), 'ca510000-0000-0000-0000-0000000000ac');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.recover_rating_slip('5b000000-0000-0000-0000-0000000000ac',
       p_casino_id => 'ca510000-0000-0000-0000-0000000000ac');
\echo sqlstate :LAST_ERROR_SQLSTATE

\c - floor_boardwalk
SET loyalty.correlation_id = 'regress-casinos-boardwalk';
-- Same play, same player, the Boardwalk's own account.
SELECT status, points, balance_after, tier_after FROM loyalty.complete_rating_slip(
       '5b000000-0000-0000-0000-0000000000ac', 'f5000000-0000-0000-0000-000000000001',
       25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
-- The host does not hold loyalty:award here.
SELECT balance_after FROM loyalty.manual_reward('f5000000-0000-0000-0000-000000000001',
       '5a000000-0000-0000-0000-000000000001', 200, 'birthday dinner at the steakhouse');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT balance_after FROM loyalty.redeem_points('f5000000-0000-0000-0000-000000000001', 100,
       '5a000000-0000-0000-0000-000000000001', 'buffet comp for two guests', 'boardwalk-buffet-1');
-- A Las Vegas slip is unknown here (55000).
SELECT * FROM loyalty.recover_rating_slip('5b000000-0000-0000-0000-00000000001a');
\echo sqlstate :LAST_ERROR_SQLSTATE

\c - postgres
SET loyalty.correlation_id = 'regress-casinos';
-- A Las Vegas entry reversed from the Boardwalk: it does not exist for
-- that session (P0002, as for an id never written), and nothing is written.
SELECT min(id) AS vegas_entry FROM loyalty.loyalty_ledger
 WHERE casino_id = 'ca510000-0000-0000-0000-00000000001a' \gset
\c - floor_boardwalk
SET loyalty.correlation_id = 'regress-casinos-boardwalk';
SELECT ledger_id FROM loyalty.reverse_entry(:vegas_entry, '5a000000-0000-0000-0000-000000000001',
       'reversing another casino''s entry');
\echo sqlstate :LAST_ERROR_SQLSTATE
\c - postgres
SET loyalty.correlation_id = 'regress-casinos';
SELECT count(*) AS reversals FROM loyalty.loyalty_ledger WHERE transaction_type = 'REVERSAL'
   AND reverses_ledger_id = :vegas_entry;

-- Two accounts for one player, each with its casino's tier ladder.
SELECT c.name AS casino, p.current_balance, p.lifetime_points, p.tier
  FROM loyalty.player_loyalty p JOIN loyalty.casino c USING (casino_id)
 WHERE p.player_id = 'f5000000-0000-0000-0000-000000000001'
 ORDER BY c.name;

-- Keys are unique per casino: the same key at both is two changes, the
-- same key twice at one is one.
SELECT c.name AS casino, r.balance_after, r.idempotent_replay
  FROM loyalty.casino c,
       LATERAL loyalty.increment_player_loyalty('f5000000-0000-0000-0000-000000000002', 50, 'PROMOTION',
                                                'welcome-2026', p_casino_id => c.casino_id) r
 WHERE c.name <> 'default'
 ORDER BY c.name;
SELECT balance_after, idempotent_replay FROM loyalty.increment_player_loyalty('f5000000-0000-0000-0000-000000000002',
       50, 'PROMOTION', 'welcome-2026', p_casino_id => 'ca510000-0000-0000-0000-00000000001a');
SELECT count(*) AS rows_for_the_key FROM loyalty.loyalty_ledger WHERE idempotency_key = 'welcome-2026';

-- Each casino's gaming day by its own clock.  At 13:30 UTC it is 05:30 in
-- Las Vegas, before its 06:00 start: still yesterday's gaming day.  In
-- Atlantic City it is 08:30: today's.
SELECT c.name AS casino,
       ('2026-11-26 13:30:00+00'::timestamptz AT TIME ZONE c.gaming_day_timezone)::time AS local_time,
       loyalty.gaming_day('2026-11-26 13:30:00+00', c.casino_id) AS gaming_day
  FROM loyalty.casino c WHERE c.name <> 'default' ORDER BY c.name;
-- A manual reward's key carries its casino's gaming day: the same reward
-- made at that instant at both casinos has two different keys.
SELECT c.name AS casino,
       loyalty.manual_reward_key('f5000000-0000-0000-0000-000000000001', '5a000000-0000-0000-0000-000000000001', 200,
             'birthday dinner at the steakhouse', loyalty.gaming_day('2026-11-26 13:30:00+00', c.casino_id))
         = loyalty.manual_reward_key('f5000000-0000-0000-0000-000000000001', '5a000000-0000-0000-0000-000000000001', 200,
             'birthday dinner at the steakhouse', '2026-11-25') AS key_of_2026_11_25
  FROM loyalty.casino c WHERE c.name <> 'default' ORDER BY c.name;
-- And manual_reward wrote its row under the key of its casino's current gaming day.
SELECT l.idempotency_key = loyalty.manual_reward_key(l.player_id, l.staff_id, l.points_change, l.reason,
                               loyalty.gaming_day(l.created_at, l.casino_id)) AS keyed_by_its_gaming_day
  FROM loyalty.loyalty_ledger l WHERE l.transaction_type = 'MANUAL_BONUS'
   AND l.casino_id = 'ca510000-0000-0000-0000-00000000001a';

-- Direct reads: a casino's auditor sees its casino's rows only, the
-- group's auditor every casino's.
\c - auditor_vegas
SET loyalty.correlation_id = 'regress-casinos-audit';
SELECT c.name AS casino, count(*) AS ledger_rows
  FROM loyalty.loyalty_ledger l JOIN loyalty.casino c USING (casino_id) GROUP BY c.name ORDER BY c.name;
SELECT count(*) AS players FROM loyalty.player_loyalty WHERE player_id = 'f5000000-0000-0000-0000-000000000001';
SELECT source, kind, points FROM loyalty.trace('regress-casinos-boardwalk');
SELECT count(*) AS problems FROM loyalty.drift_check();
SELECT count(*) AS problems FROM loyalty.drift_check('ca510000-0000-0000-0000-0000000000ac');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT balance FROM loyalty.balance_at('f5000000-0000-0000-0000-000000000001', now());
\c - auditor_group
SELECT c.name AS casino, count(*) AS ledger_rows
  FROM loyalty.loyalty_ledger l JOIN loyalty.casino c USING (casino_id)
 WHERE c.name <> 'default' GROUP BY c.name ORDER BY c.name;
SELECT source, kind, points FROM loyalty.trace('regress-casinos-boardwalk') ORDER BY kind;
SELECT balance FROM loyalty.balance_at('f5000000-0000-0000-0000-000000000001', now(),
                                        'ca510000-0000-0000-0000-0000000000ac');
SELECT count(*) AS problems FROM loyalty.drift_check();

-- A casino's admin edits tiers without naming a casino: its own ladder
-- changes, no other.
\c - admin_boardwalk
UPDATE loyalty.tier SET multiplier = 1.60 WHERE name = 'GOLD';
\c - postgres
SELECT c.name AS casino, t.multiplier
  FROM loyalty.tier t JOIN loyalty.casino c USING (casino_id)
 WHERE t.name = 'GOLD' ORDER BY c.name;

SELECT * FROM loyalty.drift_check();
DROP OWNED BY casinos_app, floor_vegas, floor_boardwalk, casinos_auditor, auditor_vegas, auditor_group, admin_boardwalk;
DROP ROLE floor_vegas, floor_boardwalk, casinos_app, auditor_vegas, auditor_group, casinos_auditor, admin_boardwalk;

-- Manual-reward keys use the current gaming day, which each session keeps
-- for its time zone and day start: changing either gives the day they
-- give, at once.
SET loyalty.gaming_day_timezone = 'Pacific/Kiritimati';
SELECT loyalty.manual_reward_key('ca500000-0000-0000-0001-000000000001', 'ca500000-0000-0000-0000-00000000005a', 100,
           'birthday dinner at the steakhouse')
     = loyalty.manual_reward_key('ca500000-0000-0000-0001-000000000001', 'ca500000-0000-0000-0000-00000000005a', 100,
           'birthday dinner at the steakhouse', loyalty.gaming_day(now())) AS kiritimati_day;
SET loyalty.gaming_day_timezone = 'Pacific/Pago_Pago';
SELECT loyalty.manual_reward_key('ca500000-0000-0000-0001-000000000001', 'ca500000-0000-0000-0000-00000000005a', 100,
           'birthday dinner at the steakhouse')
     = loyalty.manual_reward_key('ca500000-0000-0000-0001-000000000001', 'ca500000-0000-0000-0000-00000000005a', 100,
           'birthday dinner at the steakhouse', loyalty.gaming_day(now())) AS pago_pago_day;
SET loyalty.gaming_day_start = '23:59';
SELECT loyalty.manual_reward_key('ca500000-0000-0000-0001-000000000001', 'ca500000-0000-0000-0000-00000000005a', 100,
           'birthday dinner at the steakhouse')
     = loyalty.manual_reward_key('ca500000-0000-0000-0001-000000000001', 'ca500000-0000-0000-0000-00000000005a', 100,
           'birthday dinner at the steakhouse', loyalty.gaming_day(now())) AS late_start_day;
RESET loyalty.gaming_day_start;
RESET loyalty.gaming_day_timezone;

-- A casino's zone given as an abbreviation means what PostgreSQL's default
-- abbreviations say, whatever a session sets: a manual reward's key (and
-- its gaming day) does not move with timezone_abbreviations.
SET loyalty.gaming_day_timezone = 'EST';
SELECT loyalty.manual_reward_key('ca500000-0000-0000-0001-000000000001', 'ca500000-0000-0000-0000-00000000005a', 100,
           'birthday dinner at the steakhouse') AS key_default \gset
SET timezone_abbreviations = 'Australia';
SELECT loyalty.manual_reward_key('ca500000-0000-0000-0001-000000000001', 'ca500000-0000-0000-0000-00000000005a', 100,
           'birthday dinner at the steakhouse') = :'key_default' AS same_key;
-- 03:00 UTC is 22:00 the day before in EST (UTC-5; 13:00 the same day in
-- the Australian meaning of EST, UTC+10).
SELECT loyalty.gaming_day('2026-06-01 03:00+00') AS est_day_of_03_utc;
RESET timezone_abbreviations;
RESET loyalty.gaming_day_timezone;
