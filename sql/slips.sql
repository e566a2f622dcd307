-- Rating-slip accruals: the in-database saga (SPEC section 6).
--
-- complete_rating_slip records the accrual request here in the caller's
-- transaction (the one that closes the slip), then attempts the accrual in a
-- subtransaction.  If the attempt fails, this row stays FAILED with its
-- error and correlation id, and recovery replays it with the same key after
-- a doubling backoff (next_attempt_at); an accrual that fails the same way
-- every time, or too often (loyalty.max_recovery_attempts), is STUCK until a
-- person resolves it (resolve_accrual: retry, or ABANDONED).

CREATE TABLE loyalty.rating_slip_accrual (
    rating_slip_id       uuid        NOT NULL,
    player_id            uuid        NOT NULL,
    visit_id             uuid,
    average_bet          numeric     NOT NULL CHECK (average_bet >= 0),
    duration_seconds     integer     NOT NULL CHECK (duration_seconds >= 0),
    game_settings        jsonb       NOT NULL,
    request_fingerprint  text        NOT NULL,
    status               text        NOT NULL DEFAULT 'PENDING'
                                     CHECK (status IN ('PENDING', 'FAILED', 'COMPLETED', 'STUCK', 'ABANDONED')),
    points               integer,
    ledger_id            bigint      REFERENCES loyalty.loyalty_ledger (id),
    correlation_id       text        NOT NULL,
    attempts             integer     NOT NULL DEFAULT 0,
    last_error           text,
    last_sqlstate        text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    completed_at         timestamptz,
    -- Columns from 0.2.0 on come last, in the order the upgrade adds them.
    next_attempt_at      timestamptz NOT NULL DEFAULT now(),
    actor_role           text        NOT NULL DEFAULT '(before 0.2.0)',
    casino_id            uuid        NOT NULL REFERENCES loyalty.casino (casino_id),
    CONSTRAINT rating_slip_accrual_pkey PRIMARY KEY (casino_id, rating_slip_id),
    CONSTRAINT rating_slip_accrual_completed CHECK ((status = 'COMPLETED') = (completed_at IS NOT NULL))
);
COMMENT ON TABLE loyalty.rating_slip_accrual IS
    'One accrual request per closed rating slip: PENDING (recorded), FAILED (last attempt failed, retried at next_attempt_at), COMPLETED (points credited, ledger_id set unless zero points), STUCK (waits for resolve_accrual), ABANDONED (resolved: no credit).';
COMMENT ON COLUMN loyalty.rating_slip_accrual.actor_role IS
    'The login role (session_user) that recorded the slip; ''(before 0.2.0)'' on older rows.';
-- Recovery takes the open requests that are due, soonest first.
CREATE INDEX rating_slip_accrual_due_idx ON loyalty.rating_slip_accrual (next_attempt_at, created_at)
    WHERE status IN ('PENDING', 'FAILED');
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
    'Result of a rating-slip accrual: COMPLETED, ALREADY_COMPLETED, PARTIAL_COMPLETION (error holds SQLSTATE and message) or ABANDONED (resolve_accrual).';

-- Accruals still owed to players, for the on-call DBA.
CREATE VIEW loyalty.pending_accruals WITH (security_invoker = true) AS
SELECT a.rating_slip_id, a.player_id, a.status, a.attempts, a.last_sqlstate, a.last_error,
       a.correlation_id, a.created_at, a.updated_at, now() - a.created_at AS age,
       a.next_attempt_at, a.casino_id
  FROM loyalty.rating_slip_accrual a
 WHERE a.status IN ('PENDING', 'FAILED', 'STUCK')
 ORDER BY a.created_at;
COMMENT ON VIEW loyalty.pending_accruals IS
    'Rating-slip accruals not yet credited (PENDING, FAILED, STUCK) with attempts, last error, age and next attempt; loyalty.recover_pending() works through the due PENDING and FAILED ones, a person resolves the STUCK ones (loyalty.resolve_accrual).';
REVOKE ALL ON loyalty.pending_accruals FROM PUBLIC;

-- Who resolved a stuck or failing accrual, how and why (resolve_accrual).
CREATE TABLE loyalty.accrual_resolution (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rating_slip_id  uuid        NOT NULL,
    action          text        NOT NULL CHECK (action IN ('retry', 'abandon')),
    staff_id        uuid        NOT NULL,
    reason          text        NOT NULL,
    correlation_id  text        NOT NULL,
    actor_role      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    casino_id       uuid        NOT NULL,
    CONSTRAINT accrual_resolution_rating_slip_id_fkey FOREIGN KEY (casino_id, rating_slip_id)
        REFERENCES loyalty.rating_slip_accrual (casino_id, rating_slip_id)
);
COMMENT ON TABLE loyalty.accrual_resolution IS
    'One row per loyalty.resolve_accrual call: the slip, retry or abandon, the staff member (loyalty:recover), the login role, the reason and the correlation id.';
CREATE INDEX accrual_resolution_slip_idx ON loyalty.accrual_resolution (casino_id, rating_slip_id, id);
CREATE INDEX accrual_resolution_correlation_idx ON loyalty.accrual_resolution (correlation_id);
REVOKE ALL ON loyalty.accrual_resolution FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('loyalty.accrual_resolution', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.accrual_resolution_id_seq', '');
