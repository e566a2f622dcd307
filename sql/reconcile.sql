-- Reconciliations (SPEC section 9): loyalty.reconcile_player rebuilds a
-- player's aggregate from the ledger and records every call here.

-- Who rebuilt a player's aggregate from the ledger, and what changed.
CREATE TABLE loyalty.reconciliation (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    player_id         uuid        NOT NULL,
    staff_id          uuid        NOT NULL,
    reason            text        NOT NULL,
    balance_before    bigint,
    balance_after     bigint      NOT NULL,
    lifetime_before   bigint,
    lifetime_after    bigint      NOT NULL,
    tier_before       text,
    tier_after        text        NOT NULL,
    changed           boolean     NOT NULL,
    correlation_id    text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- From 0.2.0: the login role (session_user); '(before 0.2.0)' on older rows.
    actor_role        text        NOT NULL DEFAULT '(before 0.2.0)',
    casino_id         uuid        NOT NULL
);
COMMENT ON TABLE loyalty.reconciliation IS
    'One row per loyalty.reconcile_player call: who rebuilt which player''s aggregate from the ledger, why, and the values before and after.';
CREATE INDEX reconciliation_player_idx ON loyalty.reconciliation (casino_id, player_id, id);
CREATE INDEX reconciliation_correlation_idx ON loyalty.reconciliation (correlation_id);
REVOKE ALL ON loyalty.reconciliation FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('loyalty.reconciliation', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.reconciliation_id_seq', '');
