-- COMMENT ON for every function of the extension (tables and types are
-- commented where they are created, in schema.sql).
COMMENT ON FUNCTION loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text, uuid) IS
    'The one write path: applies one change to one player''s points at one casino exactly once (idempotency key, unique per casino), under the player''s row lock, with a full audit row; returns loyalty.change_result. p_casino_id: the casino (NULL: the session''s; a bound session may name only its own).';
COMMENT ON FUNCTION loyalty.idempotency_key(jsonb) IS
    'SHA-256 (lowercase hex) of the canonical k=v&... form of a JSON object: keys sorted by byte order, strings raw, numbers and booleans as JSON text, null as empty.';
COMMENT ON FUNCTION loyalty.gameplay_key(uuid) IS
    'Idempotency key of a rating slip''s gameplay accrual: one key per slip.';
COMMENT ON FUNCTION loyalty.promotion_key(uuid, text) IS
    'Idempotency key of a promotion: player and external reward id, so a redelivered reward is a replay.';
COMMENT ON FUNCTION loyalty.manual_reward(uuid, uuid, integer, text, integer, text, uuid) IS
    'A MANUAL_BONUS by a staff member holding loyalty:award: limit loyalty.max_manual_reward, reason of 10+ non-blank characters, rate limited; the same reward twice in one gaming day is a replay.';
COMMENT ON FUNCTION loyalty.apply_promotion(uuid, text, integer, text, uuid, text, integer, uuid) IS
    'A PROMOTION credit of a registered, current campaign (loyalty.promotion_campaign) at its points_per_credit, at most credits_per_player times (p_sequence 1, 2, ...), within its budget; a second delivery of the same reward is a replay. A named staff member must hold loyalty:promote.';
COMMENT ON FUNCTION loyalty.apply_promotion_batch(text, uuid[], text, uuid) IS
    'Credits a registered, current campaign to every player of p_player_ids in one call: each player''s first credit of the campaign (the key apply_promotion derives: either replays the other when apply_promotion had no reason or staff id), at its points_per_credit, within its budget, locked and audited like apply_promotion, in a few set-based statements. One row per array element, in order: credited, replayed (credited before, or named twice) or refused with its SQLSTATE and message; a campaign that is unknown or not running fails the call.';
COMMENT ON FUNCTION loyalty.redeem_points(uuid, integer, uuid, text, text, text, uuid) IS
    'A REDEMPTION of p_points (positive) by a staff member holding loyalty:redeem; never takes the balance below zero (23514).';
COMMENT ON FUNCTION loyalty.adjust_points(uuid, uuid, integer, text, text, text, uuid) IS
    'An ADJUSTMENT of either sign by a staff member holding loyalty:adjust, within loyalty.max_manual_reward, with a reason of 10+ non-blank characters.';
COMMENT ON FUNCTION loyalty.reverse_entry(bigint, uuid, text, text, uuid) IS
    'A REVERSAL row cancelling one ledger entry (staff needs loyalty:adjust); reversing the same entry again is a replay; reversals cannot be reversed.';
COMMENT ON FUNCTION loyalty.manual_reward_key(uuid, uuid, integer, text, date, integer, uuid) IS
    'The idempotency key loyalty.manual_reward derives: type, player, staff, points, reason, gaming day (default: the casino''s current one) and sequence.';
COMMENT ON FUNCTION loyalty.gaming_day(timestamptz, uuid) IS
    'The gaming day of a moment at a casino: it begins at the casino''s gaming_day_start local time in its gaming_day_timezone (each NULL: the loyalty.* setting; default 06:00, the server''s time zone).';
COMMENT ON FUNCTION loyalty.validate_reward(integer, text, uuid, uuid) IS
    'Runs the checks of a manual reward without writing (for UIs): valid, or the first failure''s SQLSTATE and message; remaining rewards in the window.';
COMMENT ON FUNCTION loyalty.rate_limit_status(uuid, uuid) IS
    'Manual rewards a staff member has left in the current rate window, and when the oldest counted one leaves it.';
COMMENT ON FUNCTION loyalty.calculate_gameplay_points(numeric, integer, jsonb, text) IS
    'Points for a session of play in exact decimal arithmetic: rounds = round(hours x average_rounds_per_hour); theo = bet x house_edge% x rounds; x points_conversion_rate (10) x point_multiplier (1) x tier multiplier; +5% per empty seat below 7; x1.1 when rounds exceed the hourly rate; rounded half up.';
COMMENT ON FUNCTION loyalty.complete_rating_slip(uuid, uuid, numeric, integer, jsonb, uuid, text, uuid) IS
    'Call in the transaction that closes the slip: records the accrual request, then credits it in a subtransaction. COMPLETED, ALREADY_COMPLETED, or PARTIAL_COMPLETION (the request stays pending with its error for recovery).';
COMMENT ON FUNCTION loyalty.recover_rating_slip(uuid, text, uuid) IS
    'Replays one pending accrual with its original idempotency key and (unless given) correlation id; a completed slip returns its original result; an unknown slip is 55000.';
COMMENT ON FUNCTION loyalty.recover_pending(integer, uuid) IS
    'Replays up to p_max due accruals (PENDING or FAILED with next_attempt_at passed) soonest first, skipping rows another session is recovering; one row per slip attempted; of the casino named, else the session''s, else (unbound session) every casino. Suitable for pg_cron.';
COMMENT ON FUNCTION loyalty.resolve_accrual(uuid, uuid, text, text, text, uuid) IS
    'A staff member holding loyalty:recover resolves an open (FAILED or STUCK) accrual with a reason: ''retry'' attempts it now with its attempts counted afresh, ''abandon'' closes it without credit; recorded in loyalty.accrual_resolution.';
COMMENT ON FUNCTION loyalty.bind_session_staff(uuid, uuid) IS
    'For a pooler connected as superuser: binds the session to a staff member (loyalty.session_staff_id) and, when p_casino_id is given, to a casino (loyalty.session_casino_id), after loading the library, so that RESET ALL and DISCARD ALL by the application''s role leave the binding in force. Superuser only.';
COMMENT ON FUNCTION loyalty.trusted_key_changed() IS
    'Trigger function: after any change to loyalty.trusted_key, tells every session to forget the staff tokens it verified.';
COMMENT ON FUNCTION loyalty.reconcile_player(uuid, uuid, text, uuid) IS
    'Rebuilds a player''s balance, lifetime points and tier from the ledger under the row lock (staff needs loyalty:adjust and a reason); every call is recorded in loyalty.reconciliation; idempotent.';
COMMENT ON FUNCTION loyalty.base_tier(uuid) IS
    'The lowest tier of the casino''s ladder in loyalty.tier (threshold 0): where a new player starts, and the tier balance_at reports before a player''s first entry.';
COMMENT ON FUNCTION loyalty.casino_scope(uuid) IS
    'The casino a call naming p_casino_id may see: that one (a bound session may name only its own, else 42501), else the session''s (staff token casino claim, else loyalty.session_casino_id), else NULL (unbound: every casino). Row-level security and the audit functions ask it.';
COMMENT ON FUNCTION loyalty.current_casino_id(uuid) IS
    'The casino a call naming p_casino_id acts for: that one (a bound session may name only its own, else 42501), else the session''s, else the default casino. The default of every casino_id column.';
COMMENT ON FUNCTION loyalty.staff_permission_changed() IS
    'Trigger function: after any change to loyalty.staff_permission, tells every session to re-read staff capabilities (kept per session) at its next transaction.';
COMMENT ON FUNCTION loyalty.casino_changed() IS
    'Trigger function: after any change to loyalty.casino, tells every session to re-read the casinos'' settings (kept per session) at its next transaction.';
COMMENT ON FUNCTION loyalty.hold_points(uuid, integer, uuid, text, text, timestamptz, text, uuid) IS
    'Reserves p_points of the player''s available balance (balance - points held) until captured, released or expired (p_expires_at, default now + loyalty.hold_expiry); staff needs loyalty:redeem; velocity-limited like redemptions; idempotent (the same key again is a replay, with a different request 23505); beyond what is available 23514.';
COMMENT ON FUNCTION loyalty.capture_hold(bigint, uuid, integer, text, uuid) IS
    'Charges an active hold, all of it or p_points of it, as one REDEMPTION (the rest is released); staff needs loyalty:redeem; a captured, released or expired hold is 55000; returns loyalty.change_result.';
COMMENT ON FUNCTION loyalty.release_hold(bigint, uuid, text, text, uuid) IS
    'Releases an active hold''s points with a reason; staff needs loyalty:redeem; a captured, released or expired hold is 55000.';
COMMENT ON FUNCTION loyalty.expire_holds(integer, uuid) IS
    'Closes the expired active holds of up to p_max players (of the casino named, else the session''s, else every casino), skipping players another session holds; one row per hold expired. Suitable for pg_cron; an expired hold counts for nothing even before it runs.';
COMMENT ON FUNCTION loyalty.expire_points(integer, timestamptz, uuid) IS
    'Writes off the expired points of up to p_max players by their casino''s expiry policy, as of p_as_of (default now; a future moment only for a superuser): one EXPIRATION ledger row per player and set of lots, through the write path; never the points a hold reserves; skips players another session holds; idempotent and resumable. Suitable for pg_cron.';
COMMENT ON FUNCTION loyalty.tier_changed() IS
    'Trigger function: after any change to loyalty.tier, tells every session to re-read the tier ladder (kept per session) at its next transaction.';

-- Write functions run as the extension owner (SECURITY DEFINER): only roles
-- granted EXECUTE may call them (see README, "Roles and GRANTs").
REVOKE ALL ON FUNCTION
    loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text, uuid),
    loyalty.manual_reward(uuid, uuid, integer, text, integer, text, uuid),
    loyalty.apply_promotion(uuid, text, integer, text, uuid, text, integer, uuid),
    loyalty.apply_promotion_batch(text, uuid[], text, uuid),
    loyalty.redeem_points(uuid, integer, uuid, text, text, text, uuid),
    loyalty.adjust_points(uuid, uuid, integer, text, text, text, uuid),
    loyalty.reverse_entry(bigint, uuid, text, text, uuid),
    loyalty.validate_reward(integer, text, uuid, uuid),
    loyalty.complete_rating_slip(uuid, uuid, numeric, integer, jsonb, uuid, text, uuid),
    loyalty.recover_rating_slip(uuid, text, uuid),
    loyalty.recover_pending(integer, uuid),
    loyalty.reconcile_player(uuid, uuid, text, uuid),
    loyalty.rate_limit_status(uuid, uuid),
    loyalty.base_tier(uuid),
    loyalty.resolve_accrual(uuid, uuid, text, text, text, uuid),
    loyalty.bind_session_staff(uuid, uuid),
    loyalty.hold_points(uuid, integer, uuid, text, text, timestamptz, text, uuid),
    loyalty.capture_hold(bigint, uuid, integer, text, uuid),
    loyalty.release_hold(bigint, uuid, text, text, uuid),
    loyalty.expire_holds(integer, uuid),
    loyalty.expire_points(integer, timestamptz, uuid)
FROM PUBLIC;
