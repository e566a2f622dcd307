-- Holds (SPEC section 15): points reserved now and charged later.  A hold
-- is ACTIVE until captured (charged, all or part, as one REDEMPTION),
-- released, or expired, and never moves after that.  The points of a
-- player's active holds are summed in player_loyalty.held_points.

CREATE TABLE loyalty.point_hold (
    hold_id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    casino_id             uuid        NOT NULL REFERENCES loyalty.casino (casino_id),
    player_id             uuid        NOT NULL,
    points                integer     NOT NULL CHECK (points > 0),
    status                text        NOT NULL DEFAULT 'ACTIVE'
                                      CHECK (status IN ('ACTIVE', 'CAPTURED', 'RELEASED', 'EXPIRED')),
    staff_id              uuid        NOT NULL,
    reason                text        NOT NULL,
    idempotency_key       text        NOT NULL,
    request_fingerprint   text        NOT NULL,
    expires_at            timestamptz NOT NULL,
    correlation_id        text        NOT NULL,
    actor_role            text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    closed_at             timestamptz,
    closed_by_staff_id    uuid,
    close_reason          text,
    close_correlation_id  text,
    captured_points       integer,
    capture_ledger_id     bigint      REFERENCES loyalty.loyalty_ledger (id),
    CONSTRAINT point_hold_key UNIQUE (casino_id, idempotency_key),
    CONSTRAINT point_hold_closed CHECK ((status = 'ACTIVE') = (closed_at IS NULL)),
    CONSTRAINT point_hold_capture CHECK (
        (status = 'CAPTURED') = (capture_ledger_id IS NOT NULL)
        AND (status = 'CAPTURED') = (captured_points IS NOT NULL)
        AND (captured_points IS NULL OR captured_points BETWEEN 1 AND points))
);
COMMENT ON TABLE loyalty.point_hold IS
    'Holds: points of a player''s available balance reserved by a staff member (loyalty:redeem) until captured (one REDEMPTION of all or part, capture_ledger_id), released, or expired (expires_at); closed holds never change again.';
-- A player's active holds (the sweep under the player's lock, player_account).
CREATE INDEX point_hold_active_idx ON loyalty.point_hold (casino_id, player_id) WHERE status = 'ACTIVE';
-- Expiry runs (expire_holds) look for active holds past their expiry.
CREATE INDEX point_hold_expiry_idx ON loyalty.point_hold (expires_at) WHERE status = 'ACTIVE';
CREATE INDEX point_hold_correlation_idx ON loyalty.point_hold (correlation_id);
REVOKE ALL ON loyalty.point_hold FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('loyalty.point_hold', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.point_hold_hold_id_seq', '');

-- What hold_points and release_hold return.
CREATE TYPE loyalty.hold_result AS (
    hold_id            bigint,
    player_id          uuid,
    points             integer,
    status             text,
    expires_at         timestamptz,
    available_after    bigint,
    idempotent_replay  boolean,
    correlation_id     text
);
COMMENT ON TYPE loyalty.hold_result IS
    'Result of hold_points and release_hold: the hold, its status, and the points the player has available after the call.';
