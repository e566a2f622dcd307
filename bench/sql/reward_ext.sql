\set pid random(1, 100000)
\set pts random(1, 500)
SELECT balance_after FROM loyalty.manual_reward(bench.pid(:pid), bench.pid(900000 + :client_id), :pts,
       'host reward at table ' || :pts, p_sequence => :client_id + 1);
