-- The honest competitor: a PL/pgSQL function with the contract of
-- loyalty.increment_player_loyalty — validation, idempotent replay with a
-- request fingerprint, conflict detection, capability checks for staff
-- types, race-free player creation, the row lock, tier and progress from
-- loyalty.tier, all audit columns, ON CONFLICT for a concurrent same key.
-- Writes the same event lines to the server log (replay, conflict, tier
-- upgrade) under loyalty.log_events, as SPEC section 7 asks.
-- (Not implemented: the manual-reward rate limit; no benchmark workload
-- exercises it.)  Lives in schema bench; writes the extension's tables.

CREATE SCHEMA IF NOT EXISTS bench;

CREATE OR REPLACE FUNCTION bench.increment_plpgsql(
    p_player_id uuid, p_delta_points integer, p_transaction_type text, p_idempotency_key text,
    p_reason text DEFAULT NULL, p_staff_id uuid DEFAULT NULL, p_rating_slip_id uuid DEFAULT NULL,
    p_visit_id uuid DEFAULT NULL, p_correlation_id text DEFAULT NULL, p_casino_id uuid DEFAULT NULL)
RETURNS loyalty.change_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_corr text := coalesce(nullif(p_correlation_id, ''), nullif(current_setting('loyalty.correlation_id', true), ''),
                            gen_random_uuid()::text);
    v_fp text;
    v_prior record;
    v_player record;
    v_after bigint;
    v_life bigint;
    v_tier text;
    v_next bigint;
    v_cur bigint;
    v_progress int;
    v_id bigint;
    v_at timestamptz;
    v_caps text[];
    v_cap text;
    r loyalty.change_result;
    v_casino uuid := loyalty.current_casino_id(p_casino_id);
BEGIN
    IF p_player_id IS NULL THEN RAISE EXCEPTION 'p_player_id must not be null' USING ERRCODE = '22023'; END IF;
    IF p_delta_points IS NULL OR p_delta_points = 0 THEN RAISE EXCEPTION 'points must not be null or zero' USING ERRCODE = '22023'; END IF;
    IF p_transaction_type NOT IN ('GAMEPLAY', 'MANUAL_BONUS', 'PROMOTION', 'REDEMPTION', 'ADJUSTMENT') OR p_transaction_type IS NULL THEN
        RAISE EXCEPTION 'unknown transaction type "%"', p_transaction_type USING ERRCODE = '22023';
    END IF;
    IF p_idempotency_key IS NULL OR btrim(p_idempotency_key) = '' OR length(p_idempotency_key) > 200 THEN
        RAISE EXCEPTION 'p_idempotency_key is required' USING ERRCODE = '22023';
    END IF;
    IF p_reason IS NOT NULL AND length(p_reason) > 1000 THEN RAISE EXCEPTION 'p_reason is too long' USING ERRCODE = '22023'; END IF;
    IF p_transaction_type IN ('GAMEPLAY', 'MANUAL_BONUS', 'PROMOTION') AND p_delta_points < 0 THEN
        RAISE EXCEPTION '% points must be positive', p_transaction_type USING ERRCODE = '22023';
    END IF;
    IF p_transaction_type = 'REDEMPTION' AND p_delta_points > 0 THEN
        RAISE EXCEPTION 'REDEMPTION points must be negative' USING ERRCODE = '22023';
    END IF;
    IF p_transaction_type = 'GAMEPLAY' AND p_rating_slip_id IS NULL THEN
        RAISE EXCEPTION 'GAMEPLAY requires p_rating_slip_id' USING ERRCODE = '22023';
    END IF;
    IF p_transaction_type IN ('MANUAL_BONUS', 'ADJUSTMENT', 'REDEMPTION') THEN
        IF p_staff_id IS NULL THEN RAISE EXCEPTION '% requires p_staff_id', p_transaction_type USING ERRCODE = '22023'; END IF;
        IF length(regexp_replace(coalesce(p_reason, ''), '\s', '', 'g')) < 10 THEN
            RAISE EXCEPTION 'reason must have at least 10 non-blank characters' USING ERRCODE = '22023';
        END IF;
    END IF;
    IF p_transaction_type IN ('MANUAL_BONUS', 'ADJUSTMENT') AND abs(p_delta_points) > current_setting('loyalty.max_manual_reward')::int THEN
        RAISE EXCEPTION 'points % exceed the manual reward limit', abs(p_delta_points) USING ERRCODE = '22003';
    END IF;

    v_fp := encode(sha256(convert_to(concat_ws('&', 'player=' || p_player_id, 'points=' || p_delta_points,
                    'reason=' || coalesce(p_reason, ''), 'slip=' || coalesce(p_rating_slip_id::text, ''),
                    'staff=' || coalesce(p_staff_id::text, ''), 'type=' || p_transaction_type,
                    'visit=' || coalesce(p_visit_id::text, '')), 'UTF8')), 'hex');

    <<attempt>>
    FOR i IN 1..2 LOOP
        SELECT * INTO v_prior FROM loyalty.loyalty_ledger WHERE casino_id = v_casino AND idempotency_key = p_idempotency_key;
        IF FOUND THEN
            IF v_prior.request_fingerprint <> v_fp THEN
                IF coalesce(current_setting('loyalty.log_events', true), 'on')::boolean THEN
                    RAISE LOG 'loyalty event=idempotency_conflict correlation_id=% idempotency_key=% existing_ledger_id=%',
                        v_corr, p_idempotency_key, v_prior.id;
                END IF;
                RAISE EXCEPTION 'idempotency key % was already used for a different request', p_idempotency_key
                    USING ERRCODE = '23505';
            END IF;
            r := (v_prior.player_id, v_prior.balance_before, v_prior.balance_after, v_prior.tier_before,
                  v_prior.tier_after, v_prior.tier_progress_after, v_prior.lifetime_points_after,
                  v_prior.created_at, false, v_prior.id, true, v_prior.correlation_id);
            IF coalesce(current_setting('loyalty.log_events', true), 'on')::boolean THEN
                RAISE LOG 'loyalty event=idempotent_replay correlation_id=% idempotency_key=% ledger_id=% original_correlation_id=%',
                    v_corr, p_idempotency_key, v_prior.id, v_prior.correlation_id;
            END IF;
            RETURN r;
        END IF;
        EXIT attempt WHEN i = 2;

        v_cap := CASE p_transaction_type WHEN 'MANUAL_BONUS' THEN 'loyalty:award' WHEN 'REDEMPTION' THEN 'loyalty:redeem'
                      WHEN 'ADJUSTMENT' THEN 'loyalty:adjust' WHEN 'PROMOTION' THEN 'loyalty:promote' END;
        IF v_cap IS NOT NULL AND p_staff_id IS NOT NULL THEN
            SELECT capabilities INTO v_caps FROM loyalty.staff_permission WHERE casino_id = v_casino AND staff_id = p_staff_id;
            IF NOT FOUND OR NOT (v_cap = ANY (v_caps)) THEN
                RAISE EXCEPTION 'staff % lacks capability %', p_staff_id, v_cap USING ERRCODE = '42501';
            END IF;
        END IF;

        SELECT * INTO v_player FROM loyalty.player_loyalty WHERE casino_id = v_casino AND player_id = p_player_id FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO loyalty.player_loyalty (casino_id, player_id, tier)
            SELECT v_casino, p_player_id, t.name FROM loyalty.tier t WHERE t.casino_id = v_casino ORDER BY t.threshold LIMIT 1
            ON CONFLICT (casino_id, player_id) DO NOTHING;
            SELECT * INTO v_player FROM loyalty.player_loyalty WHERE casino_id = v_casino AND player_id = p_player_id FOR UPDATE;
        END IF;

        v_after := v_player.current_balance + p_delta_points;
        IF v_after < v_player.held_points THEN  -- held points are not spendable (SPEC 15)
            RAISE EXCEPTION 'insufficient balance: % available, % requested', v_player.current_balance, -p_delta_points
                USING ERRCODE = '23514';
        END IF;
        v_life := v_player.lifetime_points + greatest(p_delta_points, 0);
        SELECT t.name, t.threshold INTO v_tier, v_cur FROM loyalty.tier t WHERE t.casino_id = v_casino AND t.threshold <= v_life
         ORDER BY t.threshold DESC LIMIT 1;
        SELECT min(t.threshold) INTO v_next FROM loyalty.tier t WHERE t.casino_id = v_casino AND t.threshold > v_life;
        v_progress := CASE WHEN v_next IS NULL THEN 100 ELSE ((v_life - v_cur) * 100 / (v_next - v_cur))::int END;

        INSERT INTO loyalty.loyalty_ledger
            (casino_id, player_id, points_change, transaction_type, reason, rating_slip_id, visit_id, idempotency_key,
             request_fingerprint, staff_id, balance_before, balance_after, tier_before, tier_after,
             tier_progress_after, lifetime_points_after, correlation_id)
        VALUES (v_casino, p_player_id, p_delta_points, p_transaction_type, p_reason, p_rating_slip_id, p_visit_id,
                p_idempotency_key, v_fp, p_staff_id, v_player.current_balance, v_after, v_player.tier, v_tier,
                v_progress, v_life, v_corr)
        ON CONFLICT (casino_id, idempotency_key) DO NOTHING
        RETURNING id, created_at INTO v_id, v_at;
        IF v_id IS NULL THEN
            CONTINUE attempt;  -- a concurrent caller committed the key: answer as a replay
        END IF;
        UPDATE loyalty.player_loyalty
           SET current_balance = v_after, lifetime_points = v_life, tier = v_tier, tier_progress = v_progress,
               updated_at = v_at
         WHERE casino_id = v_casino AND player_id = p_player_id;
        IF v_tier <> v_player.tier AND coalesce(current_setting('loyalty.log_events', true), 'on')::boolean THEN
            RAISE LOG 'loyalty event=tier_upgrade correlation_id=% player_id=% tier_before=% tier_after=% ledger_id=%',
                v_corr, p_player_id, v_player.tier, v_tier, v_id;
        END IF;
        r := (p_player_id, v_player.current_balance, v_after, v_player.tier, v_tier, v_progress, v_life, v_at,
              true, v_id, false, v_corr);
        RETURN r;
    END LOOP;
    RAISE EXCEPTION 'conflicting key vanished' USING ERRCODE = 'XX000';
END
$$;

-- Player n of the benchmark as a uuid (inlined by the planner).
CREATE OR REPLACE FUNCTION bench.pid(n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;

-- The floor for any server-side function: the raw variant's one statement
-- inside a plain PL/pgSQL function, no checks.  Its distance to raw is the
-- cost of a function call boundary and SPI alone.
CREATE OR REPLACE FUNCTION bench.raw_in_function(p_player_id uuid, p_key text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    WITH p AS (
        UPDATE loyalty.player_loyalty
           SET current_balance = current_balance + 10, lifetime_points = lifetime_points + 10, updated_at = now()
         WHERE casino_id = '00000000-0000-0000-0000-000000000000' AND player_id = p_player_id
     RETURNING casino_id, player_id, current_balance, lifetime_points, tier)
    INSERT INTO loyalty.loyalty_ledger (casino_id, player_id, points_change, transaction_type, idempotency_key, request_fingerprint,
           balance_before, balance_after, tier_before, tier_after, tier_progress_after, lifetime_points_after, correlation_id)
    SELECT casino_id, player_id, 10, 'PROMOTION', p_key,
           '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', current_balance - 10, current_balance,
           tier, tier, 0, lifetime_points, lpad(txid_current()::text, 36, '0')
      FROM p
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
