-- The README runbook, block by block, exactly as printed there
-- (tests/docs.rs fails when the two drift apart).  Each incident is set up
-- first, then the README's SQL runs.
\pset footer off

-- ### Points missing after a slip closed
-- Setup: a slip closes while another session holds the player's row.
SET loyalty.correlation_id = 'req-7f3a';
SELECT balance_after FROM loyalty.increment_player_loyalty('11111111-1111-1111-1111-111111111111', 400, 'PROMOTION', 'runbook-welcome', p_reason => 'welcome offer');
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('blocker', format('host=127.0.0.1 port=%s dbname=%s user=postgres',
                                        current_setting('port'), current_database()));
SELECT dblink_exec('blocker', 'BEGIN');
SELECT * FROM dblink('blocker', $$SELECT 1 FROM loyalty.player_loyalty
                                   WHERE player_id = '11111111-1111-1111-1111-111111111111' FOR UPDATE$$) AS t(x int);
SET loyalty.lock_timeout = '100ms';
SELECT status, error FROM loyalty.complete_rating_slip('51000000-0000-0000-0000-000000000066',
       '11111111-1111-1111-1111-111111111111', 25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
RESET loyalty.lock_timeout;
SELECT dblink_exec('blocker', 'COMMIT');
SELECT dblink_disconnect('blocker');
-- 1. Is the accrual pending, and why?
SELECT rating_slip_id, player_id, status, attempts, last_sqlstate, last_error, correlation_id
  FROM loyalty.pending_accruals;
-- 2. Credit one slip now (same key, same correlation id: never twice) ...
SELECT status, points, balance_after, correlation_id
  FROM loyalty.recover_rating_slip('51000000-0000-0000-0000-000000000066');
-- ... or all of them, oldest first.
SELECT rating_slip_id, status, points, error FROM loyalty.recover_pending(100);
-- 3. Confirm: one GAMEPLAY row for the slip.
SELECT id, transaction_type, points_change, correlation_id
  FROM loyalty.loyalty_ledger
 WHERE rating_slip_id = '51000000-0000-0000-0000-000000000066';

-- ### A player disputes a balance
-- Setup: a host rewards the player, twice the same day by mistake (sequence 2).
SELECT balance_after FROM loyalty.manual_reward('11111111-1111-1111-1111-111111111111',
       '57aff000-0000-0000-0000-000000000001', 150, 'birthday dinner at the steakhouse');
SELECT balance_after FROM loyalty.manual_reward('11111111-1111-1111-1111-111111111111',
       '57aff000-0000-0000-0000-000000000001', 150, 'birthday dinner at the steakhouse', p_sequence => 2);
-- Current standing
SELECT current_balance, lifetime_points, tier, tier_progress
  FROM loyalty.player_loyalty WHERE player_id = '11111111-1111-1111-1111-111111111111';
-- Every entry with its running balance (next page: p_after_ledger_id => last ledger_id)
SELECT ledger_id, transaction_type, points_change, running_balance, reason, staff_id
  FROM loyalty.player_statement('11111111-1111-1111-1111-111111111111', p_limit => 50);
-- The balance at the moment the player refers to
SELECT balance, tier FROM loyalty.balance_at('11111111-1111-1111-1111-111111111111', now() - interval '1 day');
-- Does the aggregate agree with the ledger? (no rows: yes)
SELECT * FROM loyalty.drift_check() WHERE player_id = '11111111-1111-1111-1111-111111111111';

-- ### Points on the statement cannot be redeemed
-- Setup: a cashier holds 200 of the player's points for show tickets.
INSERT INTO loyalty.staff_permission (staff_id, capabilities)
VALUES ('0f000000-0000-0000-0000-00000000ca5e', ARRAY['loyalty:redeem'])
ON CONFLICT ON CONSTRAINT staff_permission_pkey DO NOTHING;
SELECT points, available_after FROM loyalty.hold_points('11111111-1111-1111-1111-111111111111', 200,
       '0f000000-0000-0000-0000-00000000ca5e', 'two tickets for the late show', 'runbook-show-hold',
       '2030-01-01 04:00:00+00');
-- Balance, points held by active holds, and what is available
SELECT * FROM loyalty.player_account('11111111-1111-1111-1111-111111111111');
-- The active holds: how many points, by whom, why, until when
SELECT hold_id, points, staff_id, reason, expires_at, correlation_id
  FROM loyalty.point_hold
 WHERE player_id = '11111111-1111-1111-1111-111111111111' AND status = 'ACTIVE'
 ORDER BY expires_at;
-- A hold that should not be there is released by a cashier, with a reason
SELECT status, points, available_after
  FROM loyalty.release_hold((SELECT min(hold_id) FROM loyalty.point_hold
                              WHERE player_id = '11111111-1111-1111-1111-111111111111' AND status = 'ACTIVE'),
                            '0f000000-0000-0000-0000-00000000ca5e', 'released at the guest''s request');

-- ### Duplicate award suspected
-- A rating slip credits exactly one GAMEPLAY row
SELECT id, transaction_type, points_change, correlation_id
  FROM loyalty.loyalty_ledger WHERE rating_slip_id = '51000000-0000-0000-0000-000000000066';
-- Manual rewards to the player, newest first: same reason twice on one gaming day
-- can only be two different requests (p_sequence), because keys are unique
SELECT id, staff_id, points_change, reason
  FROM loyalty.loyalty_ledger
 WHERE player_id = '11111111-1111-1111-1111-111111111111' AND transaction_type = 'MANUAL_BONUS'
 ORDER BY id DESC;
-- Cancel the wrong one with a compensating row (a second attempt is a replay)
SELECT max(id) AS duplicate_id FROM loyalty.loyalty_ledger
 WHERE player_id = '11111111-1111-1111-1111-111111111111' AND transaction_type = 'MANUAL_BONUS' \gset
SELECT balance_before, balance_after, idempotent_replay
  FROM loyalty.reverse_entry(:duplicate_id, '57aff000-0000-0000-0000-000000000001',
                             'duplicate birthday reward, confirmed with the host');

-- ### A staff member is suspected of abusing rewards
-- Setup: a host with award and adjust rewards guests as the floor
-- application's login role and, with a staff token, as another role; and
-- adjusts a balance.
INSERT INTO loyalty.staff_permission (staff_id, capabilities)
VALUES ('57aff000-0000-0000-0000-000000000009', ARRAY['loyalty:award', 'loyalty:adjust']);
CREATE ROLE runbook_floor LOGIN;
GRANT USAGE ON SCHEMA loyalty TO runbook_floor;
GRANT EXECUTE ON FUNCTION loyalty.manual_reward(uuid, uuid, integer, text, integer, text, uuid) TO runbook_floor;
SET SESSION AUTHORIZATION runbook_floor;
SELECT balance_after FROM loyalty.manual_reward('11111111-1111-1111-1111-111111111111',
       '57aff000-0000-0000-0000-000000000009', 900, 'courtesy for a friend of the host');
RESET SESSION AUTHORIZATION;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
INSERT INTO loyalty.trusted_key (kid, algorithm, key) VALUES ('runbook-hs', 'HS256', 'runbook shared secret');
SELECT h || '.' || rtrim(translate(encode(hmac(h, 'runbook shared secret', 'sha256'), 'base64'), E'+/\n', '-_'), '=') AS token
  FROM (SELECT rtrim(translate(encode(convert_to('{"alg":"HS256","kid":"runbook-hs"}', 'UTF8'), 'base64'), E'+/\n', '-_'), '=') || '.' ||
               rtrim(translate(encode(convert_to(json_build_object('sub', '57aff000-0000-0000-0000-000000000009',
                     'exp', extract(epoch FROM now())::bigint + 300)::text, 'UTF8'), 'base64'), E'+/\n', '-_'), '=') AS h) t \gset
BEGIN;
SELECT count(*) AS token_set FROM set_config('loyalty.staff_token', :'token', true);
SELECT balance_after FROM loyalty.manual_reward('11111111-1111-1111-1111-111111111111',
       NULL, 800, 'another courtesy, same friend');
SELECT balance_after FROM loyalty.adjust_points('11111111-1111-1111-1111-111111111111',
       NULL, 500, 'correction nobody asked for', 'runbook-adjust-1');
SELECT changed FROM loyalty.reconcile_player('11111111-1111-1111-1111-111111111111',
       NULL, 'checking the balance after my corrections');
COMMIT;
-- 1. Everything they did, whichever login role they used and whether a staff
--    token, the session's binding or the call itself named them: every row
--    records the proven staff member and the login role (actor_role).
SELECT id, transaction_type, player_id, points_change, actor_role, reason, correlation_id
  FROM loyalty.loyalty_ledger
 WHERE staff_id = '57aff000-0000-0000-0000-000000000009'
 ORDER BY id;
-- 2. Per type and login role
SELECT transaction_type, actor_role, count(*) AS entries, sum(points_change) AS points
  FROM loyalty.loyalty_ledger
 WHERE staff_id = '57aff000-0000-0000-0000-000000000009'
 GROUP BY transaction_type, actor_role ORDER BY transaction_type, actor_role;
-- 3. The players they credited most
SELECT player_id, count(*) AS credits, sum(points_change) AS points
  FROM loyalty.loyalty_ledger
 WHERE staff_id = '57aff000-0000-0000-0000-000000000009' AND points_change > 0
 GROUP BY player_id ORDER BY points DESC LIMIT 20;
-- 4. Their other acts, oldest first: reconciliations and resolved accruals
SELECT act, subject, actor_role, reason, correlation_id
  FROM (SELECT 'reconciliation' AS act, player_id::text AS subject, actor_role, reason, correlation_id, created_at
          FROM loyalty.reconciliation WHERE staff_id = '57aff000-0000-0000-0000-000000000009'
        UNION ALL
        SELECT 'accrual ' || action, rating_slip_id::text, actor_role, reason, correlation_id, created_at
          FROM loyalty.accrual_resolution WHERE staff_id = '57aff000-0000-0000-0000-000000000009') acts
 ORDER BY created_at;
-- 5. Their recent changes per velocity window (manual_reward, adjustment, redemption)
SELECT kind, (SELECT coalesce(sum(c), 0) FROM unnest(event_count) AS c) AS recent_changes,
       (SELECT coalesce(sum(p), 0) FROM unnest(event_points) AS p) AS recent_points
  FROM loyalty.velocity_usage
 WHERE scope = 'staff' AND actor = '57aff000-0000-0000-0000-000000000009'
 ORDER BY kind;
-- 6. Stop them: no capability left, so their next call fails with 42501,
--    with a token or without
DELETE FROM loyalty.staff_permission WHERE staff_id = '57aff000-0000-0000-0000-000000000009';
-- 7. Cancel an abusive credit with a compensating row (it stays in their history)
SELECT balance_before, balance_after
  FROM loyalty.reverse_entry((SELECT max(id) FROM loyalty.loyalty_ledger
                               WHERE staff_id = '57aff000-0000-0000-0000-000000000009'
                                 AND transaction_type = 'MANUAL_BONUS'),
                             '57aff000-0000-0000-0000-000000000001',
                             'reward without a guest present, per surveillance');
REVOKE ALL ON SCHEMA loyalty FROM runbook_floor;
REVOKE ALL ON FUNCTION loyalty.manual_reward(uuid, uuid, integer, text, integer, text, uuid) FROM runbook_floor;
DROP ROLE runbook_floor;
DELETE FROM loyalty.trusted_key WHERE kid = 'runbook-hs';
DROP EXTENSION pgcrypto;

-- ### Balance drift found
-- Setup: someone "fixed" the balance by hand, outside the extension.
UPDATE loyalty.player_loyalty SET current_balance = current_balance + 7
 WHERE player_id = '11111111-1111-1111-1111-111111111111';
-- What disagrees with the ledger (no rows: healthy)
SELECT problem, player_id, ledger_id, detail FROM loyalty.drift_check();
-- Rebuild the player's aggregate from the ledger, under the row lock; recorded with who and why
SELECT changed, balance_before, balance_after, lifetime_before, lifetime_after, tier_after
  FROM loyalty.reconcile_player('11111111-1111-1111-1111-111111111111',
                                '57aff000-0000-0000-0000-000000000001',
                                'drift reported by the nightly drift_check');
SELECT problem, player_id, ledger_id, detail FROM loyalty.drift_check();
-- The audit trail of reconciliations
SELECT player_id, staff_id, reason, balance_before, balance_after, changed
  FROM loyalty.reconciliation ORDER BY id DESC LIMIT 10;

-- ### Tracing an error a user reported
-- Setup: the user's failed call carried correlation id req-7f3a.
SELECT * FROM loyalty.redeem_points('11111111-1111-1111-1111-111111111111', 99999,
       '57aff000-0000-0000-0000-000000000001', 'cruise for two, all inclusive', 'runbook-redeem-1');
SELECT source, ledger_id, kind, points, balance_before, balance_after, detail
  FROM loyalty.trace('req-7f3a');

SELECT * FROM loyalty.drift_check();
