-- Velocity usage kept per slice of the window (1/64 of it): however many
-- changes a window counts, an actor's row stays small, and the limits stay
-- exact.  A limit set to the maximum is off; a casino's row cannot turn a
-- server limit off (it only tightens).
\pset footer off
-- Refusals name the moment the window frees up: messages only.
\set VERBOSITY terse
SET loyalty.correlation_id = 'regress-velocity';
DELETE FROM loyalty.velocity_usage WHERE scope = 'role';
INSERT INTO loyalty.staff_permission (staff_id, capabilities)
SELECT ('f1000000-0000-0000-0000-0000000000' || lpad(g::text, 2, '0'))::uuid, ARRAY['loyalty:award']
  FROM generate_series(1, 12) g;

-- Twelve rewards by one host in a 10-minute window: the usage row counts
-- all twelve in a few slices (each slice is 9.375 s).
SET loyalty.manual_reward_rate_limit = 12;
SET loyalty.manual_reward_rate_window = 600;
SELECT count(*) AS rewarded
  FROM generate_series(1, 12) g,
       LATERAL loyalty.manual_reward('f1000000-0000-0000-0001-000000000001', 'f1000000-0000-0000-0000-000000000001',
                                     10, 'courtesy for the table', p_sequence => g);
SELECT scope, cardinality(event_at) <= 2 AS few_slices, (SELECT sum(c) FROM unnest(event_count) AS c) AS changes,
       (SELECT sum(p) FROM unnest(event_points) AS p) AS points
  FROM loyalty.velocity_usage
 WHERE kind = 'manual_reward' AND actor IN ('f1000000-0000-0000-0000-000000000001', session_user) ORDER BY scope;
-- The thirteenth is refused: the count is exact.
SELECT * FROM loyalty.manual_reward('f1000000-0000-0000-0001-000000000001', 'f1000000-0000-0000-0000-000000000001',
                                    10, 'courtesy for the table', p_sequence => 13);
SELECT remaining, used, rate_limit FROM loyalty.rate_limit_status('f1000000-0000-0000-0000-000000000001');
RESET loyalty.manual_reward_rate_limit;
RESET loyalty.manual_reward_rate_window;

-- The login role's limit: 3 rewards.  A casino's row setting it to the
-- maximum does not turn it off: the server's limit still holds.
UPDATE loyalty.casino SET role_manual_reward_rate_limit = 2147483647, role_manual_reward_points_limit = 2147483647
 WHERE casino_id = '00000000-0000-0000-0000-000000000000';
DELETE FROM loyalty.velocity_usage WHERE scope = 'role';
SET loyalty.role_manual_reward_rate_limit = 3;
SELECT g, (SELECT balance_after FROM loyalty.manual_reward('f1000000-0000-0000-0001-000000000002',
              ('f1000000-0000-0000-0000-0000000000' || lpad((g + 1)::text, 2, '0'))::uuid, 10, 'courtesy for the table')) AS balance
  FROM generate_series(1, 3) g;
SELECT * FROM loyalty.manual_reward('f1000000-0000-0000-0001-000000000002', 'f1000000-0000-0000-0000-000000000005',
                                    10, 'courtesy for the table');

-- The server's limit at the maximum (count and points) turns it off: no
-- role row is kept, the staff limits still apply.
SET loyalty.role_manual_reward_rate_limit = 2147483647;
SET loyalty.role_manual_reward_points_limit = 2147483647;
DELETE FROM loyalty.velocity_usage WHERE scope = 'role';
SELECT count(*) AS rewarded
  FROM generate_series(6, 12) g,
       LATERAL loyalty.manual_reward('f1000000-0000-0000-0001-000000000002',
               ('f1000000-0000-0000-0000-0000000000' || lpad(g::text, 2, '0'))::uuid, 10, 'courtesy for the table');
SELECT count(*) AS role_rows FROM loyalty.velocity_usage WHERE scope = 'role';
-- Only the count at the maximum is not off.
SET loyalty.role_manual_reward_points_limit = 2147483646;
SELECT balance_after FROM loyalty.manual_reward('f1000000-0000-0000-0001-000000000002', 'f1000000-0000-0000-0000-000000000012',
                                                10, 'another courtesy for the table');
SELECT count(*) AS role_rows FROM loyalty.velocity_usage WHERE scope = 'role';
RESET loyalty.role_manual_reward_rate_limit;
RESET loyalty.role_manual_reward_points_limit;
UPDATE loyalty.casino SET role_manual_reward_rate_limit = NULL, role_manual_reward_points_limit = NULL
 WHERE casino_id = '00000000-0000-0000-0000-000000000000';
SELECT * FROM loyalty.drift_check();
