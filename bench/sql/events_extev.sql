\set pid random(1, 100000)
\set r random(1, 1000000000000)
SELECT balance_after FROM loyalty.increment_player_loyalty(bench.pid(:pid), 10, 'PROMOTION', 'v' || :run || '-' || :client_id || '-' || :r, p_casino_id => 'e7e7e7e7-0000-0000-0000-000000000000');
