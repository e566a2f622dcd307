-- Rating-slip accruals: the in-database saga (SPEC section 6).
--
-- complete_rating_slip records the accrual request here in the caller's
-- transaction (the one that closes the slip), then attempts the accrual in a
-- subtransaction.  If the attempt fails, this row stays PENDING/FAILED with
-- its error and correlation id, and recovery replays it with the same key.

CREATE TABLE loyalty.rating_slip_accrual (
    rating_slip_id       uuid        PRIMARY KEY,
    player_id            uuid        NOT NULL,
    visit_id             uuid,
    average_bet          numeric     NOT NULL CHECK (average_bet >= 0),
    duration_seconds     integer     NOT NULL CHECK (duration_seconds >= 0),
    game_settings        jsonb       NOT NULL,
    request_fingerprint  text        NOT NULL,
    status               text        NOT NULL DEFAULT 'PENDING'
                                     CHECK (status IN ('PENDING', 'FAILED', 'COMPLETED')),
    points               integer,
    ledger_id            bigint      REFERENCES loyalty.loyalty_ledger (id),
    correlation_id       text        NOT NULL,
    attempts             integer     NOT NULL DEFAULT 0,
    last_error           text,
    last_sqlstate        text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    completed_at         timestamptz,
    CONSTRAINT rating_slip_accrual_completed CHECK ((status = 'COMPLETED') = (completed_at IS NOT NULL))
);
COMMENT ON TABLE loyalty.rating_slip_accrual IS
    'One accrual request per closed rating slip: PENDING (recorded), FAILED (last attempt failed, will be retried), COMPLETED (points credited, ledger_id set unless zero points).';
-- Recovery takes the oldest open requests first.
CREATE INDEX rating_slip_accrual_open_idx ON loyalty.rating_slip_accrual (created_at)
    WHERE status <> 'COMPLETED';
CREATE INDEX rating_slip_accrual_correlation_idx ON loyalty.rating_slip_accrual (correlation_id);
REVOKE ALL ON loyalty.rating_slip_accrual FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('loyalty.rating_slip_accrual', '');

-- What complete_rating_slip and recover_rating_slip return.
CREATE TYPE loyalty.slip_result AS (
    status          text,
    points          integer,
    ledger_id       bigint,
    balance_after   bigint,
    tier_after      text,
    correlation_id  text,
    error           text
);
COMMENT ON TYPE loyalty.slip_result IS
    'Result of a rating-slip accrual: COMPLETED, ALREADY_COMPLETED or PARTIAL_COMPLETION (error holds SQLSTATE and message).';

-- Accruals still owed to players, for the on-call DBA.
CREATE VIEW loyalty.pending_accruals AS
SELECT a.rating_slip_id, a.player_id, a.status, a.attempts, a.last_sqlstate, a.last_error,
       a.correlation_id, a.created_at, a.updated_at, now() - a.created_at AS age
  FROM loyalty.rating_slip_accrual a
 WHERE a.status <> 'COMPLETED'
 ORDER BY a.created_at;
COMMENT ON VIEW loyalty.pending_accruals IS
    'Rating-slip accruals not yet credited (PENDING or FAILED) with attempts, last error and age; loyalty.recover_pending() works through them oldest first.';
REVOKE ALL ON loyalty.pending_accruals FROM PUBLIC;
