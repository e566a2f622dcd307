-- The trust boundary (SPEC sections 5 and 10), as a DBA sees it: who may
-- credit what, per-call bounds, velocity limits, staff tokens, a session's
-- staff binding, and recovery that cannot be wedged.
\pset footer off
SET loyalty.correlation_id = 'regress-trust';

-- A login role for the application, a member of an application group.
CREATE ROLE trust_app_group NOLOGIN;
GRANT USAGE ON SCHEMA loyalty TO trust_app_group;
GRANT EXECUTE ON FUNCTION
    loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text, uuid),
    loyalty.complete_rating_slip(uuid, uuid, numeric, integer, jsonb, uuid, text, uuid),
    loyalty.adjust_points(uuid, uuid, integer, text, text, text, uuid),
    loyalty.manual_reward(uuid, uuid, integer, text, integer, text, uuid)
  TO trust_app_group;
CREATE ROLE trust_app LOGIN IN ROLE trust_app_group;
INSERT INTO loyalty.staff_permission VALUES ('7a000000-0000-0000-0000-00000000005a', ARRAY['loyalty:award', 'loyalty:adjust']);

-- Deny by default: an EXECUTE grant alone credits nothing.
SET SESSION AUTHORIZATION trust_app;
SELECT * FROM loyalty.complete_rating_slip('7a000000-0000-0000-0001-000000000001', '7a000000-0000-0000-0000-000000000001',
       25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('7a000000-0000-0000-0000-000000000001', 2000000000, 'PROMOTION', 'mint-1');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
-- The admin gives the application group loyalty:accrue; its members may
-- close slips now, and still not promote.
INSERT INTO loyalty.role_permission VALUES ('trust_app_group', ARRAY['loyalty:accrue']);
SET SESSION AUTHORIZATION trust_app;
SELECT status, points FROM loyalty.complete_rating_slip('7a000000-0000-0000-0001-000000000001',
       '7a000000-0000-0000-0000-000000000001', 25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
SELECT * FROM loyalty.increment_player_loyalty('7a000000-0000-0000-0000-000000000001', 100, 'PROMOTION', 'mint-2');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- One accrual per slip, whatever the path: a direct GAMEPLAY credit must use
-- the slip's own key (22023), and with it, it is the slip's one credit again.
SELECT * FROM loyalty.increment_player_loyalty('7a000000-0000-0000-0000-000000000001', 300, 'GAMEPLAY', 'slip-again-1',
       p_rating_slip_id => '7a000000-0000-0000-0001-000000000001');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT balance_after, idempotent_replay FROM loyalty.increment_player_loyalty('7a000000-0000-0000-0000-000000000001',
       300, 'GAMEPLAY', loyalty.gameplay_key('7a000000-0000-0000-0001-000000000001'),
       p_rating_slip_id => '7a000000-0000-0000-0001-000000000001');
-- Every credit is bounded per call: a slip above loyalty.max_gameplay_points.
SELECT * FROM loyalty.complete_rating_slip('7a000000-0000-0000-0001-000000000002', '7a000000-0000-0000-0000-000000000001',
       100000, 36000, '{"house_edge": 50, "average_rounds_per_hour": 60}');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SELECT transaction_type, points_change, actor_role FROM loyalty.loyalty_ledger
 WHERE player_id = '7a000000-0000-0000-0000-000000000001' ORDER BY id;
SELECT rating_slip_id, status, actor_role FROM loyalty.rating_slip_accrual
 WHERE player_id = '7a000000-0000-0000-0000-000000000001' ORDER BY rating_slip_id;

-- Velocity: a staff member's adjustments are bounded by count and points
-- per window (here 3 and 1,000 per minute); one statement of 50 makes none.
-- (Terse errors: the DETAIL's reset time differs from run to run.)
\set VERBOSITY terse
SET loyalty.adjustment_rate_limit = 3;
SET loyalty.adjustment_points_limit = 1000;
SELECT count(*) FROM generate_series(1, 50) g,
       LATERAL loyalty.adjust_points('7a000000-0000-0000-0000-000000000002', '7a000000-0000-0000-0000-00000000005a',
                                     300, 'goodwill correction number ' || g, 'trust-adj-' || g);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) AS adjustments_written FROM loyalty.loyalty_ledger WHERE idempotency_key LIKE 'trust-adj-%';
SELECT balance_after FROM loyalty.adjust_points('7a000000-0000-0000-0000-000000000002', '7a000000-0000-0000-0000-00000000005a',
       600, 'goodwill correction, first', 'trust-adj-a');
SELECT * FROM loyalty.adjust_points('7a000000-0000-0000-0000-000000000002', '7a000000-0000-0000-0000-00000000005a',
       500, 'goodwill correction, second', 'trust-adj-b');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- A replay uses no quota and is still answered.
SELECT balance_after, idempotent_replay FROM loyalty.adjust_points('7a000000-0000-0000-0000-000000000002',
       '7a000000-0000-0000-0000-00000000005a', 600, 'goodwill correction, first', 'trust-adj-a');
-- The login role is bounded too, whoever the staff member.
SET loyalty.role_adjustment_rate_limit = 1;
INSERT INTO loyalty.staff_permission VALUES ('7a000000-0000-0000-0000-00000000005b', ARRAY['loyalty:adjust']);
SELECT * FROM loyalty.adjust_points('7a000000-0000-0000-0000-000000000002', '7a000000-0000-0000-0000-00000000005b',
       5, 'another host, same login role', 'trust-adj-c');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET loyalty.role_adjustment_rate_limit;
RESET loyalty.adjustment_rate_limit;
RESET loyalty.adjustment_points_limit;
SELECT scope, actor, kind, (SELECT sum(c) FROM unnest(event_count) AS c) AS events FROM loyalty.velocity_usage
 WHERE actor LIKE '7a000000-%' ORDER BY 1, 2, 3;

-- Staff tokens: the identity service signs a JWT; its key is trusted.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
INSERT INTO loyalty.trusted_key (kid, algorithm, key) VALUES ('regress-hs', 'HS256', 'regress shared secret');
CREATE FUNCTION pg_temp.b64url(bytea) RETURNS text LANGUAGE sql AS
$$ SELECT rtrim(translate(encode($1, 'base64'), E'+/\n', '-_'), '=') $$;
CREATE FUNCTION pg_temp.token(p_sub text, p_exp bigint, p_secret text DEFAULT 'regress shared secret') RETURNS text
LANGUAGE sql AS $$
    SELECT h || '.' || pg_temp.b64url(hmac(h, p_secret, 'sha256'))
      FROM (SELECT pg_temp.b64url(convert_to('{"alg":"HS256","kid":"regress-hs"}', 'UTF8')) || '.' ||
                   pg_temp.b64url(convert_to(json_build_object('sub', p_sub, 'exp', p_exp)::text, 'UTF8')) AS h) t
$$;
SELECT extract(epoch FROM now())::bigint AS now_epoch \gset
-- A valid token is the staff identity: no staff id needed, another refused.
BEGIN;
SELECT count(*) AS token_set FROM set_config('loyalty.staff_token', pg_temp.token('7a000000-0000-0000-0000-00000000005a', :now_epoch + 300), true);
SELECT balance_after FROM loyalty.manual_reward('7a000000-0000-0000-0000-000000000003', NULL, 100, 'token holder rewards a guest');
SELECT staff_id, actor_role FROM loyalty.loyalty_ledger WHERE player_id = '7a000000-0000-0000-0000-000000000003';
SELECT * FROM loyalty.manual_reward('7a000000-0000-0000-0000-000000000003', '7a000000-0000-0000-0000-00000000005b', 100,
       'names someone else than the token');
\echo sqlstate :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Expired, forged, unknown key: 42501 with the reason.
BEGIN;
SELECT count(*) AS token_set FROM set_config('loyalty.staff_token', pg_temp.token('7a000000-0000-0000-0000-00000000005a', :now_epoch - 1), true);
SELECT * FROM loyalty.manual_reward('7a000000-0000-0000-0000-000000000003', NULL, 100, 'an expired token rewards');
ROLLBACK;
BEGIN;
SELECT count(*) AS token_set FROM set_config('loyalty.staff_token', pg_temp.token('7a000000-0000-0000-0000-00000000005a', :now_epoch + 300, 'guessed'), true);
SELECT * FROM loyalty.manual_reward('7a000000-0000-0000-0000-000000000003', NULL, 100, 'a forged token rewards');
ROLLBACK;
-- A token can be required for every staff-performed change.
SET loyalty.require_staff_token = on;
SELECT * FROM loyalty.manual_reward('7a000000-0000-0000-0000-000000000003', '7a000000-0000-0000-0000-00000000005a', 100,
       'no token while one is required');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET loyalty.require_staff_token;

-- A session bound to a staff member keeps the binding through RESET ALL,
-- DISCARD ALL and a change of role (a pooler binds as superuser, then
-- hands the session to the application's role).
SET loyalty.session_staff_id = '7a000000-0000-0000-0000-00000000005a';
SET SESSION AUTHORIZATION trust_app;
RESET ALL;
DISCARD ALL;
SHOW loyalty.session_staff_id;
SET loyalty.correlation_id = 'regress-trust';
SELECT * FROM loyalty.manual_reward('7a000000-0000-0000-0000-000000000004', '7a000000-0000-0000-0000-00000000005b', 10,
       'acting for another host');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET loyalty.session_staff_id;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
RESET loyalty.session_staff_id;
SET loyalty.correlation_id = 'regress-trust';

-- Recovery cannot be wedged: an accrual that can never succeed (its points
-- exceed the bound at the player's tier) is STUCK at once, out of
-- recover_pending's way, until someone holding loyalty:recover resolves it.
UPDATE loyalty.tier SET multiplier = 9.99 WHERE name = 'BRONZE';
SELECT status, error FROM loyalty.complete_rating_slip('7a000000-0000-0000-0001-000000000003',
       '7a000000-0000-0000-0000-000000000005', 200, 36000, '{"house_edge": 5, "average_rounds_per_hour": 60}');
SELECT rating_slip_id, status, attempts, last_sqlstate FROM loyalty.pending_accruals
 WHERE player_id = '7a000000-0000-0000-0000-000000000005';
SELECT count(*) AS attempted FROM loyalty.recover_pending(100);
SELECT * FROM loyalty.recover_rating_slip('7a000000-0000-0000-0001-000000000003');
\echo sqlstate :LAST_ERROR_SQLSTATE
UPDATE loyalty.tier SET multiplier = 1.00 WHERE name = 'BRONZE';
-- Resolution needs loyalty:recover and a reason; it is recorded and traced.
SELECT * FROM loyalty.resolve_accrual('7a000000-0000-0000-0001-000000000003', '7a000000-0000-0000-0000-00000000005a',
       'retry', 'tier multiplier fixed by the admin');
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO loyalty.staff_permission VALUES ('7a000000-0000-0000-0000-00000000005c', ARRAY['loyalty:recover']);
SELECT status, points FROM loyalty.resolve_accrual('7a000000-0000-0000-0001-000000000003',
       '7a000000-0000-0000-0000-00000000005c', 'retry', 'tier multiplier fixed by the admin', 'trust-resolve');
SELECT source, kind, points, detail FROM loyalty.trace('trust-resolve') ORDER BY source;
SELECT * FROM loyalty.resolve_accrual('7a000000-0000-0000-0001-000000000003', '7a000000-0000-0000-0000-00000000005c',
       'abandon', 'already credited, nothing to abandon');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- A slip a person abandons is never credited.
UPDATE loyalty.tier SET multiplier = 9.99 WHERE name = 'BRONZE';
SELECT status FROM loyalty.complete_rating_slip('7a000000-0000-0000-0001-000000000004',
       '7a000000-0000-0000-0000-000000000006', 200, 36000, '{"house_edge": 5, "average_rounds_per_hour": 60}');
UPDATE loyalty.tier SET multiplier = 1.00 WHERE name = 'BRONZE';
SELECT status, points FROM loyalty.resolve_accrual('7a000000-0000-0000-0001-000000000004',
       '7a000000-0000-0000-0000-00000000005c', 'abandon', 'player disputed the rating; comp given instead');
SELECT status FROM loyalty.rating_slip_accrual WHERE rating_slip_id = '7a000000-0000-0000-0001-000000000004';
SELECT * FROM loyalty.recover_rating_slip('7a000000-0000-0000-0001-000000000004');
\echo sqlstate :LAST_ERROR_SQLSTATE

SELECT * FROM loyalty.drift_check();
DROP OWNED BY trust_app, trust_app_group;
DROP ROLE trust_app, trust_app_group;
