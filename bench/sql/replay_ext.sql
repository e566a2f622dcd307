\set n random(1, 10000)
SELECT balance_after, idempotent_replay FROM loyalty.increment_player_loyalty(bench.pid(:n), 10, 'PROMOTION', 'replay-' || :n);
