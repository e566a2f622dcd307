-- loyalty_ext: tables, indexes and guards of the loyalty ledger.
--
-- This file is the bootstrap part of the extension script: pgrx places it
-- before every generated function.  It is hand-written so that a DBA can
-- read the whole data model in one place.

-- Tiers are editable data: a casino changes thresholds and multipliers with
-- plain UPDATEs.  The lowest tier must start at 0 lifetime points.
CREATE TABLE loyalty.tier (
    name        text    PRIMARY KEY CHECK (name ~ '^[A-Z][A-Z0-9_]*$'),
    threshold   bigint  NOT NULL UNIQUE CHECK (threshold >= 0),
    multiplier  numeric(6, 2) NOT NULL CHECK (multiplier > 0)
);
COMMENT ON TABLE loyalty.tier IS
    'Loyalty tiers: a player holds the highest tier whose threshold is at most their lifetime points; multiplier scales gameplay points.';

INSERT INTO loyalty.tier (name, threshold, multiplier) VALUES
    ('BRONZE',       0, 1.00),
    ('SILVER',    1000, 1.25),
    ('GOLD',      5000, 1.50),
    ('PLATINUM', 20000, 2.00);

-- A tier inserted with the name or threshold of an existing one replaces it.
-- This is what lets pg_dump keep edited tiers: a restore runs CREATE
-- EXTENSION (the defaults above) and then loads the dumped rows over them.
CREATE FUNCTION loyalty.replace_tier() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM loyalty.tier t WHERE t.name = NEW.name OR t.threshold = NEW.threshold;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.replace_tier() IS
    'Trigger function: an inserted tier replaces the tier with the same name or threshold (keeps edited tiers across pg_dump/restore).';
CREATE TRIGGER tier_replace BEFORE INSERT ON loyalty.tier
    FOR EACH ROW EXECUTE FUNCTION loyalty.replace_tier();

-- One row per player: the aggregate the ledger proves.  Written only by the
-- extension's functions, always under a row lock.
CREATE TABLE loyalty.player_loyalty (
    player_id        uuid        PRIMARY KEY,
    current_balance  bigint      NOT NULL DEFAULT 0 CHECK (current_balance >= 0),
    lifetime_points  bigint      NOT NULL DEFAULT 0 CHECK (lifetime_points >= 0),
    tier             text        NOT NULL,
    tier_progress    integer     NOT NULL DEFAULT 0 CHECK (tier_progress BETWEEN 0 AND 100),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE loyalty.player_loyalty IS
    'Per-player balance, lifetime points, tier and progress; always equal to what loyalty.loyalty_ledger adds up to.';

-- Promotions are registered campaigns (SPEC section 10): apply_promotion
-- credits only a campaign that is current and has budget left, at its
-- points, at most credits_per_player times per player.  The admin role
-- creates and edits campaigns (README, "Roles and GRANTs"); credited_points
-- is counted by the extension under the campaign's row lock, and the column
-- privileges keep it (and actor_role) out of the admin's reach.
CREATE TABLE loyalty.promotion_campaign (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reward_id           text        NOT NULL UNIQUE
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
    CONSTRAINT promotion_campaign_window CHECK (valid_to > valid_from),
    CONSTRAINT promotion_campaign_budget CHECK (credited_points BETWEEN 0 AND budget_points)
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
                               ('GAMEPLAY', 'MANUAL_BONUS', 'PROMOTION', 'REDEMPTION', 'ADJUSTMENT', 'REVERSAL')),
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
    CONSTRAINT loyalty_ledger_idempotency_key_key UNIQUE (idempotency_key),
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
COMMENT ON COLUMN loyalty.loyalty_ledger.campaign_id IS
    'For a campaign credit: the campaign (loyalty.promotion_campaign) and, in campaign_credit, which of the player''s credits of it this is.';

-- A player's history, in order (statements, chain checks, balance_at).
CREATE INDEX loyalty_ledger_player_idx ON loyalty.loyalty_ledger (player_id, id);
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
    staff_id      uuid   PRIMARY KEY,
    capabilities  text[] NOT NULL DEFAULT '{}' CHECK (capabilities <@ ARRAY[
        'loyalty:award', 'loyalty:promote', 'loyalty:redeem', 'loyalty:adjust', 'loyalty:recover'
    ]::text[])
);
COMMENT ON TABLE loyalty.staff_permission IS
    'Capabilities per staff member (loyalty:award, loyalty:promote, loyalty:redeem, loyalty:adjust, loyalty:recover); deny by default.';

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
    PRIMARY KEY (scope, actor, kind),
    CONSTRAINT velocity_usage_events CHECK (cardinality(event_at) = cardinality(event_points))
);
COMMENT ON TABLE loyalty.velocity_usage IS
    'Recent velocity-limited changes per staff member or login role and kind (manual_reward, adjustment, redemption): their times and points inside the window.';

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
REVOKE ALL ON loyalty.tier, loyalty.player_loyalty, loyalty.loyalty_ledger, loyalty.staff_permission,
              loyalty.promotion_campaign, loyalty.role_permission, loyalty.velocity_usage,
              loyalty.trusted_key FROM PUBLIC;

-- Data of these tables belongs to the user, not to the extension: pg_dump
-- must keep it.
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
