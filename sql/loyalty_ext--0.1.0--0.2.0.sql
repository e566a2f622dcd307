-- loyalty_ext 0.1.0 -> 0.2.0
--
-- Hand-written; tests/upgrade/run.sh proves it: a database filled through
-- 0.1.0 and updated with this script keeps every row, passes drift_check(),
-- and has the same catalog as a fresh CREATE EXTENSION of 0.2.0.  Steps are
-- added here by every change of 0.2.0, in the order they were made; the
-- library re-pointing stays last.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION loyalty_ext UPDATE TO '0.2.0'" to load this file. \quit

-- A helper for this script only (dropped at its end): a new parameter makes
-- a new function to PostgreSQL, so a function whose signature changes is
-- created anew, given every grant the old one had (what a DBA granted on
-- 0.1.0 keeps working), and the old one dropped.
CREATE FUNCTION loyalty.upgrade_copy_grants(p_old regprocedure, p_new regprocedure) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $copy$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT x.grantee, x.is_grantable
               FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) x
              WHERE p.oid = p_old AND x.grantee <> p.proowner AND x.privilege_type = 'EXECUTE'
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', p_new,
                                  CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END,
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$copy$;

-- Issue 12: one source for each rule.
-- What the ledger adds up to per player, defined once: drift_check and
-- reconcile_player both read this view.
CREATE VIEW loyalty.ledger_totals AS
SELECT l.player_id,
       sum(l.points_change)::bigint                                            AS balance,
       coalesce(sum(l.points_change) FILTER (WHERE l.points_change > 0), 0)::bigint AS lifetime_points,
       count(*)                                                                AS entries
  FROM loyalty.loyalty_ledger l
 GROUP BY l.player_id;
COMMENT ON VIEW loyalty.ledger_totals IS
    'Per player, what the ledger adds up to: balance (sum of changes), lifetime_points (sum of gains), entries; loyalty.player_loyalty must equal it.';
REVOKE ALL ON loyalty.ledger_totals FROM PUBLIC;

-- The tier a new player starts in, decided by the tier ladder in Rust; a
-- C function so that balance_at asks the same code as the write path.
CREATE FUNCTION loyalty.base_tier() RETURNS text
    STABLE STRICT SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'base_tier_wrapper';
COMMENT ON FUNCTION loyalty.base_tier() IS
    'The lowest tier of loyalty.tier (threshold 0): where a new player starts, and the tier balance_at reports before a player''s first entry.';
REVOKE ALL ON FUNCTION loyalty.base_tier() FROM PUBLIC;

-- balance_at asks base_tier (drift_check, which reads the totals from the
-- view, is replaced once, in the trust-boundary part below).
CREATE OR REPLACE FUNCTION loyalty.balance_at(p_player_id uuid, p_at timestamptz)
RETURNS TABLE (balance bigint, tier text, lifetime_points bigint, last_ledger_id bigint, as_of timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(l.balance_after, 0),
           coalesce(l.tier_after, loyalty.base_tier()),
           coalesce(l.lifetime_points_after, 0),
           l.id,
           p_at
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (
            SELECT x.* FROM loyalty.loyalty_ledger x
             WHERE x.player_id = p_player_id AND x.created_at <= p_at
             ORDER BY x.id DESC LIMIT 1) AS l ON true
$$;

-- Issue 13: the trust boundary (SPEC sections 5 and 10).

-- Promotions are registered campaigns; the ledger names a campaign's credits.
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

-- Attribution and campaign credits on the ledger, appended as a fresh
-- install has them.  Rows written by 0.1.0 get the marker '(before 0.2.0)'
-- (the column default; adding it rewrites nothing).
ALTER TABLE loyalty.loyalty_ledger
    ADD COLUMN actor_role text NOT NULL DEFAULT '(before 0.2.0)',
    ADD COLUMN campaign_id bigint REFERENCES loyalty.promotion_campaign (id),
    ADD COLUMN campaign_credit integer,
    ADD CONSTRAINT loyalty_ledger_campaign_credit CHECK (
        (campaign_id IS NULL) = (campaign_credit IS NULL)
        AND (campaign_id IS NULL OR (transaction_type = 'PROMOTION' AND campaign_credit > 0)));
COMMENT ON COLUMN loyalty.loyalty_ledger.actor_role IS
    'The login role (session_user) that made the change; ''(before 0.2.0)'' on rows written before attribution existed.';
COMMENT ON COLUMN loyalty.loyalty_ledger.campaign_id IS
    'For a campaign credit: the campaign (loyalty.promotion_campaign) and, in campaign_credit, which of the player''s credits of it this is.';
CREATE UNIQUE INDEX loyalty_ledger_campaign_credit_idx
    ON loyalty.loyalty_ledger (campaign_id, player_id, campaign_credit)
    WHERE campaign_id IS NOT NULL;

-- Login-role capabilities, velocity usage, trusted keys.
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

REVOKE ALL ON loyalty.promotion_campaign, loyalty.role_permission, loyalty.velocity_usage,
              loyalty.trusted_key FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('loyalty.promotion_campaign', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.promotion_campaign_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.role_permission', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.velocity_usage', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.trusted_key', '');
CREATE FUNCTION loyalty.trusted_key_changed() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'loyalty_ext-0.2.0', 'trusted_key_changed_wrapper';
CREATE FUNCTION loyalty.bind_session_staff(p_staff_id uuid) RETURNS text
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'bind_session_staff_wrapper';
REVOKE ALL ON FUNCTION loyalty.bind_session_staff(uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.bind_session_staff(uuid) IS
    'For a pooler connected as superuser: binds the session to a staff member (loyalty.session_staff_id) after loading the library, so that RESET ALL and DISCARD ALL by the application''s role leave the binding in force. Superuser only.';
COMMENT ON FUNCTION loyalty.trusted_key_changed() IS
    'Trigger function: after any change to loyalty.trusted_key, tells every session to forget the staff tokens it verified.';
CREATE TRIGGER trusted_key_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.trusted_key
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.trusted_key_changed();
ALTER TABLE loyalty.trusted_key ENABLE ALWAYS TRIGGER trusted_key_changed;

-- Recovery that cannot be wedged: STUCK and ABANDONED states, a backoff
-- (next_attempt_at; open 0.1.0 requests are due at once), attribution, and
-- the index recover_pending now reads.  The CHECK is replaced under the
-- name PostgreSQL gave the column constraint.
ALTER TABLE loyalty.rating_slip_accrual
    DROP CONSTRAINT rating_slip_accrual_status_check,
    ADD CONSTRAINT rating_slip_accrual_status_check
        CHECK (status IN ('PENDING', 'FAILED', 'COMPLETED', 'STUCK', 'ABANDONED')),
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN actor_role text NOT NULL DEFAULT '(before 0.2.0)';
COMMENT ON TABLE loyalty.rating_slip_accrual IS
    'One accrual request per closed rating slip: PENDING (recorded), FAILED (last attempt failed, retried at next_attempt_at), COMPLETED (points credited, ledger_id set unless zero points), STUCK (waits for resolve_accrual), ABANDONED (resolved: no credit).';
COMMENT ON COLUMN loyalty.rating_slip_accrual.actor_role IS
    'The login role (session_user) that recorded the slip; ''(before 0.2.0)'' on older rows.';
DROP INDEX loyalty.rating_slip_accrual_open_idx;
CREATE INDEX rating_slip_accrual_due_idx ON loyalty.rating_slip_accrual (next_attempt_at, created_at)
    WHERE status IN ('PENDING', 'FAILED');
CREATE OR REPLACE VIEW loyalty.pending_accruals AS
SELECT a.rating_slip_id, a.player_id, a.status, a.attempts, a.last_sqlstate, a.last_error,
       a.correlation_id, a.created_at, a.updated_at, now() - a.created_at AS age,
       a.next_attempt_at
  FROM loyalty.rating_slip_accrual a
 WHERE a.status IN ('PENDING', 'FAILED', 'STUCK')
 ORDER BY a.created_at;
COMMENT ON VIEW loyalty.pending_accruals IS
    'Rating-slip accruals not yet credited (PENDING, FAILED, STUCK) with attempts, last error, age and next attempt; loyalty.recover_pending() works through the due PENDING and FAILED ones, a person resolves the STUCK ones (loyalty.resolve_accrual).';
CREATE TABLE loyalty.accrual_resolution (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rating_slip_id  uuid        NOT NULL REFERENCES loyalty.rating_slip_accrual (rating_slip_id),
    action          text        NOT NULL CHECK (action IN ('retry', 'abandon')),
    staff_id        uuid        NOT NULL,
    reason          text        NOT NULL,
    correlation_id  text        NOT NULL,
    actor_role      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE loyalty.accrual_resolution IS
    'One row per loyalty.resolve_accrual call: the slip, retry or abandon, the staff member (loyalty:recover), the login role, the reason and the correlation id.';
CREATE INDEX accrual_resolution_slip_idx ON loyalty.accrual_resolution (rating_slip_id, id);
CREATE INDEX accrual_resolution_correlation_idx ON loyalty.accrual_resolution (correlation_id);
REVOKE ALL ON loyalty.accrual_resolution FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('loyalty.accrual_resolution', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.accrual_resolution_id_seq', '');
COMMENT ON TYPE loyalty.slip_result IS
    'Result of a rating-slip accrual: COMPLETED, ALREADY_COMPLETED, PARTIAL_COMPLETION (error holds SQLSTATE and message) or ABANDONED (resolve_accrual).';

-- Reconciliations are attributed too.
ALTER TABLE loyalty.reconciliation ADD COLUMN actor_role text NOT NULL DEFAULT '(before 0.2.0)';

-- drift_check also finds slips credited twice and campaigns whose counted
-- points differ from their credits; trace also shows accrual resolutions.
CREATE OR REPLACE FUNCTION loyalty.drift_check()
RETURNS TABLE (problem text, player_id uuid, ledger_id bigint, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH sums AS (
        SELECT t.player_id, t.balance AS total, t.lifetime_points AS gained
          FROM loyalty.ledger_totals t
    ), chain AS (
        SELECT l.id, l.player_id, l.balance_before, l.balance_after, l.points_change,
               lag(l.balance_after) OVER (PARTITION BY l.player_id ORDER BY l.id) AS previous_after
          FROM loyalty.loyalty_ledger l
    )
    SELECT 'balance_mismatch', p.player_id, NULL::bigint,
           format('current_balance=%s, ledger_sum=%s', p.current_balance, coalesce(s.total, 0))
      FROM loyalty.player_loyalty p LEFT JOIN sums s USING (player_id)
     WHERE p.current_balance <> coalesce(s.total, 0)
    UNION ALL
    SELECT 'lifetime_mismatch', p.player_id, NULL,
           format('lifetime_points=%s, ledger_gains=%s', p.lifetime_points, coalesce(s.gained, 0))
      FROM loyalty.player_loyalty p LEFT JOIN sums s USING (player_id)
     WHERE p.lifetime_points <> coalesce(s.gained, 0)
    UNION ALL
    SELECT 'missing_player', s.player_id, NULL, format('ledger_sum=%s', s.total)
      FROM sums s
     WHERE NOT EXISTS (SELECT 1 FROM loyalty.player_loyalty p WHERE p.player_id = s.player_id)
    UNION ALL
    SELECT 'broken_chain', c.player_id, c.id,
           format('balance_before=%s, previous_balance_after=%s', c.balance_before, coalesce(c.previous_after, 0))
      FROM chain c
     WHERE c.balance_before <> coalesce(c.previous_after, 0)
    UNION ALL
    SELECT 'bad_arithmetic', c.player_id, c.id,
           format('balance_before=%s, points_change=%s, balance_after=%s', c.balance_before, c.points_change, c.balance_after)
      FROM chain c
     WHERE c.balance_after <> c.balance_before + c.points_change
    UNION ALL
    SELECT 'duplicate_key', NULL, min(l.id),
           format('idempotency_key=%s, rows=%s', l.idempotency_key, count(*))
      FROM loyalty.loyalty_ledger l
     GROUP BY l.idempotency_key
    HAVING count(*) > 1
    UNION ALL
    -- A rating slip credited more than once (possible before 0.2.0, which
    -- did not tie a GAMEPLAY credit to its slip's key).
    SELECT 'duplicate_accrual', min(l.player_id::text)::uuid, min(l.id),
           format('rating_slip_id=%s, gameplay_rows=%s', l.rating_slip_id, count(*))
      FROM loyalty.loyalty_ledger l
     WHERE l.transaction_type = 'GAMEPLAY'
     GROUP BY l.rating_slip_id
    HAVING count(*) > 1
    UNION ALL
    -- A campaign whose counted points differ from its credits in the ledger.
    SELECT 'campaign_mismatch', NULL, NULL,
           format('reward_id=%s, credited_points=%s, ledger_credits=%s',
                  c.reward_id, c.credited_points, coalesce(sum(l.points_change), 0))
      FROM loyalty.promotion_campaign c
      LEFT JOIN loyalty.loyalty_ledger l ON l.campaign_id = c.id
     GROUP BY c.id, c.reward_id, c.credited_points
    HAVING c.credited_points <> coalesce(sum(l.points_change), 0)
$$;
COMMENT ON FUNCTION loyalty.drift_check() IS
    'Invariants of the ledger (balance and lifetime vs ledger sums, before/after chains, arithmetic, duplicate keys, rating slips credited twice, campaign budgets vs their credits); returns nothing on a healthy database.';
CREATE OR REPLACE FUNCTION loyalty.trace(p_correlation_id text)
RETURNS TABLE (source text, ledger_id bigint, rating_slip_id uuid, player_id uuid, kind text,
               points integer, balance_before bigint, balance_after bigint, staff_id uuid,
               detail text, at timestamptz)
LANGUAGE sql STABLE
AS $$
    SELECT t.* FROM (
        SELECT 'ledger'::text, l.id, l.rating_slip_id, l.player_id, l.transaction_type,
               l.points_change, l.balance_before, l.balance_after, l.staff_id,
               l.reason, l.created_at
          FROM loyalty.loyalty_ledger l
         WHERE l.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
        UNION ALL
        SELECT 'rating_slip'::text, a.ledger_id, a.rating_slip_id, a.player_id, a.status,
               a.points, NULL::bigint, NULL::bigint, NULL::uuid,
               pg_catalog.format('attempts=%s %s', a.attempts,
                                 COALESCE(a.last_sqlstate OPERATOR(pg_catalog.||) ': '
                                          OPERATOR(pg_catalog.||) a.last_error, '')),
               a.created_at
          FROM loyalty.rating_slip_accrual a
         WHERE a.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
        UNION ALL
        SELECT 'reconciliation'::text, NULL::bigint, NULL::uuid, r.player_id, 'RECONCILE',
               NULL::integer, r.balance_before, r.balance_after, r.staff_id,
               r.reason, r.created_at
          FROM loyalty.reconciliation r
         WHERE r.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
        UNION ALL
        SELECT 'resolution'::text, NULL::bigint, x.rating_slip_id, NULL::uuid,
               pg_catalog.upper(x.action), NULL::integer, NULL::bigint, NULL::bigint, x.staff_id,
               x.reason, x.created_at
          FROM loyalty.accrual_resolution x
         WHERE x.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
    ) AS t(source, ledger_id, rating_slip_id, player_id, kind, points, balance_before,
           balance_after, staff_id, detail, at)
    ORDER BY t.at, t.ledger_id
$$;
COMMENT ON FUNCTION loyalty.trace(text) IS
    'Every ledger row, rating-slip accrual, reconciliation and accrual resolution recorded under one correlation id, in time order (served by the correlation-id indexes).';

-- apply_promotion gains p_sequence (a campaign may credit a player more
-- than once); resolve_accrual is new.
CREATE FUNCTION loyalty.apply_promotion(
    p_player_id uuid,
    p_reward_id text,
    p_points integer,
    p_reason text DEFAULT NULL,
    p_staff_id uuid DEFAULT NULL,
    p_correlation_id text DEFAULT NULL,
    p_sequence integer DEFAULT 1
) RETURNS loyalty.change_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'apply_promotion_wrapper';
REVOKE ALL ON FUNCTION loyalty.apply_promotion(uuid, text, integer, text, uuid, text, integer) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.apply_promotion(uuid, text, integer, text, uuid, text)',
                                   'loyalty.apply_promotion(uuid, text, integer, text, uuid, text, integer)');
DROP FUNCTION loyalty.apply_promotion(uuid, text, integer, text, uuid, text);
COMMENT ON FUNCTION loyalty.apply_promotion(uuid, text, integer, text, uuid, text, integer) IS
    'A PROMOTION credit of a registered, current campaign (loyalty.promotion_campaign) at its points_per_credit, at most credits_per_player times (p_sequence 1, 2, ...), within its budget; a second delivery of the same reward is a replay. A named staff member must hold loyalty:promote.';
CREATE FUNCTION loyalty.resolve_accrual(
    p_rating_slip_id uuid,
    p_staff_id uuid,
    p_action text,
    p_reason text,
    p_correlation_id text DEFAULT NULL
) RETURNS loyalty.slip_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'resolve_accrual_wrapper';
REVOKE ALL ON FUNCTION loyalty.resolve_accrual(uuid, uuid, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.resolve_accrual(uuid, uuid, text, text, text) IS
    'A staff member holding loyalty:recover resolves an open (FAILED or STUCK) accrual with a reason: ''retry'' attempts it now with its attempts counted afresh, ''abandon'' closes it without credit; recorded in loyalty.accrual_resolution.';
COMMENT ON FUNCTION loyalty.recover_pending(integer) IS
    'Replays up to p_max due accruals (PENDING or FAILED with next_attempt_at passed) soonest first, skipping rows another session is recovering; one row per slip attempted. Suitable for pg_cron.';
COMMENT ON FUNCTION loyalty.trusted_key_changed() IS
    'Trigger function: after any change to loyalty.trusted_key, tells every session to forget the staff tokens it verified.';

-- Whoever could read the 0.1.0 ledger (the README's auditor was given
-- SELECT ON ALL TABLES IN SCHEMA loyalty) can read what 0.2.0 adds beside
-- it: trace() reads accrual_resolution with its caller's rights, and an
-- audit that worked before the update works after it.  The trusted keys
-- stay the owner's alone.
DO $readers$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT x.grantee
               FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x
              WHERE c.oid = 'loyalty.loyalty_ledger'::pg_catalog.regclass
                AND x.privilege_type = 'SELECT' AND x.grantee NOT IN (0, c.relowner)
    LOOP
        EXECUTE pg_catalog.format(
            'GRANT SELECT ON loyalty.ledger_totals, loyalty.promotion_campaign, loyalty.role_permission, '
            'loyalty.velocity_usage, loyalty.accrual_resolution TO %s', r.grantee::regrole);
    END LOOP;
END
$readers$;

-- Each release has its own shared library (loyalty_ext-X.Y.Z.so; 0.1.0's is
-- loyalty_ext.so), so that a function always calls the code of the release
-- that defined it: a backend that loaded 0.1.0's library before this update
-- loads 0.2.0's beside it for the new definitions, and a database not yet
-- updated keeps calling 0.1.0's.  Here every C function of the extension
-- still bound to another library is re-created, as it stands, on 0.2.0's:
-- pg_get_functiondef gives its exact signature, defaults and attributes,
-- and CREATE OR REPLACE keeps its oid, comment and grants.  Functions whose
-- definition changes in 0.2.0 are re-created above with it instead.
DO $repoint$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid, p.probin
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_depend d
            ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'loyalty_ext'
          JOIN pg_catalog.pg_language l ON l.oid = p.prolang AND l.lanname = 'c'
         WHERE p.probin IS DISTINCT FROM 'loyalty_ext-0.2.0'
    LOOP
        EXECUTE pg_catalog.replace(pg_catalog.pg_get_functiondef(f.oid),
                                   'AS ' || pg_catalog.quote_literal(f.probin) || ', ',
                                   'AS ' || pg_catalog.quote_literal('loyalty_ext-0.2.0') || ', ');
    END LOOP;
    IF EXISTS (SELECT 1
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang AND l.lanname = 'c'
                WHERE p.pronamespace = 'loyalty'::pg_catalog.regnamespace
                  AND p.probin IS DISTINCT FROM 'loyalty_ext-0.2.0') THEN
        RAISE EXCEPTION 'loyalty_ext 0.2.0 upgrade: a C function is still bound to another library';
    END IF;
END
$repoint$;

DROP FUNCTION loyalty.upgrade_copy_grants(regprocedure, regprocedure);
