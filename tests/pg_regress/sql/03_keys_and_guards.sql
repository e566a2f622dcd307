-- Idempotency keys (SPEC section 4) and the append-only ledger.
\pset footer off

-- The two vectors of SPEC section 4, exactly.
SELECT loyalty.idempotency_key('{"playerId":"player-123","staffId":"staff-456","date":"2025-10-13","sequence":1,"type":"manual_reward"}') AS manual_reward_vector;
SELECT loyalty.idempotency_key('{"playerId":"player-123","rewardId":"promo-xyz-2025","type":"external_reward"}') AS external_reward_vector;
-- Member order does not matter; null is empty; numbers keep their JSON text.
SELECT loyalty.idempotency_key('{"b":2,"a":1}') = loyalty.idempotency_key('{"a":1,"b":2}') AS order_free;
SELECT loyalty.idempotency_key('{"a":null}') = encode(sha256('a='::bytea), 'hex') AS null_is_empty;
SELECT loyalty.idempotency_key('{"a":1.50}') = encode(sha256('a=1.50'::bytea), 'hex') AS numbers_as_text;
-- Typed derivations: one gameplay key per slip, promotions per player and reward.
SELECT loyalty.gameplay_key('5100e000-0000-0000-0000-000000000001')
     = loyalty.idempotency_key('{"type":"gameplay","ratingSlipId":"5100e000-0000-0000-0000-000000000001"}') AS gameplay_key;
SELECT loyalty.promotion_key('a0000000-0000-0000-0000-000000000001', 'promo-xyz-2025')
     = loyalty.idempotency_key('{"type":"external_reward","playerId":"a0000000-0000-0000-0000-000000000001","rewardId":"promo-xyz-2025"}') AS promotion_key;

-- The ledger is append-only for every role, superusers and the owner included.
UPDATE loyalty.loyalty_ledger SET points_change = 1000000;
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM loyalty.loyalty_ledger;
\echo sqlstate :LAST_ERROR_SQLSTATE
TRUNCATE loyalty.loyalty_ledger CASCADE;
\echo sqlstate :LAST_ERROR_SQLSTATE
-- ... also under session_replication_role = replica (ENABLE ALWAYS triggers).
SET session_replication_role = replica;
DELETE FROM loyalty.loyalty_ledger;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET session_replication_role;

-- Nothing is granted to PUBLIC.
SELECT c.relname,
       has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE') AS public_has_access
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'loyalty' AND c.relkind = 'r' ORDER BY 1;
SELECT has_function_privilege('public', 'loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text, uuid)', 'EXECUTE') AS public_may_write;

-- Every table and function of the extension has a comment.
SELECT p.proname AS uncommented_function FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'loyalty' AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT c.relname AS uncommented_table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'loyalty' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL;

-- Settings so far, with their defaults.
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'loyalty.%' ORDER BY name;
-- An application role cannot raise the manual reward limit.
CREATE ROLE regress_app LOGIN;
SET ROLE regress_app;
SET loyalty.max_manual_reward = 1000000;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_app;
-- Misspelled settings are refused rather than silently ignored.
SET loyalty.max_manual_rewards = 5;
\echo sqlstate :LAST_ERROR_SQLSTATE

SELECT * FROM loyalty.drift_check();
