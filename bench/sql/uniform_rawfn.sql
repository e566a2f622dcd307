-- raw in a function: the raw statement inside a plain PL/pgSQL function
-- (bench.raw_in_function), to measure what a function boundary alone costs.
\set pid random(1, 100000)
\set r random(1, 1000000000000)
SELECT bench.raw_in_function(bench.pid(:pid), 'f' || :run || '-' || :client_id || '-' || :r);
