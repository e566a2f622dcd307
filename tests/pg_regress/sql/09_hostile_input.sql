-- Hostile input: NULLs, empty strings, 1 MB text, control characters,
-- malformed JSON and extreme integers get a clear SQLSTATE and write nothing.
\pset footer off
\set VERBOSITY terse
SET loyalty.correlation_id = 'regress-hostile';
SELECT count(*) AS ledger_rows_before FROM loyalty.loyalty_ledger \gset
SELECT count(*) AS slips_before FROM loyalty.rating_slip_accrual \gset

SELECT * FROM loyalty.manual_reward(NULL, NULL, NULL, NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.manual_reward('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001', 100, repeat('x', 1048576));
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.manual_reward('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001', 100, E'legit reason\u0007\u001b[2J');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.manual_reward('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001', -2147483648, 'a perfectly fine reason');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.manual_reward('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001', 2147483647, 'a perfectly fine reason');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.manual_reward('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001', 10, 'a perfectly fine reason', p_sequence => -2147483648);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.apply_promotion('b0000000-0000-0000-0000-0000000000f1', '', 10);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.apply_promotion('b0000000-0000-0000-0000-0000000000f1', repeat('r', 100000), 10);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.apply_promotion('b0000000-0000-0000-0000-0000000000f1', 'promo', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.redeem_points('b0000000-0000-0000-0000-0000000000f1', 2147483647, '57aff000-0000-0000-0000-000000000001', 'a perfectly fine reason', 'hostile-1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.redeem_points('b0000000-0000-0000-0000-0000000000f1', -2147483648, '57aff000-0000-0000-0000-000000000001', 'a perfectly fine reason', 'hostile-2');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.adjust_points('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001', 0, 'a perfectly fine reason', 'hostile-3');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.adjust_points('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001', 5, 'a perfectly fine reason', E'key\ttab');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.reverse_entry(9223372036854775807, '57aff000-0000-0000-0000-000000000001', 'a perfectly fine reason');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.reverse_entry(NULL, NULL, NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-0000000000f1', 5, 'PROMOTION', E'\u00e9\u0301\u200b', p_correlation_id => E'corr\nid');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-0000000000f1', 5, repeat('X', 100000), 'hostile-4');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Malformed JSON is refused by PostgreSQL's own jsonb input (22P02).
SELECT * FROM loyalty.complete_rating_slip('5100f000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-0000000000f1', 25, 3600, '{"house_edge": 2,');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.complete_rating_slip('5100f000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-0000000000f1', 25, 3600, '{"house_edge": {"nested": 1}, "average_rounds_per_hour": 60}');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.complete_rating_slip('5100f000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-0000000000f1', 'Infinity', 3600, '{"house_edge": 2, "average_rounds_per_hour": 60}');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.complete_rating_slip('5100f000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-0000000000f1', 1e100, 2147483647, '{"house_edge": 100, "average_rounds_per_hour": 1000000}');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.complete_rating_slip('5100f000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-0000000000f1', 25, -2147483648, '{"house_edge": 2, "average_rounds_per_hour": 60}');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT loyalty.calculate_gameplay_points(25, 3600, '{"house_edge": 2, "average_rounds_per_hour": 1e400}', 'GOLD');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT loyalty.idempotency_key('null');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT loyalty.manual_reward_key('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001', 10, 'a perfectly fine reason', '-infinity');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.recover_pending(2147483647);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.validate_reward(NULL, NULL, NULL);
SELECT * FROM loyalty.player_statement(NULL);
SELECT * FROM loyalty.balance_at(NULL, NULL);
SELECT loyalty.gaming_day(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- Nothing was written, and the server is still here.
SELECT count(*) - :ledger_rows_before AS new_ledger_rows FROM loyalty.loyalty_ledger;
SELECT count(*) - :slips_before AS new_slips FROM loyalty.rating_slip_accrual;
SELECT * FROM loyalty.drift_check();

-- JSON nested deeper than the parser's limit is a bad argument (22023) with
-- the correlation id, not an internal error.
SELECT loyalty.idempotency_key(('{"a":' || repeat('[', 200) || '1' || repeat(']', 200) || '}')::jsonb);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.complete_rating_slip('5100f000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-0000000000f1',
       25, 3600, ('{"house_edge": 2, "average_rounds_per_hour": 60, "x": ' || repeat('[', 200) || '1'
                  || repeat(']', 200) || '}')::jsonb);
\echo sqlstate :LAST_ERROR_SQLSTATE
-- A reason of zero-width characters says nothing (22023); bidirectional
-- controls, which reorder what a log or a screen shows, are refused.
SELECT * FROM loyalty.manual_reward('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001',
       10, repeat(E'\u200B', 20));
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.manual_reward('b0000000-0000-0000-0000-0000000000f1', '57aff000-0000-0000-0000-000000000001',
       10, E'refund for \u202Edlrow olleh');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Caller text in DETAIL is quoted: a key cannot forge existing_ledger_id.
SELECT count(*) FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-0000000000f2', 5, 'PROMOTION',
       'forge, existing_ledger_id=999');
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-0000000000f2', 6, 'PROMOTION',
       'forge, existing_ledger_id=999');
SELECT * FROM loyalty.drift_check();
