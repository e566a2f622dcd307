-- Expiry of points (SPEC section 15): lots, kept for casinos whose
-- expiry_policy is not 'none'.  Every credit is a lot; every debit
-- consumes lots, the soonest-expiring first, and records which; an
-- EXPIRATION (loyalty.expire_points) writes off expired lots.

CREATE TABLE loyalty.point_lot (
    lot_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    casino_id   uuid        NOT NULL REFERENCES loyalty.casino (casino_id),
    player_id   uuid        NOT NULL,
    -- The credit that made it; NULL for an opening lot (points the player
    -- held when lots began to be kept for them).
    ledger_id   bigint      REFERENCES loyalty.loyalty_ledger (id),
    points      bigint      NOT NULL CHECK (points > 0),
    remaining   bigint      NOT NULL,
    earned_at   timestamptz NOT NULL,
    -- Under 'fixed', when it expires; under 'inactivity', NULL (all of a
    -- player's lots expire together, expiry_months after the last change).
    expires_at  timestamptz,
    CONSTRAINT point_lot_remaining CHECK (remaining BETWEEN 0 AND points)
);
COMMENT ON TABLE loyalty.point_lot IS
    'Lots of points (SPEC section 15), kept where the casino''s expiry_policy is not none: each credit (or an opening lot for points held before), its remaining points and its expiry; remaining points sum to the balance.';
CREATE INDEX point_lot_open_idx ON loyalty.point_lot (casino_id, player_id, lot_id) WHERE remaining > 0;
CREATE INDEX point_lot_expiry_idx ON loyalty.point_lot (expires_at) WHERE remaining > 0;

-- Which lots each debit took its points from.
CREATE TABLE loyalty.lot_consumption (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    casino_id   uuid        NOT NULL,
    lot_id      bigint      NOT NULL REFERENCES loyalty.point_lot (lot_id),
    -- The debit; NULL when lots were brought in line with a balance that
    -- debits made while the casino kept no lots.
    ledger_id   bigint      REFERENCES loyalty.loyalty_ledger (id),
    points      bigint      NOT NULL CHECK (points > 0),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE loyalty.lot_consumption IS
    'Which lots each debit consumed and how many points of each (ledger_id NULL: lots aligned with a balance changed while no lots were kept).';
CREATE INDEX lot_consumption_lot_idx ON loyalty.lot_consumption (lot_id);
CREATE INDEX lot_consumption_ledger_idx ON loyalty.lot_consumption (ledger_id);

REVOKE ALL ON loyalty.point_lot, loyalty.lot_consumption FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('loyalty.point_lot', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.point_lot_lot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.lot_consumption', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.lot_consumption_id_seq', '');
