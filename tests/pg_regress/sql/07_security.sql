-- Security: the three roles of the README, nothing for PUBLIC, and a
-- hostile user who shadows names in their own schema gains nothing.
\pset footer off
SET loyalty.correlation_id = 'regress-security';

-- The GRANTs exactly as the README gives them.
-- Application: calls the functions, touches no table.
CREATE ROLE loyalty_app NOLOGIN;
GRANT USAGE ON SCHEMA loyalty TO loyalty_app;
GRANT EXECUTE ON FUNCTION
    loyalty.increment_player_loyalty,
    loyalty.manual_reward,
    loyalty.apply_promotion,
    loyalty.apply_promotion_batch,
    loyalty.redeem_points,
    loyalty.adjust_points,
    loyalty.reverse_entry,
    loyalty.complete_rating_slip,
    loyalty.recover_rating_slip,
    loyalty.validate_reward,
    loyalty.rate_limit_status,
    loyalty.hold_points,
    loyalty.capture_hold,
    loyalty.release_hold,
    loyalty.player_account
  TO loyalty_app;
-- A casino floor application closes rating slips: its role may credit
-- gameplay.  It does not get loyalty:promote; promotions are campaigns.
INSERT INTO loyalty.role_permission (role_name, capabilities)
VALUES ('loyalty_app', ARRAY['loyalty:accrue']);

-- Auditor: reads everything but the trusted keys, runs the audit functions, writes nothing.
CREATE ROLE loyalty_auditor NOLOGIN;
GRANT USAGE ON SCHEMA loyalty TO loyalty_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA loyalty TO loyalty_auditor;
REVOKE SELECT ON loyalty.trusted_key FROM loyalty_auditor;
GRANT EXECUTE ON FUNCTION
    loyalty.trace,
    loyalty.player_statement,
    loyalty.balance_at,
    loyalty.drift_check,
    loyalty.rate_limit_status,
    loyalty.player_account,
    loyalty.liability
  TO loyalty_auditor;

-- Admin: everything the auditor has, plus staff and role capabilities,
-- tiers, campaigns, reconcile and recovery.
CREATE ROLE loyalty_admin NOLOGIN;
GRANT loyalty_auditor TO loyalty_admin;
GRANT INSERT, UPDATE, DELETE ON loyalty.staff_permission, loyalty.role_permission, loyalty.tier
  TO loyalty_admin;
GRANT INSERT (reward_id, points_per_credit, valid_from, valid_to, credits_per_player, budget_points, description),
      UPDATE (valid_to, budget_points, description)
   ON loyalty.promotion_campaign TO loyalty_admin;
GRANT UPDATE (gaming_day_start, gaming_day_timezone, max_manual_reward,
              manual_reward_rate_limit, manual_reward_points_limit, manual_reward_rate_window,
              role_manual_reward_rate_limit, role_manual_reward_points_limit,
              adjustment_rate_limit, adjustment_points_limit, adjustment_rate_window,
              role_adjustment_rate_limit, role_adjustment_points_limit,
              redemption_rate_limit, redemption_points_limit, redemption_rate_window,
              role_redemption_rate_limit, role_redemption_points_limit, point_value)
   ON loyalty.casino TO loyalty_admin;
GRANT EXECUTE ON FUNCTION
    loyalty.reconcile_player,
    loyalty.recover_rating_slip,
    loyalty.recover_pending,
    loyalty.resolve_accrual,
    loyalty.expire_holds,
    loyalty.expire_points
  TO loyalty_admin;

-- Staff capabilities, as the README shows them.
INSERT INTO loyalty.staff_permission (staff_id, capabilities) VALUES
    ('0f000000-0000-0000-0000-00000000ca5e', ARRAY['loyalty:redeem']),
    ('0f000000-0000-0000-0000-0000000005ef', ARRAY['loyalty:award', 'loyalty:adjust', 'loyalty:recover']);

-- Several casinos: each property's login roles are bound to it for good;
-- the group's auditor is bound to none and reads every casino.
INSERT INTO loyalty.casino (casino_id, name, gaming_day_timezone)
VALUES ('ca510000-0000-0000-0000-0000000000e0', 'Reno Riverside', 'America/Los_Angeles');
CREATE ROLE floor_reno LOGIN IN ROLE loyalty_app;
ALTER ROLE floor_reno SET loyalty.session_casino_id = 'ca510000-0000-0000-0000-0000000000e0';
CREATE ROLE auditor_reno LOGIN IN ROLE loyalty_auditor;
ALTER ROLE auditor_reno SET loyalty.session_casino_id = 'ca510000-0000-0000-0000-0000000000e0';
CREATE ROLE auditor_group LOGIN IN ROLE loyalty_auditor;
-- Staff capabilities are per casino.
INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
VALUES ('ca510000-0000-0000-0000-0000000000e0', '0f000000-0000-0000-0000-0000000005ef', ARRAY['loyalty:award']);

-- Campaigns the application credits (the admin registers them).
INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
SELECT r, p, now() - interval '1 hour', now() + interval '1 day', 10000
  FROM (VALUES ('sec-promo-1', 100), ('sec-promo-2', 100), ('sec-promo-3', 100), ('sec-promo-4', 25)) v(r, p);

-- The application role can call the write path ...
SET ROLE loyalty_app;
SELECT balance_after FROM loyalty.apply_promotion('5ec00000-0000-0000-0000-000000000001', 'sec-promo-1', 100);
-- ... and cannot read, insert into or update any table, or run audit and admin functions.
SELECT count(*) FROM loyalty.loyalty_ledger;
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO loyalty.player_loyalty (player_id, tier) VALUES ('5ec00000-0000-0000-0000-000000000002', 'GOLD');
\echo sqlstate :LAST_ERROR_SQLSTATE
UPDATE loyalty.player_loyalty SET current_balance = 1000000;
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO loyalty.staff_permission VALUES ('5ec00000-0000-0000-0000-0000000000aa', ARRAY['loyalty:award']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.drift_check();
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.reconcile_player('5ec00000-0000-0000-0000-000000000001', '57aff000-0000-0000-0000-000000000001', 'app tries to reconcile');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.recover_pending();
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The auditor reads and traces, and cannot write.
SET ROLE loyalty_auditor;
SELECT count(*) > 0 AS can_read_ledger FROM loyalty.loyalty_ledger;
SELECT count(*) AS traced FROM loyalty.trace('regress-security');
SELECT count(*) AS drift FROM loyalty.drift_check();
SELECT * FROM loyalty.apply_promotion('5ec00000-0000-0000-0000-000000000001', 'sec-promo-2', 100);
\echo sqlstate :LAST_ERROR_SQLSTATE
UPDATE loyalty.player_loyalty SET current_balance = 0;
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO loyalty.tier VALUES ('DIAMOND', 100000, 3);
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The admin manages capabilities and reconciles; nobody edits the ledger.
SET ROLE loyalty_admin;
INSERT INTO loyalty.staff_permission VALUES ('5ec00000-0000-0000-0000-0000000000ad', ARRAY['loyalty:adjust']);
SELECT changed FROM loyalty.reconcile_player('5ec00000-0000-0000-0000-000000000001',
       '5ec00000-0000-0000-0000-0000000000ad', 'admin checks the balance');
UPDATE loyalty.loyalty_ledger SET points_change = 1;
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM loyalty.loyalty_ledger;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.apply_promotion('5ec00000-0000-0000-0000-000000000001', 'sec-promo-3', 100);
\echo sqlstate :LAST_ERROR_SQLSTATE
-- It registers campaigns, and cannot forge what one has credited or who made it.
INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
VALUES ('sec-admin-campaign', 10, now(), now() + interval '1 day', 100);
UPDATE loyalty.promotion_campaign SET credited_points = 0 WHERE reward_id = 'sec-admin-campaign';
\echo sqlstate :LAST_ERROR_SQLSTATE
UPDATE loyalty.promotion_campaign SET actor_role = 'someone_else' WHERE reward_id = 'sec-admin-campaign';
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Nobody but the owner reads or adds trusted keys.
SELECT count(*) FROM loyalty.trusted_key;
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO loyalty.trusted_key (kid, algorithm, key) VALUES ('admin-key', 'HS256', 'admin secret');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT reward_id, actor_role FROM loyalty.promotion_campaign WHERE reward_id = 'sec-admin-campaign';

-- A hostile user with the application role shadows names in their own
-- schema: a table named like the ledger, a now() from the past, an "="
-- that is always true, and puts that schema first on the search_path.
CREATE ROLE mallory NOLOGIN IN ROLE loyalty_app;
CREATE SCHEMA mallory AUTHORIZATION mallory;
SET ROLE mallory;
CREATE TABLE mallory.loyalty_ledger (LIKE pg_catalog.pg_class);
CREATE TABLE mallory.player_loyalty (player_id uuid, current_balance bigint);
CREATE FUNCTION mallory.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '1999-12-31'::timestamptz $$;
CREATE FUNCTION mallory.always(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR mallory.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mallory.always);
CREATE FUNCTION mallory.always_uuid(uuid, uuid) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR mallory.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = mallory.always_uuid);
SET search_path = mallory, public, pg_catalog;
-- A new key is still new (a hijacked "=" would make it look like a replay),
-- the write lands in loyalty.loyalty_ledger, and the time is real.
SELECT balance_before, balance_after, idempotent_replay, updated_at > '2020-01-01' AS real_time
  FROM loyalty.apply_promotion('5ec00000-0000-0000-0000-000000000001', 'sec-promo-4', 25);
SELECT balance_before, balance_after, idempotent_replay
  FROM loyalty.apply_promotion('5ec00000-0000-0000-0000-000000000003', 'sec-promo-4', 25);
SELECT count(*) AS rows_in_mallorys_table FROM mallory.loyalty_ledger;
RESET search_path;
RESET ROLE;
SELECT count(*) AS sec_rows FROM loyalty.loyalty_ledger WHERE idempotency_key IN (
    loyalty.promotion_key('5ec00000-0000-0000-0000-000000000001', 'sec-promo-4'),
    loyalty.promotion_key('5ec00000-0000-0000-0000-000000000003', 'sec-promo-4'));
DROP SCHEMA mallory CASCADE;
DROP ROLE mallory;

-- Write functions are SECURITY DEFINER with a fixed search_path; none is
-- executable by PUBLIC.
SELECT p.proname, p.prosecdef AS security_definer, p.proconfig
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'loyalty' AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;
SELECT count(*) AS definer_functions_without_fixed_search_path
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'loyalty' AND p.prosecdef
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);

SELECT * FROM loyalty.drift_check();

-- Event consumer: claims and acknowledges events (SPEC 16), reads nothing else.
CREATE ROLE loyalty_events NOLOGIN;
GRANT USAGE ON SCHEMA loyalty TO loyalty_events;
GRANT EXECUTE ON FUNCTION loyalty.claim_events, loyalty.ack_events, loyalty.drop_event_consumer TO loyalty_events;
-- The consumer claims and acknowledges, and reads no table.
CREATE ROLE events_reader LOGIN IN ROLE loyalty_events;
\c - events_reader
SELECT count(*) >= 0 AS claimed FROM loyalty.claim_events('sec-feed', 10);
SELECT loyalty.ack_events('sec-feed', ARRAY[]::bigint[]) AS acked;
SELECT count(*) FROM loyalty.event;
SELECT * FROM loyalty.prune_events();
-- Another login of the consumer role cannot take its consumer over.
\c - postgres
CREATE ROLE events_intruder LOGIN IN ROLE loyalty_events;
\c - events_intruder
SELECT * FROM loyalty.claim_events('sec-feed', 10);
SELECT loyalty.drop_event_consumer('sec-feed') AS dropped;
\c - postgres
DELETE FROM loyalty.event_consumer WHERE consumer = 'sec-feed';

-- The casinos' auditors: Reno's sees Reno's staff only, the group's all.
\c - auditor_reno
SELECT casino_id, staff_id FROM loyalty.staff_permission ORDER BY 1, 2;
\c - auditor_group
SELECT count(DISTINCT casino_id) AS casinos_seen FROM loyalty.staff_permission;
\c - postgres

-- The README's idempotent role set-up ("Integrating"): run twice, as for a
-- second database, it fails neither time.
DO $$ BEGIN CREATE ROLE loyalty_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA loyalty TO loyalty_app;
GRANT EXECUTE ON FUNCTION loyalty.increment_player_loyalty, loyalty.manual_reward TO loyalty_app;
INSERT INTO loyalty.role_permission (role_name, capabilities)
VALUES ('loyalty_app', ARRAY['loyalty:accrue']) ON CONFLICT DO NOTHING;
DO $$ BEGIN CREATE ROLE loyalty_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA loyalty TO loyalty_app;
GRANT EXECUTE ON FUNCTION loyalty.increment_player_loyalty, loyalty.manual_reward TO loyalty_app;
INSERT INTO loyalty.role_permission (role_name, capabilities)
VALUES ('loyalty_app', ARRAY['loyalty:accrue']) ON CONFLICT DO NOTHING;

-- Clean up the roles (roles are cluster-wide) and the README's casino.
DELETE FROM loyalty.staff_permission WHERE casino_id = 'ca510000-0000-0000-0000-0000000000e0';
DELETE FROM loyalty.tier WHERE casino_id = 'ca510000-0000-0000-0000-0000000000e0';
DELETE FROM loyalty.casino WHERE casino_id = 'ca510000-0000-0000-0000-0000000000e0';
DROP OWNED BY floor_reno, auditor_reno, auditor_group, events_reader, events_intruder, loyalty_app, loyalty_auditor, loyalty_admin, loyalty_events;
DROP ROLE floor_reno, auditor_reno, auditor_group, events_reader, events_intruder, loyalty_app, loyalty_auditor, loyalty_admin, loyalty_events;
