\set pid random(1, 100000)
\set r random(1, 1000000000000)
SELECT balance_after FROM loyalty.increment_player_loyalty(bench.pid(:pid), 10, 'PROMOTION', 'e' || :run || '-' || :client_id || '-' || :r);
