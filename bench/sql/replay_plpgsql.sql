\set n random(1, 10000)
SELECT balance_after, idempotent_replay FROM bench.increment_plpgsql(bench.pid(:n), 10, 'PROMOTION', 'replay-' || :n);
