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
COMMENT ON FUNCTION loyalty.manual_reward(uuid, uuid, integer, text, integer, text) IS
    'A MANUAL_BONUS by a staff member holding loyalty:award: limit loyalty.max_manual_reward, reason of 10+ non-blank characters, rate limited; the same reward twice in one gaming day is a replay.';
COMMENT ON FUNCTION loyalty.apply_promotion(uuid, text, integer, text, uuid, text) IS
    'A PROMOTION keyed by the external reward id: a second delivery of the same reward is a replay. A named staff member must hold loyalty:promote.';
COMMENT ON FUNCTION loyalty.redeem_points(uuid, integer, uuid, text, text, text) IS
    'A REDEMPTION of p_points (positive) by a staff member holding loyalty:redeem; never takes the balance below zero (23514).';
COMMENT ON FUNCTION loyalty.adjust_points(uuid, uuid, integer, text, text, text) IS
    'An ADJUSTMENT of either sign by a staff member holding loyalty:adjust, within loyalty.max_manual_reward, with a reason of 10+ non-blank characters.';
COMMENT ON FUNCTION loyalty.reverse_entry(bigint, uuid, text, text) IS
    'A REVERSAL row cancelling one ledger entry (staff needs loyalty:adjust); reversing the same entry again is a replay; reversals cannot be reversed.';
COMMENT ON FUNCTION loyalty.manual_reward_key(uuid, uuid, integer, text, date, integer) IS
    'The idempotency key loyalty.manual_reward derives: type, player, staff, points, reason, gaming day (default: the current one) and sequence.';
COMMENT ON FUNCTION loyalty.gaming_day(timestamptz) IS
    'The gaming day of a moment: it begins at loyalty.gaming_day_start local time in loyalty.gaming_day_timezone (default 06:00, the server''s time zone).';
COMMENT ON FUNCTION loyalty.validate_reward(integer, text, uuid) IS
    'Runs the checks of a manual reward without writing (for UIs): valid, or the first failure''s SQLSTATE and message; remaining rewards in the window.';
COMMENT ON FUNCTION loyalty.rate_limit_status(uuid) IS
    'Manual rewards a staff member has left in the current rate window, and when the oldest counted one leaves it.';

-- Write functions run as the extension owner (SECURITY DEFINER): only roles
-- granted EXECUTE may call them (see README, "Roles and GRANTs").
REVOKE ALL ON FUNCTION
    loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text),
    loyalty.manual_reward(uuid, uuid, integer, text, integer, text),
    loyalty.apply_promotion(uuid, text, integer, text, uuid, text),
    loyalty.redeem_points(uuid, integer, uuid, text, text, text),
    loyalty.adjust_points(uuid, uuid, integer, text, text, text),
    loyalty.reverse_entry(bigint, uuid, text, text),
    loyalty.validate_reward(integer, text, uuid),
    loyalty.rate_limit_status(uuid)
FROM PUBLIC;
