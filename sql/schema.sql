-- loyalty_ext: tables, indexes and guards of the loyalty ledger.
--
-- This file is the bootstrap part of the extension script: pgrx places it
-- before every generated function.  It is hand-written so that a DBA can
-- read the whole data model in one place.

-- Casinos (SPEC section 14).  Every row of every other table belongs to
-- one casino.  A casino's settings columns are named after the loyalty.*
-- settings they override; NULL follows the setting, so the default casino
-- (made below, and where a 0.1.0 database's rows go on upgrade) behaves as
-- a single-casino installation always did.
CREATE TABLE loyalty.casino (
    casino_id                       uuid        PRIMARY KEY,
    name                            text        NOT NULL UNIQUE
                                                CHECK (length(name) BETWEEN 1 AND 200 AND name !~ '[[:cntrl:]]'),
    gaming_day_start                text        CHECK (gaming_day_start ~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$'),
    gaming_day_timezone             text        CHECK (length(gaming_day_timezone) BETWEEN 1 AND 100),
    max_manual_reward               integer     CHECK (max_manual_reward > 0),
    manual_reward_rate_limit        integer     CHECK (manual_reward_rate_limit >= 0),
    manual_reward_points_limit      integer     CHECK (manual_reward_points_limit >= 0),
    manual_reward_rate_window       integer     CHECK (manual_reward_rate_window > 0),
    role_manual_reward_rate_limit   integer     CHECK (role_manual_reward_rate_limit >= 0),
    role_manual_reward_points_limit integer     CHECK (role_manual_reward_points_limit >= 0),
    adjustment_rate_limit           integer     CHECK (adjustment_rate_limit >= 0),
    adjustment_points_limit         integer     CHECK (adjustment_points_limit >= 0),
    adjustment_rate_window          integer     CHECK (adjustment_rate_window > 0),
    role_adjustment_rate_limit      integer     CHECK (role_adjustment_rate_limit >= 0),
    role_adjustment_points_limit    integer     CHECK (role_adjustment_points_limit >= 0),
    redemption_rate_limit           integer     CHECK (redemption_rate_limit >= 0),
    redemption_points_limit         integer     CHECK (redemption_points_limit >= 0),
    redemption_rate_window          integer     CHECK (redemption_rate_window > 0),
    role_redemption_rate_limit      integer     CHECK (role_redemption_rate_limit >= 0),
    role_redemption_points_limit    integer     CHECK (role_redemption_points_limit >= 0),
    point_value                     numeric     CHECK (point_value >= 0),
    created_at                      timestamptz NOT NULL DEFAULT now(),
    expiry_policy                   text        NOT NULL DEFAULT 'none'
                                                CHECK (expiry_policy IN ('none', 'fixed', 'inactivity')),
    expiry_months                   integer     CHECK (expiry_months BETWEEN 1 AND 1200),
    balance_events                  boolean     NOT NULL DEFAULT false,
    CONSTRAINT casino_expiry CHECK (expiry_policy = 'none' OR expiry_months IS NOT NULL)
);
COMMENT ON TABLE loyalty.casino IS
    'Casinos served by this database and the settings each sets for itself: a column named after a loyalty.* setting overrides it for the casino (NULL follows the setting); the default casino 00000000-0000-0000-0000-000000000000 is made by CREATE EXTENSION.';
COMMENT ON COLUMN loyalty.casino.gaming_day_timezone IS
    'Time zone of the casino''s gaming day (e.g. America/Los_Angeles); NULL follows loyalty.gaming_day_timezone.';
COMMENT ON COLUMN loyalty.casino.expiry_policy IS
    'When points expire: none (never), fixed (expiry_months after they were earned), inactivity (all of a player''s points, expiry_months after the player''s last change); loyalty.expire_points writes them off.';
COMMENT ON COLUMN loyalty.casino.point_value IS
    'Money per point, for liability reports; NULL when not set.';
COMMENT ON COLUMN loyalty.casino.balance_events IS
    'Write an event to the outbox (loyalty.event) for every balance change at this casino, not only the notable ones; off by default (it costs every change an insert).';

-- Every point value a casino has had and since when, so that a liability
-- of a past moment is valued as it was then (loyalty.liability).
CREATE TABLE loyalty.point_value_history (
    casino_id    uuid        NOT NULL REFERENCES loyalty.casino (casino_id) ON DELETE CASCADE,
    valid_from   timestamptz NOT NULL DEFAULT clock_timestamp(),
    point_value  numeric,
    CONSTRAINT point_value_history_pkey PRIMARY KEY (casino_id, valid_from)
);
COMMENT ON TABLE loyalty.point_value_history IS
    'Each point_value a casino has had and since when (written by a trigger on loyalty.casino); loyalty.liability values a past moment with the value then in effect.';
CREATE FUNCTION loyalty.record_point_value() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.point_value IS DISTINCT FROM OLD.point_value THEN
        INSERT INTO loyalty.point_value_history (casino_id, valid_from, point_value)
        VALUES (NEW.casino_id, clock_timestamp(), NEW.point_value)
        ON CONFLICT (casino_id, valid_from) DO UPDATE SET point_value = EXCLUDED.point_value;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION loyalty.record_point_value() IS
    'Trigger function: records a casino''s point_value, and each change of it, in loyalty.point_value_history.';
CREATE TRIGGER casino_point_value AFTER INSERT OR UPDATE OF point_value ON loyalty.casino
    FOR EACH ROW EXECUTE FUNCTION loyalty.record_point_value();

-- The default casino inserted again updates it: this is what lets pg_dump
-- keep its settings (a restore runs CREATE EXTENSION, which makes it, then
-- loads the dumped rows).  Any other casino id is an ordinary key.
CREATE FUNCTION loyalty.replace_casino() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.casino_id <> '00000000-0000-0000-0000-000000000000'::uuid THEN
        RETURN NEW;
    END IF;
    -- Every column but the id; a column added to loyalty.casino is added
    -- here too (tests/dump_restore.rs compares the whole row).
    UPDATE loyalty.casino c
       SET name = NEW.name, gaming_day_start = NEW.gaming_day_start,
           gaming_day_timezone = NEW.gaming_day_timezone, max_manual_reward = NEW.max_manual_reward,
           manual_reward_rate_limit = NEW.manual_reward_rate_limit,
           manual_reward_points_limit = NEW.manual_reward_points_limit,
           manual_reward_rate_window = NEW.manual_reward_rate_window,
           role_manual_reward_rate_limit = NEW.role_manual_reward_rate_limit,
           role_manual_reward_points_limit = NEW.role_manual_reward_points_limit,
           adjustment_rate_limit = NEW.adjustment_rate_limit,
           adjustment_points_limit = NEW.adjustment_points_limit,
           adjustment_rate_window = NEW.adjustment_rate_window,
           role_adjustment_rate_limit = NEW.role_adjustment_rate_limit,
           role_adjustment_points_limit = NEW.role_adjustment_points_limit,
           redemption_rate_limit = NEW.redemption_rate_limit,
           redemption_points_limit = NEW.redemption_points_limit,
           redemption_rate_window = NEW.redemption_rate_window,
           role_redemption_rate_limit = NEW.role_redemption_rate_limit,
           role_redemption_points_limit = NEW.role_redemption_points_limit,
           point_value = NEW.point_value, created_at = NEW.created_at,
           expiry_policy = NEW.expiry_policy, expiry_months = NEW.expiry_months,
           balance_events = NEW.balance_events
     WHERE c.casino_id = NEW.casino_id;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.replace_casino() IS
    'Trigger function: the default casino inserted again updates its row (keeps its settings across pg_dump/restore); any other casino id is an ordinary key.';
CREATE TRIGGER casino_replace BEFORE INSERT ON loyalty.casino
    FOR EACH ROW EXECUTE FUNCTION loyalty.replace_casino();

-- Tiers are editable data: a casino changes thresholds and multipliers with
-- plain UPDATEs.  The lowest tier must start at 0 lifetime points.
CREATE TABLE loyalty.tier (
    name        text    NOT NULL CHECK (name ~ '^[A-Z][A-Z0-9_]*$'),
    threshold   bigint  NOT NULL CHECK (threshold >= 0),
    multiplier  numeric(6, 2) NOT NULL CHECK (multiplier > 0),
    -- Columns from 0.2.0 on come last, in the order the upgrade adds them.
    casino_id   uuid    NOT NULL REFERENCES loyalty.casino (casino_id),
    CONSTRAINT tier_pkey PRIMARY KEY (casino_id, name),
    CONSTRAINT tier_threshold_key UNIQUE (casino_id, threshold)
);
COMMENT ON TABLE loyalty.tier IS
    'Loyalty tiers, one ladder per casino: a player holds the highest tier whose threshold is at most their lifetime points; multiplier scales gameplay points.';

-- A tier inserted with the name or threshold of an existing one replaces it.
-- This is what lets pg_dump keep edited tiers: a restore runs CREATE
-- EXTENSION (the defaults above) and then loads the dumped rows over them.
CREATE FUNCTION loyalty.replace_tier() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM loyalty.tier t
     WHERE t.casino_id = NEW.casino_id AND (t.name = NEW.name OR t.threshold = NEW.threshold);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.replace_tier() IS
    'Trigger function: an inserted tier replaces the casino''s tier with the same name or threshold (keeps edited tiers across pg_dump/restore).';
CREATE TRIGGER tier_replace BEFORE INSERT ON loyalty.tier
    FOR EACH ROW EXECUTE FUNCTION loyalty.replace_tier();

-- A new casino starts with the default ladder (SPEC section 2) and edits
-- its own; a casino that has tiers already (the default casino of an
-- upgraded database, a restore) keeps them.
CREATE FUNCTION loyalty.start_tier_ladder() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM loyalty.tier t WHERE t.casino_id = NEW.casino_id) THEN
        INSERT INTO loyalty.tier (casino_id, name, threshold, multiplier) VALUES
            (NEW.casino_id, 'BRONZE',       0, 1.00),
            (NEW.casino_id, 'SILVER',    1000, 1.25),
            (NEW.casino_id, 'GOLD',      5000, 1.50),
            (NEW.casino_id, 'PLATINUM', 20000, 2.00);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION loyalty.start_tier_ladder() IS
    'Trigger function: a new casino starts with the default tier ladder (BRONZE 0 x1.00, SILVER 1000 x1.25, GOLD 5000 x1.50, PLATINUM 20000 x2.00).';
CREATE TRIGGER casino_tier_ladder AFTER INSERT ON loyalty.casino
    FOR EACH ROW EXECUTE FUNCTION loyalty.start_tier_ladder();

INSERT INTO loyalty.casino (casino_id, name) VALUES ('00000000-0000-0000-0000-000000000000', 'default');

-- One row per player: the aggregate the ledger proves.  Written only by the
-- extension's functions, always under a row lock.
CREATE TABLE loyalty.player_loyalty (
    player_id        uuid        NOT NULL,
    current_balance  bigint      NOT NULL DEFAULT 0 CHECK (current_balance >= 0),
    lifetime_points  bigint      NOT NULL DEFAULT 0 CHECK (lifetime_points >= 0),
    tier             text        NOT NULL,
    tier_progress    integer     NOT NULL DEFAULT 0 CHECK (tier_progress BETWEEN 0 AND 100),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- Columns from 0.2.0 on come last, in the order the upgrade adds them.
    casino_id        uuid        NOT NULL REFERENCES loyalty.casino (casino_id),
    -- Points reserved by active holds (loyalty.point_hold); no debit takes
    -- the balance below them.
    held_points      bigint      NOT NULL DEFAULT 0,
    CONSTRAINT player_loyalty_pkey PRIMARY KEY (casino_id, player_id),
    CONSTRAINT player_loyalty_held CHECK (held_points BETWEEN 0 AND current_balance)
);
COMMENT ON TABLE loyalty.player_loyalty IS
    'Per-player balance, lifetime points, tier and progress at one casino (a player enrolled at two casinos has two rows); always equal to what loyalty.loyalty_ledger adds up to.';
COMMENT ON COLUMN loyalty.player_loyalty.held_points IS
    'Points reserved by the player''s active holds (loyalty.point_hold); available = current_balance - held_points, and no debit goes below it.';

-- Promotions are registered campaigns (SPEC section 10): apply_promotion
-- credits only a campaign that is current and has budget left, at its
-- points, at most credits_per_player times per player.  The admin role
-- creates and edits campaigns (README, "Roles and GRANTs"); credited_points
-- is counted by the extension under the campaign's row lock, and the column
-- privileges keep it (and actor_role) out of the admin's reach.
CREATE TABLE loyalty.promotion_campaign (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reward_id           text        NOT NULL
                                    CHECK (length(reward_id) BETWEEN 1 AND 200 AND reward_id !~ '[[:cntrl:]]'),
    points_per_credit   integer     NOT NULL CHECK (points_per_credit > 0),
    valid_from          timestamptz NOT NULL,
    valid_to            timestamptz NOT NULL,
    credits_per_player  integer     NOT NULL DEFAULT 1 CHECK (credits_per_player > 0),
    budget_points       bigint      NOT NULL CHECK (budget_points > 0),
    credited_points     bigint      NOT NULL DEFAULT 0,
    description         text,
    actor_role          text        NOT NULL DEFAULT session_user,
    created_at          timestamptz NOT NULL DEFAULT now(),
    casino_id           uuid        NOT NULL REFERENCES loyalty.casino (casino_id),
    CONSTRAINT promotion_campaign_window CHECK (valid_to > valid_from),
    CONSTRAINT promotion_campaign_budget CHECK (credited_points BETWEEN 0 AND budget_points),
    CONSTRAINT promotion_campaign_reward_id_key UNIQUE (casino_id, reward_id)
);
COMMENT ON TABLE loyalty.promotion_campaign IS
    'Registered promotions: apply_promotion credits a player points_per_credit points while now() is in [valid_from, valid_to), at most credits_per_player times, until credited_points reaches budget_points.';
COMMENT ON COLUMN loyalty.promotion_campaign.credited_points IS
    'Points credited so far, counted under the campaign''s row lock by apply_promotion (exact at every isolation level).';
COMMENT ON COLUMN loyalty.promotion_campaign.actor_role IS
    'The login role (session_user) that created the campaign.';

-- The append-only source of truth.  Ids are drawn under the player's row
-- lock, so for one player they increase in commit order.
CREATE TABLE loyalty.loyalty_ledger (
    id                     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    player_id              uuid        NOT NULL,
    points_change          integer     NOT NULL CHECK (points_change <> 0),
    transaction_type       text        NOT NULL CHECK (transaction_type IN
                               ('GAMEPLAY', 'MANUAL_BONUS', 'PROMOTION', 'REDEMPTION', 'ADJUSTMENT', 'REVERSAL',
                                'EXPIRATION')),
    reason                 text,
    rating_slip_id         uuid,
    visit_id               uuid,
    idempotency_key        text        NOT NULL,
    request_fingerprint    text        NOT NULL,
    staff_id               uuid,
    balance_before         bigint      NOT NULL CHECK (balance_before >= 0),
    balance_after          bigint      NOT NULL CHECK (balance_after >= 0),
    tier_before            text        NOT NULL,
    tier_after             text        NOT NULL,
    tier_progress_after    integer     NOT NULL,
    lifetime_points_after  bigint      NOT NULL,
    correlation_id         text        NOT NULL,
    -- Taken when the row is written, under the player's lock, so that for
    -- one player created_at follows id (balance_at relies on it).
    created_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    reverses_ledger_id     bigint      REFERENCES loyalty.loyalty_ledger (id),
    -- Columns from 0.2.0 on come last, in the order the upgrade adds them.
    -- The login role (session_user) that made the change; rows written
    -- before 0.2.0 carry the marker '(before 0.2.0)'.
    actor_role             text        NOT NULL DEFAULT '(before 0.2.0)',
    campaign_id            bigint      REFERENCES loyalty.promotion_campaign (id),
    campaign_credit        integer,
    -- The casino the change happened at; its player row is
    -- (casino_id, player_id) and its key is unique within it.
    casino_id              uuid        NOT NULL,
    CONSTRAINT loyalty_ledger_idempotency_key_key UNIQUE (casino_id, idempotency_key),
    CONSTRAINT loyalty_ledger_reversal_link CHECK ((transaction_type = 'REVERSAL') = (reverses_ledger_id IS NOT NULL)),
    CONSTRAINT loyalty_ledger_balance_arithmetic CHECK (balance_after = balance_before + points_change),
    CONSTRAINT loyalty_ledger_campaign_credit CHECK (
        (campaign_id IS NULL) = (campaign_credit IS NULL)
        AND (campaign_id IS NULL OR (transaction_type = 'PROMOTION' AND campaign_credit > 0)))
);
COMMENT ON TABLE loyalty.loyalty_ledger IS
    'Append-only ledger: one row per change, never updated or deleted; corrections are new rows.';
COMMENT ON COLUMN loyalty.loyalty_ledger.request_fingerprint IS
    'SHA-256 of the canonical request; a replayed idempotency key must carry the same fingerprint.';
COMMENT ON COLUMN loyalty.loyalty_ledger.reverses_ledger_id IS
    'For a REVERSAL: the entry it cancels (each entry is reversed at most once).';
COMMENT ON COLUMN loyalty.loyalty_ledger.correlation_id IS
    'Correlation id of the call that wrote the row (argument, loyalty.correlation_id, or generated per transaction).';
COMMENT ON COLUMN loyalty.loyalty_ledger.actor_role IS
    'The login role (session_user) that made the change; ''(before 0.2.0)'' on rows written before attribution existed.';
COMMENT ON COLUMN loyalty.loyalty_ledger.casino_id IS
    'The casino (loyalty.casino) the change happened at: idempotency keys are unique per casino, and a player''s account is (casino_id, player_id).';
COMMENT ON COLUMN loyalty.loyalty_ledger.campaign_id IS
    'For a campaign credit: the campaign (loyalty.promotion_campaign) and, in campaign_credit, which of the player''s credits of it this is.';

-- A player's history, in order (statements, chain checks, balance_at).
CREATE INDEX loyalty_ledger_player_idx ON loyalty.loyalty_ledger (casino_id, player_id, id);
-- Tracing one request end to end.
CREATE INDEX loyalty_ledger_correlation_idx ON loyalty.loyalty_ledger (correlation_id);
-- A staff member's recent rewards (rate limits, audits).
CREATE INDEX loyalty_ledger_staff_idx ON loyalty.loyalty_ledger (staff_id, created_at)
    WHERE staff_id IS NOT NULL;
-- Each entry is reversed at most once.  Partial: almost every row has no
-- reversed entry, and a plain UNIQUE would index all those NULLs (about 10
-- bytes and one more index insertion per row).
CREATE UNIQUE INDEX loyalty_ledger_reverses_idx ON loyalty.loyalty_ledger (reverses_ledger_id)
    WHERE reverses_ledger_id IS NOT NULL;
-- Lookup by rating slip.
CREATE INDEX loyalty_ledger_rating_slip_idx ON loyalty.loyalty_ledger (rating_slip_id)
    WHERE rating_slip_id IS NOT NULL;
-- A player's n-th credit of a campaign exists once, whatever its key.
CREATE UNIQUE INDEX loyalty_ledger_campaign_credit_idx
    ON loyalty.loyalty_ledger (campaign_id, player_id, campaign_credit)
    WHERE campaign_id IS NOT NULL;

-- The row every write function returns (SPEC section 3, in this order).
CREATE TYPE loyalty.change_result AS (
    player_id          uuid,
    balance_before     bigint,
    balance_after      bigint,
    tier_before        text,
    tier_after         text,
    tier_progress      integer,
    lifetime_points    bigint,
    updated_at         timestamptz,
    row_locked         boolean,
    ledger_id          bigint,
    idempotent_replay  boolean,
    correlation_id     text
);
COMMENT ON TYPE loyalty.change_result IS
    'Result of every write function: the player after the change, the ledger row, and whether it was a replay.';

-- Who may do what.  Deny by default: a staff id without a row holds nothing.
CREATE TABLE loyalty.staff_permission (
    staff_id      uuid   NOT NULL,
    capabilities  text[] NOT NULL DEFAULT '{}' CHECK (capabilities <@ ARRAY[
        'loyalty:award', 'loyalty:promote', 'loyalty:redeem', 'loyalty:adjust', 'loyalty:recover'
    ]::text[]),
    casino_id     uuid   NOT NULL REFERENCES loyalty.casino (casino_id),
    CONSTRAINT staff_permission_pkey PRIMARY KEY (casino_id, staff_id)
);
COMMENT ON TABLE loyalty.staff_permission IS
    'Capabilities per staff member at one casino (loyalty:award, loyalty:promote, loyalty:redeem, loyalty:adjust, loyalty:recover); deny by default.';

-- Capabilities of login roles (SPEC section 10): GAMEPLAY needs the calling
-- role (session_user, or a role it is a member of) to hold loyalty:accrue,
-- a direct PROMOTION loyalty:promote.  Deny by default; superusers are not
-- checked.  Managed by the admin role.
CREATE TABLE loyalty.role_permission (
    role_name     text   PRIMARY KEY,
    capabilities  text[] NOT NULL DEFAULT '{}' CHECK (capabilities <@ ARRAY[
        'loyalty:accrue', 'loyalty:promote'
    ]::text[])
);
COMMENT ON TABLE loyalty.role_permission IS
    'Capabilities per login role (loyalty:accrue for gameplay, loyalty:promote for direct promotions), held by the role or any role it is a member of; deny by default.';

-- Velocity limits (SPEC section 5): per staff member and per login role,
-- per kind, the changes inside the window.  Every counted change locks and
-- updates its row, which makes the limits exact at every isolation level.
CREATE TABLE loyalty.velocity_usage (
    scope         text          NOT NULL CHECK (scope IN ('staff', 'role')),
    actor         text          NOT NULL,
    kind          text          NOT NULL CHECK (kind IN ('manual_reward', 'adjustment', 'redemption')),
    event_at      timestamptz[] NOT NULL DEFAULT '{}',
    event_points  bigint[]      NOT NULL DEFAULT '{}',
    event_count   integer[]     NOT NULL DEFAULT '{}',
    casino_id     uuid          NOT NULL,
    CONSTRAINT velocity_usage_pkey PRIMARY KEY (casino_id, scope, actor, kind),
    CONSTRAINT velocity_usage_events CHECK (cardinality(event_at) = cardinality(event_points)
                                          AND cardinality(event_at) = cardinality(event_count))
);
COMMENT ON TABLE loyalty.velocity_usage IS
    'Recent velocity-limited changes per casino, staff member or login role, and kind (manual_reward, adjustment, redemption): the window''s changes, kept per 1/64 of the window (event_at the slice''s end, event_points and event_count its points and changes).';

-- Keys that verify staff tokens (loyalty.staff_token): a public key in PEM
-- for EdDSA, ES256 and RS256, or the HMAC secret for HS256.  Readable and
-- writable by nobody but the extension's owner (superuser): a role that
-- could read an HS256 secret, or add a key, could sign tokens.
CREATE TABLE loyalty.trusted_key (
    kid         text        PRIMARY KEY CHECK (length(kid) BETWEEN 1 AND 200),
    algorithm   text        NOT NULL CHECK (algorithm IN ('EdDSA', 'ES256', 'RS256', 'HS256')),
    key         text        NOT NULL,
    comment     text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE loyalty.trusted_key IS
    'Keys of the casino''s identity service that verify staff tokens (kid, algorithm EdDSA/ES256/RS256/HS256, PEM public key or HS256 secret); owner only.';

-- The ledger refuses UPDATE, DELETE and TRUNCATE for every role, its owner
-- included.  ENABLE ALWAYS keeps the guard on under
-- session_replication_role = replica.
CREATE FUNCTION loyalty.refuse_ledger_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'loyalty.loyalty_ledger is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a correction as a new row (loyalty.reverse_entry or an ADJUSTMENT).';
END
$$;
COMMENT ON FUNCTION loyalty.refuse_ledger_change() IS
    'Trigger function that keeps loyalty.loyalty_ledger append-only.';

CREATE TRIGGER loyalty_ledger_no_update_delete
    BEFORE UPDATE OR DELETE ON loyalty.loyalty_ledger
    FOR EACH ROW EXECUTE FUNCTION loyalty.refuse_ledger_change();
CREATE TRIGGER loyalty_ledger_no_truncate
    BEFORE TRUNCATE ON loyalty.loyalty_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.refuse_ledger_change();
ALTER TABLE loyalty.loyalty_ledger ENABLE ALWAYS TRIGGER loyalty_ledger_no_update_delete;
ALTER TABLE loyalty.loyalty_ledger ENABLE ALWAYS TRIGGER loyalty_ledger_no_truncate;

-- Nothing here is writable (or readable) by PUBLIC; access goes through the
-- functions and the GRANTs in the README.
REVOKE ALL ON loyalty.casino, loyalty.point_value_history, loyalty.tier, loyalty.player_loyalty, loyalty.loyalty_ledger, loyalty.staff_permission,
              loyalty.promotion_campaign, loyalty.role_permission, loyalty.velocity_usage,
              loyalty.trusted_key FROM PUBLIC;

-- Data of these tables belongs to the user, not to the extension: pg_dump
-- must keep it.
SELECT pg_catalog.pg_extension_config_dump('loyalty.casino', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.point_value_history', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.tier', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.player_loyalty', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.loyalty_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.loyalty_ledger_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.staff_permission', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.promotion_campaign', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.promotion_campaign_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.role_permission', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.velocity_usage', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.trusted_key', '');
