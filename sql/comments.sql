-- COMMENT ON for every function of the extension (tables and types are
-- commented where they are created, in schema.sql).
COMMENT ON FUNCTION loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text) IS
    'The one write path: applies one change to one player''s points exactly once (idempotency key), under the player''s row lock, with a full audit row; returns loyalty.change_result.';
COMMENT ON FUNCTION loyalty.idempotency_key(jsonb) IS
    'SHA-256 (lowercase hex) of the canonical k=v&... form of a JSON object: keys sorted by byte order, strings raw, numbers and booleans as JSON text, null as empty.';
COMMENT ON FUNCTION loyalty.gameplay_key(uuid) IS
    'Idempotency key of a rating slip''s gameplay accrual: one key per slip.';
COMMENT ON FUNCTION loyalty.promotion_key(uuid, text) IS
    'Idempotency key of a promotion: player and external reward id, so a redelivered reward is a replay.';

-- Write functions run as the extension owner (SECURITY DEFINER): only roles
-- granted EXECUTE may call them (see README, "Roles and GRANTs").
REVOKE ALL ON FUNCTION loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text) FROM PUBLIC;
