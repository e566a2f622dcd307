\set pid random(1, 100000)
\set r random(1, 1000000000000)
SELECT balance_after FROM bench.increment_plpgsql(bench.pid(:pid), 10, 'PROMOTION', 'p' || :run || '-' || :client_id || '-' || :r);
