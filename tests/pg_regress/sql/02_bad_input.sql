-- Every bad input gets a clear error with its SQLSTATE and writes nothing.
\pset footer off
SET loyalty.correlation_id = 'regress-bad-input';
SELECT count(*) AS ledger_rows_before FROM loyalty.loyalty_ledger \gset

-- NULL player id (22023)
SELECT * FROM loyalty.increment_player_loyalty(NULL, 10, 'PROMOTION', 'bad-1');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- NULL and zero points (22023)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', NULL, 'PROMOTION', 'bad-2');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 0, 'PROMOTION', 'bad-3');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Unknown or NULL transaction type (22023)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'FREEBIE', 'bad-4');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, NULL, 'bad-5');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- The idempotency key is required: NULL, empty and blank are refused (22023)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'PROMOTION', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'PROMOTION', '');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'PROMOTION', '   ');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- An absurdly long key or reason (22023)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'PROMOTION', repeat('k', 201));
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'PROMOTION', 'bad-6',
       p_reason => repeat('x', 1000000));
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Control characters hide text in logs (22023)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'PROMOTION', E'bad-7\n');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Signs follow the type (22023)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', -10, 'PROMOTION', 'bad-8');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'REDEMPTION', 'bad-9',
       p_staff_id => '57aff000-0000-0000-0000-000000000001', p_reason => 'comp for the buffet');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- GAMEPLAY needs its rating slip (22023)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'GAMEPLAY', 'bad-10');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Manual changes need a staff id and a reason of 10 non-blank characters (22023)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'MANUAL_BONUS', 'bad-11',
       p_reason => 'good player');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'MANUAL_BONUS', 'bad-12',
       p_staff_id => '57aff000-0000-0000-0000-000000000001', p_reason => 'a b c d e f g h i');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- A manual reward above loyalty.max_manual_reward (22003)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10001, 'MANUAL_BONUS', 'bad-13',
       p_staff_id => '57aff000-0000-0000-0000-000000000001', p_reason => 'big night at the tables');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- An over-long correlation id (22023); the error carries the session's id instead.
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000001', 10, 'PROMOTION', 'bad-14',
       p_correlation_id => repeat('c', 201));
\echo sqlstate :LAST_ERROR_SQLSTATE
-- A spend on a player with nothing (23514)
SELECT * FROM loyalty.increment_player_loyalty('b0000000-0000-0000-0000-000000000009', -1, 'ADJUSTMENT', 'bad-15',
       p_staff_id => '57aff000-0000-0000-0000-000000000001', p_reason => 'removing a duplicate credit');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- idempotency_key() wants a JSON object (22023)
SELECT loyalty.idempotency_key('[1, 2]');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- Nothing was written by any of the above.
SELECT count(*) - :ledger_rows_before AS new_ledger_rows FROM loyalty.loyalty_ledger;
SELECT * FROM loyalty.drift_check();
