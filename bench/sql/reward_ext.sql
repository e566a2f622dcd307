-- A host's manual reward, token-authenticated: the client's staff token is
-- set in the session (set_config, evaluated before the call as part of its
-- argument), then manual_reward checks it, the staff member's capability
-- and velocity limit, and writes.
\set pid random(1, 100000)
\set pts random(1, 500)
SELECT r.balance_after
  FROM bench.staff_token t,
       LATERAL loyalty.manual_reward(bench.pid(:pid), bench.pid(900000 + :client_id), :pts,
               'host reward at table ' || :pts || left(set_config('loyalty.staff_token', t.token, false), 0),
               p_sequence => :client_id + 1) r
 WHERE t.client = :client_id;
