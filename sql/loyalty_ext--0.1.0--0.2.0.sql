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
CREATE FUNCTION loyalty.base_tier(p_casino_id uuid DEFAULT NULL) RETURNS text
    STABLE SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'base_tier_wrapper';
COMMENT ON FUNCTION loyalty.base_tier(uuid) IS
    'The lowest tier of the casino''s ladder in loyalty.tier (threshold 0): where a new player starts, and the tier balance_at reports before a player''s first entry.';
REVOKE ALL ON FUNCTION loyalty.base_tier(uuid) FROM PUBLIC;

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
    event_count   integer[]     NOT NULL DEFAULT '{}',
    PRIMARY KEY (scope, actor, kind),
    CONSTRAINT velocity_usage_events CHECK (cardinality(event_at) = cardinality(event_points)
                                          AND cardinality(event_at) = cardinality(event_count))
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
CREATE FUNCTION loyalty.bind_session_staff(p_staff_id uuid, p_casino_id uuid DEFAULT NULL) RETURNS text
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'bind_session_staff_wrapper';
REVOKE ALL ON FUNCTION loyalty.bind_session_staff(uuid, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.bind_session_staff(uuid, uuid) IS
    'For a pooler connected as superuser: binds the session to a staff member (loyalty.session_staff_id) and, when p_casino_id is given, to a casino (loyalty.session_casino_id), after loading the library, so that RESET ALL and DISCARD ALL by the application''s role leave the binding in force. Superuser only.';
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
    p_sequence integer DEFAULT 1,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.change_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'apply_promotion_wrapper';
REVOKE ALL ON FUNCTION loyalty.apply_promotion(uuid, text, integer, text, uuid, text, integer, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.apply_promotion(uuid, text, integer, text, uuid, text)',
                                   'loyalty.apply_promotion(uuid, text, integer, text, uuid, text, integer, uuid)');
DROP FUNCTION loyalty.apply_promotion(uuid, text, integer, text, uuid, text);
COMMENT ON FUNCTION loyalty.apply_promotion(uuid, text, integer, text, uuid, text, integer, uuid) IS
    'A PROMOTION credit of a registered, current campaign (loyalty.promotion_campaign) at its points_per_credit, at most credits_per_player times (p_sequence 1, 2, ...), within its budget; a second delivery of the same reward is a replay. A named staff member must hold loyalty:promote.';
CREATE FUNCTION loyalty.resolve_accrual(
    p_rating_slip_id uuid,
    p_staff_id uuid,
    p_action text,
    p_reason text,
    p_correlation_id text DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.slip_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'resolve_accrual_wrapper';
REVOKE ALL ON FUNCTION loyalty.resolve_accrual(uuid, uuid, text, text, text, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.resolve_accrual(uuid, uuid, text, text, text, uuid) IS
    'A staff member holding loyalty:recover resolves an open (FAILED or STUCK) accrual with a reason: ''retry'' attempts it now with its attempts counted afresh, ''abandon'' closes it without credit; recorded in loyalty.accrual_resolution.';
COMMENT ON FUNCTION loyalty.trusted_key_changed() IS
    'Trigger function: after any change to loyalty.trusted_key, tells every session to forget the staff tokens it verified.';

-- Issue 14: casinos (SPEC section 14).  Every row a 0.1.0 database holds
-- belongs to the default casino: each casino_id column is added with that
-- constant as its default (no table is rewritten), then given the default
-- a fresh install has, the session's casino.
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
INSERT INTO loyalty.casino (casino_id, name) VALUES ('00000000-0000-0000-0000-000000000000', 'default');
REVOKE ALL ON loyalty.casino, loyalty.point_value_history FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('loyalty.casino', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.point_value_history', '');

-- The casino of a call, asked by defaults, policies and audit functions.
CREATE FUNCTION loyalty.casino_scope(p_casino_id uuid DEFAULT NULL) RETURNS uuid
    STABLE SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'casino_scope_wrapper';
COMMENT ON FUNCTION loyalty.casino_scope(uuid) IS
    'The casino a call naming p_casino_id may see: that one (a bound session may name only its own, else 42501), else the session''s (staff token casino claim, else loyalty.session_casino_id), else NULL (unbound: every casino). Row-level security and the audit functions ask it.';
CREATE FUNCTION loyalty.current_casino_id(p_casino_id uuid DEFAULT NULL) RETURNS uuid
    STABLE SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'current_casino_id_wrapper';
COMMENT ON FUNCTION loyalty.current_casino_id(uuid) IS
    'The casino a call naming p_casino_id acts for: that one (a bound session may name only its own, else 42501), else the session''s, else the default casino. The default of every casino_id column.';
CREATE FUNCTION loyalty.casino_changed() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'loyalty_ext-0.2.0', 'casino_changed_wrapper';
COMMENT ON FUNCTION loyalty.casino_changed() IS
    'Trigger function: after any change to loyalty.casino, tells every session to re-read the casinos'' settings (kept per session) at its next transaction.';

-- Each table gains its casino; keys, accounts and slips become per casino.
ALTER TABLE loyalty.tier
    ADD COLUMN casino_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000' REFERENCES loyalty.casino (casino_id),
    DROP CONSTRAINT tier_pkey,
    DROP CONSTRAINT tier_threshold_key,
    ADD CONSTRAINT tier_pkey PRIMARY KEY (casino_id, name),
    ADD CONSTRAINT tier_threshold_key UNIQUE (casino_id, threshold);
COMMENT ON TABLE loyalty.tier IS
    'Loyalty tiers, one ladder per casino: a player holds the highest tier whose threshold is at most their lifetime points; multiplier scales gameplay points.';
CREATE OR REPLACE FUNCTION loyalty.replace_tier() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM loyalty.tier t
     WHERE t.casino_id = NEW.casino_id AND (t.name = NEW.name OR t.threshold = NEW.threshold);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.replace_tier() IS
    'Trigger function: an inserted tier replaces the casino''s tier with the same name or threshold (keeps edited tiers across pg_dump/restore).';

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

ALTER TABLE loyalty.player_loyalty
    ADD COLUMN casino_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000' REFERENCES loyalty.casino (casino_id),
    DROP CONSTRAINT player_loyalty_pkey,
    ADD CONSTRAINT player_loyalty_pkey PRIMARY KEY (casino_id, player_id);
COMMENT ON TABLE loyalty.player_loyalty IS
    'Per-player balance, lifetime points, tier and progress at one casino (a player enrolled at two casinos has two rows); always equal to what loyalty.loyalty_ledger adds up to.';
ALTER TABLE loyalty.promotion_campaign
    ADD COLUMN casino_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000' REFERENCES loyalty.casino (casino_id),
    DROP CONSTRAINT promotion_campaign_reward_id_key,
    ADD CONSTRAINT promotion_campaign_reward_id_key UNIQUE (casino_id, reward_id);
ALTER TABLE loyalty.loyalty_ledger
    ADD COLUMN casino_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    DROP CONSTRAINT loyalty_ledger_idempotency_key_key,
    ADD CONSTRAINT loyalty_ledger_idempotency_key_key UNIQUE (casino_id, idempotency_key);
COMMENT ON COLUMN loyalty.loyalty_ledger.casino_id IS
    'The casino (loyalty.casino) the change happened at: idempotency keys are unique per casino, and a player''s account is (casino_id, player_id).';
DROP INDEX loyalty.loyalty_ledger_player_idx;
CREATE INDEX loyalty_ledger_player_idx ON loyalty.loyalty_ledger (casino_id, player_id, id);
ALTER TABLE loyalty.staff_permission
    ADD COLUMN casino_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000' REFERENCES loyalty.casino (casino_id),
    DROP CONSTRAINT staff_permission_pkey,
    ADD CONSTRAINT staff_permission_pkey PRIMARY KEY (casino_id, staff_id);
COMMENT ON TABLE loyalty.staff_permission IS
    'Capabilities per staff member at one casino (loyalty:award, loyalty:promote, loyalty:redeem, loyalty:adjust, loyalty:recover); deny by default.';
ALTER TABLE loyalty.velocity_usage
    ADD COLUMN casino_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    DROP CONSTRAINT velocity_usage_pkey,
    ADD CONSTRAINT velocity_usage_pkey PRIMARY KEY (casino_id, scope, actor, kind);
COMMENT ON TABLE loyalty.velocity_usage IS
    'Recent velocity-limited changes per casino, staff member or login role, and kind (manual_reward, adjustment, redemption): the window''s changes, kept per 1/64 of the window (event_at the slice''s end, event_points and event_count its points and changes).';
ALTER TABLE loyalty.accrual_resolution DROP CONSTRAINT accrual_resolution_rating_slip_id_fkey;
ALTER TABLE loyalty.rating_slip_accrual
    ADD COLUMN casino_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000' REFERENCES loyalty.casino (casino_id),
    DROP CONSTRAINT rating_slip_accrual_pkey,
    ADD CONSTRAINT rating_slip_accrual_pkey PRIMARY KEY (casino_id, rating_slip_id);
ALTER TABLE loyalty.accrual_resolution
    ADD COLUMN casino_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ADD CONSTRAINT accrual_resolution_rating_slip_id_fkey FOREIGN KEY (casino_id, rating_slip_id)
        REFERENCES loyalty.rating_slip_accrual (casino_id, rating_slip_id);
DROP INDEX loyalty.accrual_resolution_slip_idx;
CREATE INDEX accrual_resolution_slip_idx ON loyalty.accrual_resolution (casino_id, rating_slip_id, id);
ALTER TABLE loyalty.reconciliation
    ADD COLUMN casino_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
DROP INDEX loyalty.reconciliation_player_idx;
CREATE INDEX reconciliation_player_idx ON loyalty.reconciliation (casino_id, player_id, id);

-- Views read with their reader's rights, so that row-level security
-- applies to them; each shows the casino.
CREATE OR REPLACE VIEW loyalty.pending_accruals WITH (security_invoker = true) AS
SELECT a.rating_slip_id, a.player_id, a.status, a.attempts, a.last_sqlstate, a.last_error,
       a.correlation_id, a.created_at, a.updated_at, now() - a.created_at AS age,
       a.next_attempt_at, a.casino_id
  FROM loyalty.rating_slip_accrual a
 WHERE a.status IN ('PENDING', 'FAILED', 'STUCK')
 ORDER BY a.created_at;
DROP VIEW loyalty.ledger_totals;
CREATE VIEW loyalty.ledger_totals WITH (security_invoker = true) AS
SELECT l.casino_id,
       l.player_id,
       sum(l.points_change)::bigint                                            AS balance,
       coalesce(sum(l.points_change) FILTER (WHERE l.points_change > 0), 0)::bigint AS lifetime_points,
       count(*)                                                                AS entries
  FROM loyalty.loyalty_ledger l
 GROUP BY l.casino_id, l.player_id;
COMMENT ON VIEW loyalty.ledger_totals IS
    'Per casino and player, what the ledger adds up to: balance (sum of changes), lifetime_points (sum of gains), entries; loyalty.player_loyalty must equal it.';
REVOKE ALL ON loyalty.ledger_totals FROM PUBLIC;

-- Issue 15: holds (SPEC section 15).  Their table comes before the
-- row-level security below, which covers it.
ALTER TABLE loyalty.player_loyalty
    ADD COLUMN held_points bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT player_loyalty_held CHECK (held_points BETWEEN 0 AND current_balance);
COMMENT ON COLUMN loyalty.player_loyalty.held_points IS
    'Points reserved by the player''s active holds (loyalty.point_hold); available = current_balance - held_points, and no debit goes below it.';
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

-- Issue 15: expiry.  EXPIRATION rows, and lots for casinos with a policy.
ALTER TABLE loyalty.loyalty_ledger
    DROP CONSTRAINT loyalty_ledger_transaction_type_check,
    ADD CONSTRAINT loyalty_ledger_transaction_type_check CHECK (transaction_type IN
        ('GAMEPLAY', 'MANUAL_BONUS', 'PROMOTION', 'REDEMPTION', 'ADJUSTMENT', 'REVERSAL', 'EXPIRATION'));
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

-- The column defaults, the casino trigger and row-level security, as a
-- fresh install has them (sql/tenancy.sql).
CREATE TRIGGER casino_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.casino
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.casino_changed();
ALTER TABLE loyalty.casino ENABLE ALWAYS TRIGGER casino_changed;

-- A row inserted without naming its casino belongs to the session's casino
-- (the bound one, else the default casino): a single-casino DBA's
-- INSERT INTO loyalty.staff_permission (staff_id, capabilities) and a
-- restored 0.1.0 dump work unchanged.
ALTER TABLE loyalty.tier ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.player_loyalty ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.promotion_campaign ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.loyalty_ledger ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.staff_permission ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.velocity_usage ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.rating_slip_accrual ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.accrual_resolution ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.reconciliation ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.point_hold ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.point_lot ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.lot_consumption ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();

-- Row-level security for direct reads and the admin's edits.  The write
-- functions run as the extension's owner and apply the same rule
-- themselves.  A session bound to a casino (loyalty.session_casino_id, or
-- a staff token's casino claim) reads only that casino's rows; an unbound
-- one (a group auditor) reads every casino's.  Edits by the admin role
-- apply to the session's casino, else the default one.
DO $policies$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['casino', 'tier', 'player_loyalty', 'promotion_campaign', 'loyalty_ledger',
                             'staff_permission', 'velocity_usage', 'rating_slip_accrual',
                             'accrual_resolution', 'reconciliation', 'point_hold', 'point_lot',
                             'lot_consumption', 'point_value_history']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE loyalty.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY casino_read ON loyalty.%I FOR SELECT '
            'USING (casino_id = COALESCE((SELECT loyalty.casino_scope()), casino_id))', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['casino', 'tier', 'promotion_campaign', 'staff_permission']
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE POLICY casino_write ON loyalty.%I '
            'USING (casino_id = (SELECT loyalty.current_casino_id())) '
            'WITH CHECK (casino_id = (SELECT loyalty.current_casino_id()))', t);
    END LOOP;
END
$policies$;

-- Login-role capabilities are the group's (login roles are cluster-wide):
-- every admin reads them, only one bound to no casino (or a superuser)
-- changes them, so that a casino's admin cannot give or take another
-- casino's application its rights.
ALTER TABLE loyalty.role_permission ENABLE ROW LEVEL SECURITY;
CREATE POLICY group_read ON loyalty.role_permission FOR SELECT USING (true);
CREATE POLICY group_write ON loyalty.role_permission
    USING ((SELECT loyalty.casino_scope()) IS NULL)
    WITH CHECK ((SELECT loyalty.casino_scope()) IS NULL);

-- The hold functions and a player's account.
CREATE FUNCTION loyalty.hold_points(
    p_player_id uuid,
    p_points INT,
    p_staff_id uuid,
    p_reason TEXT,
    p_idempotency_key TEXT,
    p_expires_at timestamp with time zone DEFAULT NULL,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.hold_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'hold_points_wrapper';
REVOKE ALL ON FUNCTION loyalty.hold_points(uuid, integer, uuid, text, text, timestamptz, text, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.hold_points(uuid, integer, uuid, text, text, timestamptz, text, uuid) IS
    'Reserves p_points of the player''s available balance (balance - points held) until captured, released or expired (p_expires_at, default now + loyalty.hold_expiry); staff needs loyalty:redeem; velocity-limited like redemptions; idempotent (the same key again is a replay, with a different request 23505); beyond what is available 23514.';
CREATE FUNCTION loyalty.capture_hold(
    p_hold_id bigint,
    p_staff_id uuid,
    p_points INT DEFAULT NULL,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.change_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'capture_hold_wrapper';
REVOKE ALL ON FUNCTION loyalty.capture_hold(bigint, uuid, integer, text, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.capture_hold(bigint, uuid, integer, text, uuid) IS
    'Charges an active hold, all of it or p_points of it, as one REDEMPTION (the rest is released); staff needs loyalty:redeem; a captured, released or expired hold is 55000; returns loyalty.change_result.';
CREATE FUNCTION loyalty.release_hold(
    p_hold_id bigint,
    p_staff_id uuid,
    p_reason TEXT,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.hold_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'release_hold_wrapper';
REVOKE ALL ON FUNCTION loyalty.release_hold(bigint, uuid, text, text, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.release_hold(bigint, uuid, text, text, uuid) IS
    'Releases an active hold''s points with a reason; staff needs loyalty:redeem; a captured, released or expired hold is 55000.';
CREATE FUNCTION loyalty.expire_holds(
    p_max INT DEFAULT 1000,
    p_casino_id uuid DEFAULT NULL
) RETURNS TABLE (
    "hold_id" bigint,
    "casino_id" uuid,
    "player_id" uuid,
    "points" INT
    )
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'expire_holds_wrapper';
REVOKE ALL ON FUNCTION loyalty.expire_holds(integer, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.expire_holds(integer, uuid) IS
    'Closes the expired active holds of up to p_max players (of the casino named, else the session''s, else every casino), skipping players another session holds; one row per hold expired. Suitable for pg_cron; an expired hold counts for nothing even before it runs.';
CREATE FUNCTION loyalty.expire_points(
    p_max INT DEFAULT 1000,
    p_as_of timestamp with time zone DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS TABLE (
    "casino_id" uuid,
    "player_id" uuid,
    "points" bigint,
    "ledger_id" bigint
    )
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'expire_points_wrapper';
REVOKE ALL ON FUNCTION loyalty.expire_points(integer, timestamptz, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.expire_points(integer, timestamptz, uuid) IS
    'Writes off the expired points of up to p_max players by their casino''s expiry policy, as of p_as_of (default now; a future moment only for a superuser): one EXPIRATION ledger row per player and set of lots, through the write path; never the points a hold reserves; skips players another session holds; idempotent and resumable. Suitable for pg_cron.';
CREATE FUNCTION loyalty.player_account(p_player_id uuid, p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (current_balance bigint, held_points bigint, available bigint, lifetime_points bigint,
               tier text, next_expiry_at timestamptz, next_expiry_points bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.current_casino_id(p_casino_id);
    WITH casino AS (
        SELECT c.casino_id, c.expiry_policy, c.expiry_months
          FROM loyalty.casino c WHERE c.casino_id = loyalty.current_casino_id(p_casino_id)
    ), next_lot AS (
        SELECT l.expires_at, sum(l.remaining)::bigint AS points
          FROM loyalty.point_lot l, casino
         WHERE casino.expiry_policy = 'fixed' AND l.casino_id = casino.casino_id
           AND l.player_id = p_player_id AND l.remaining > 0 AND l.expires_at > clock_timestamp()
         GROUP BY l.expires_at ORDER BY l.expires_at LIMIT 1
    ), held AS (
        SELECT coalesce(sum(h.points), 0)::bigint AS points
          FROM loyalty.point_hold h, casino
         WHERE h.casino_id = casino.casino_id AND h.player_id = p_player_id
           AND h.status = 'ACTIVE' AND h.expires_at > clock_timestamp()
    )
    SELECT coalesce(p.current_balance, 0), held.points, coalesce(p.current_balance, 0) - held.points,
           coalesce(p.lifetime_points, 0), coalesce(p.tier, loyalty.base_tier(p_casino_id)),
           CASE casino.expiry_policy
                WHEN 'fixed' THEN next_lot.expires_at
                WHEN 'inactivity' THEN coalesce((SELECT a.created_at FROM loyalty.loyalty_ledger a
                                                    WHERE a.casino_id = p.casino_id AND a.player_id = p.player_id
                                                      AND a.transaction_type <> 'EXPIRATION'
                                                    ORDER BY a.id DESC LIMIT 1), p.created_at)
                                       + make_interval(months => casino.expiry_months)
           END,
           CASE casino.expiry_policy
                WHEN 'fixed' THEN next_lot.points
                WHEN 'inactivity' THEN p.current_balance
           END
      FROM casino CROSS JOIN held
      LEFT JOIN next_lot ON true
      LEFT JOIN loyalty.player_loyalty p
        ON p.casino_id = casino.casino_id AND p.player_id = p_player_id
$$;
REVOKE ALL ON FUNCTION loyalty.player_account(uuid, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.player_account(uuid, uuid) IS
    'A player''s account at one casino (named, else the session''s): current_balance, held_points (active holds not yet expired), available (balance - held), lifetime_points, tier, and the next expiry of points: under fixed, the soonest lot still to expire and its points; under inactivity, the player''s last change plus expiry_months and the whole balance; NULL under none.';

-- What the program owes, per casino and tier, as of a moment: reproduced
-- from the ledger, the holds and the lots as they stood then (SPEC 15).
CREATE FUNCTION loyalty.liability(p_as_of timestamptz DEFAULT now(), p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (casino_id uuid, tier text, players bigint, outstanding_points bigint, held_points bigint,
               expiring_30d bigint, expiring_60d bigint, expiring_90d bigint, point_value numeric,
               outstanding_value numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.casino_scope(p_casino_id);
    WITH scope AS (
        SELECT loyalty.casino_scope(p_casino_id) AS casino_id
    ), standing AS (
        -- Each player's last ledger row at or before the moment.
        SELECT DISTINCT ON (l.casino_id, l.player_id)
               l.casino_id, l.player_id, l.balance_after, l.tier_after, l.created_at
          FROM loyalty.loyalty_ledger l, scope
         WHERE l.created_at <= p_as_of AND l.casino_id = coalesce(scope.casino_id, l.casino_id)
         ORDER BY l.casino_id, l.player_id, l.id DESC
    ), held AS (
        SELECT h.casino_id, h.player_id, sum(h.points)::bigint AS points
          FROM loyalty.point_hold h
         WHERE h.created_at <= p_as_of AND (h.closed_at IS NULL OR h.closed_at > p_as_of)
           AND h.expires_at > p_as_of
         GROUP BY h.casino_id, h.player_id
    ), lot_then AS (
        -- Lots as they stood then: earned by the moment, less what debits
        -- written by then consumed (the debit's own time, as the ledger
        -- has it).
        SELECT l.casino_id, l.player_id, l.expires_at,
               l.points - coalesce((SELECT sum(x.points) FROM loyalty.lot_consumption x
                                      LEFT JOIN loyalty.loyalty_ledger d ON d.id = x.ledger_id
                                     WHERE x.lot_id = l.lot_id
                                       AND coalesce(d.created_at, x.created_at) <= p_as_of), 0) AS remaining
          FROM loyalty.point_lot l
         WHERE l.earned_at <= p_as_of
    ), due AS (
        -- When each player's points fall due: a fixed lot's own expiry, or
        -- under inactivity the last change plus the term, for the balance.
        SELECT t.casino_id, t.player_id, t.expires_at AS due_at, t.remaining AS points
          FROM lot_then t JOIN loyalty.casino c ON c.casino_id = t.casino_id
         WHERE c.expiry_policy = 'fixed' AND t.remaining > 0
        UNION ALL
        SELECT s.casino_id, s.player_id,
               (SELECT a.created_at FROM loyalty.loyalty_ledger a
                 WHERE a.casino_id = s.casino_id AND a.player_id = s.player_id
                   AND a.transaction_type <> 'EXPIRATION' AND a.created_at <= p_as_of
                 ORDER BY a.id DESC LIMIT 1) + make_interval(months => c.expiry_months),
               s.balance_after
          FROM standing s JOIN loyalty.casino c ON c.casino_id = s.casino_id
         WHERE c.expiry_policy = 'inactivity' AND s.balance_after > 0
    ), expiring AS (
        SELECT d.casino_id, d.player_id,
               coalesce(sum(d.points) FILTER (WHERE d.due_at > p_as_of AND d.due_at <= p_as_of + interval '30 days'), 0) AS d30,
               coalesce(sum(d.points) FILTER (WHERE d.due_at > p_as_of AND d.due_at <= p_as_of + interval '60 days'), 0) AS d60,
               coalesce(sum(d.points) FILTER (WHERE d.due_at > p_as_of AND d.due_at <= p_as_of + interval '90 days'), 0) AS d90
          FROM due d GROUP BY d.casino_id, d.player_id
    )
    SELECT s.casino_id, s.tier_after,
           count(*) FILTER (WHERE s.balance_after > 0),
           sum(s.balance_after)::bigint,
           coalesce(sum(h.points), 0)::bigint,
           coalesce(sum(e.d30), 0)::bigint, coalesce(sum(e.d60), 0)::bigint, coalesce(sum(e.d90), 0)::bigint,
           v.point_value,
           sum(s.balance_after) * v.point_value
      FROM standing s
      JOIN loyalty.casino c ON c.casino_id = s.casino_id
      -- The point value in effect at the moment.
      LEFT JOIN LATERAL (
            SELECT h.point_value FROM loyalty.point_value_history h
             WHERE h.casino_id = c.casino_id AND h.valid_from <= p_as_of
             ORDER BY h.valid_from DESC LIMIT 1) v ON true
      LEFT JOIN held h ON h.casino_id = s.casino_id AND h.player_id = s.player_id
      LEFT JOIN expiring e ON e.casino_id = s.casino_id AND e.player_id = s.player_id
     GROUP BY s.casino_id, s.tier_after, v.point_value
     ORDER BY s.casino_id, min(s.balance_after), s.tier_after
$$;
REVOKE ALL ON FUNCTION loyalty.liability(timestamptz, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.liability(timestamptz, uuid) IS
    'What the program owes as of p_as_of, per casino and tier, from the ledger, holds and lots as they stood then: players holding points, outstanding_points, held_points, points falling due within 30/60/90 days under the casino''s expiry policy, the point_value in effect then and outstanding_value; for the casino named, else the session''s, else (unbound) every casino.';

-- Every function that acts for or reads a casino gains p_casino_id, last.
CREATE FUNCTION loyalty.increment_player_loyalty(
    p_player_id uuid,
    p_delta_points INT,
    p_transaction_type TEXT,
    p_idempotency_key TEXT,
    p_reason TEXT DEFAULT NULL,
    p_staff_id uuid DEFAULT NULL,
    p_rating_slip_id uuid DEFAULT NULL,
    p_visit_id uuid DEFAULT NULL,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.change_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'increment_player_loyalty_wrapper';
REVOKE ALL ON FUNCTION loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text)', 'loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text, uuid)');
DROP FUNCTION loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text);
COMMENT ON FUNCTION loyalty.increment_player_loyalty(uuid, integer, text, text, text, uuid, uuid, uuid, text, uuid) IS
    'The one write path: applies one change to one player''s points at one casino exactly once (idempotency key, unique per casino), under the player''s row lock, with a full audit row; returns loyalty.change_result. p_casino_id: the casino (NULL: the session''s; a bound session may name only its own).';

CREATE FUNCTION loyalty.manual_reward(
    p_player_id uuid,
    p_staff_id uuid,
    p_points INT,
    p_reason TEXT,
    p_sequence INT DEFAULT 1,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.change_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'manual_reward_wrapper';
REVOKE ALL ON FUNCTION loyalty.manual_reward(uuid, uuid, integer, text, integer, text, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.manual_reward(uuid, uuid, integer, text, integer, text)', 'loyalty.manual_reward(uuid, uuid, integer, text, integer, text, uuid)');
DROP FUNCTION loyalty.manual_reward(uuid, uuid, integer, text, integer, text);
COMMENT ON FUNCTION loyalty.manual_reward(uuid, uuid, integer, text, integer, text, uuid) IS
    'A MANUAL_BONUS by a staff member holding loyalty:award: limit loyalty.max_manual_reward, reason of 10+ non-blank characters, rate limited; the same reward twice in one gaming day is a replay.';

CREATE FUNCTION loyalty.redeem_points(
    p_player_id uuid,
    p_points INT,
    p_staff_id uuid,
    p_reason TEXT,
    p_idempotency_key TEXT,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.change_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'redeem_points_wrapper';
REVOKE ALL ON FUNCTION loyalty.redeem_points(uuid, integer, uuid, text, text, text, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.redeem_points(uuid, integer, uuid, text, text, text)', 'loyalty.redeem_points(uuid, integer, uuid, text, text, text, uuid)');
DROP FUNCTION loyalty.redeem_points(uuid, integer, uuid, text, text, text);
COMMENT ON FUNCTION loyalty.redeem_points(uuid, integer, uuid, text, text, text, uuid) IS
    'A REDEMPTION of p_points (positive) by a staff member holding loyalty:redeem; never takes the balance below zero (23514).';

CREATE FUNCTION loyalty.adjust_points(
    p_player_id uuid,
    p_staff_id uuid,
    p_points INT,
    p_reason TEXT,
    p_idempotency_key TEXT,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.change_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'adjust_points_wrapper';
REVOKE ALL ON FUNCTION loyalty.adjust_points(uuid, uuid, integer, text, text, text, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.adjust_points(uuid, uuid, integer, text, text, text)', 'loyalty.adjust_points(uuid, uuid, integer, text, text, text, uuid)');
DROP FUNCTION loyalty.adjust_points(uuid, uuid, integer, text, text, text);
COMMENT ON FUNCTION loyalty.adjust_points(uuid, uuid, integer, text, text, text, uuid) IS
    'An ADJUSTMENT of either sign by a staff member holding loyalty:adjust, within loyalty.max_manual_reward, with a reason of 10+ non-blank characters.';

CREATE FUNCTION loyalty.reverse_entry(
    p_ledger_id bigint,
    p_staff_id uuid,
    p_reason TEXT,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.change_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'reverse_entry_wrapper';
REVOKE ALL ON FUNCTION loyalty.reverse_entry(bigint, uuid, text, text, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.reverse_entry(bigint, uuid, text, text)', 'loyalty.reverse_entry(bigint, uuid, text, text, uuid)');
DROP FUNCTION loyalty.reverse_entry(bigint, uuid, text, text);
COMMENT ON FUNCTION loyalty.reverse_entry(bigint, uuid, text, text, uuid) IS
    'A REVERSAL row cancelling one ledger entry (staff needs loyalty:adjust); reversing the same entry again is a replay; reversals cannot be reversed.';

CREATE FUNCTION loyalty.manual_reward_key(
    p_player_id uuid,
    p_staff_id uuid,
    p_points INT,
    p_reason TEXT,
    p_gaming_day date DEFAULT NULL,
    p_sequence INT DEFAULT 1,
    p_casino_id uuid DEFAULT NULL
) RETURNS TEXT
    STABLE SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'manual_reward_key_wrapper';
SELECT loyalty.upgrade_copy_grants('loyalty.manual_reward_key(uuid, uuid, integer, text, date, integer)', 'loyalty.manual_reward_key(uuid, uuid, integer, text, date, integer, uuid)');
DROP FUNCTION loyalty.manual_reward_key(uuid, uuid, integer, text, date, integer);
COMMENT ON FUNCTION loyalty.manual_reward_key(uuid, uuid, integer, text, date, integer, uuid) IS
    'The idempotency key loyalty.manual_reward derives: type, player, staff, points, reason, gaming day (default: the casino''s current one) and sequence.';

CREATE FUNCTION loyalty.gaming_day(
    p_at timestamp with time zone DEFAULT now(),
    p_casino_id uuid DEFAULT NULL
) RETURNS date
    STABLE SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'gaming_day_wrapper';
SELECT loyalty.upgrade_copy_grants('loyalty.gaming_day(timestamptz)', 'loyalty.gaming_day(timestamptz, uuid)');
DROP FUNCTION loyalty.gaming_day(timestamptz);
COMMENT ON FUNCTION loyalty.gaming_day(timestamptz, uuid) IS
    'The gaming day of a moment at a casino: it begins at the casino''s gaming_day_start local time in its gaming_day_timezone (each NULL: the loyalty.* setting; default 06:00, the server''s time zone).';

CREATE FUNCTION loyalty.validate_reward(
    p_points INT,
    p_reason TEXT,
    p_staff_id uuid,
    p_casino_id uuid DEFAULT NULL
) RETURNS TABLE (
    "valid" bool,
    "sqlstate" TEXT,
    "message" TEXT,
    "remaining" INT
    )
    STABLE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'validate_reward_wrapper';
REVOKE ALL ON FUNCTION loyalty.validate_reward(integer, text, uuid, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.validate_reward(integer, text, uuid)', 'loyalty.validate_reward(integer, text, uuid, uuid)');
DROP FUNCTION loyalty.validate_reward(integer, text, uuid);
COMMENT ON FUNCTION loyalty.validate_reward(integer, text, uuid, uuid) IS
    'Runs the checks of a manual reward without writing (for UIs): valid, or the first failure''s SQLSTATE and message; remaining rewards in the window.';

CREATE FUNCTION loyalty.rate_limit_status(
    p_staff_id uuid,
    p_casino_id uuid DEFAULT NULL
) RETURNS TABLE (
    "remaining" INT,
    "reset_at" timestamp with time zone,
    "used" INT,
    "rate_limit" INT,
    "window_seconds" INT
    )
    STABLE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'rate_limit_status_wrapper';
REVOKE ALL ON FUNCTION loyalty.rate_limit_status(uuid, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.rate_limit_status(uuid)', 'loyalty.rate_limit_status(uuid, uuid)');
DROP FUNCTION loyalty.rate_limit_status(uuid);
COMMENT ON FUNCTION loyalty.rate_limit_status(uuid, uuid) IS
    'Manual rewards a staff member has left in the current rate window, and when the oldest counted one leaves it.';

CREATE FUNCTION loyalty.complete_rating_slip(
    p_rating_slip_id uuid,
    p_player_id uuid,
    p_average_bet NUMERIC,
    p_duration_seconds INT,
    p_game_settings jsonb,
    p_visit_id uuid DEFAULT NULL,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.slip_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'complete_rating_slip_wrapper';
REVOKE ALL ON FUNCTION loyalty.complete_rating_slip(uuid, uuid, numeric, integer, jsonb, uuid, text, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.complete_rating_slip(uuid, uuid, numeric, integer, jsonb, uuid, text)', 'loyalty.complete_rating_slip(uuid, uuid, numeric, integer, jsonb, uuid, text, uuid)');
DROP FUNCTION loyalty.complete_rating_slip(uuid, uuid, numeric, integer, jsonb, uuid, text);
COMMENT ON FUNCTION loyalty.complete_rating_slip(uuid, uuid, numeric, integer, jsonb, uuid, text, uuid) IS
    'Call in the transaction that closes the slip: records the accrual request, then credits it in a subtransaction. COMPLETED, ALREADY_COMPLETED, or PARTIAL_COMPLETION (the request stays pending with its error for recovery).';

CREATE FUNCTION loyalty.recover_rating_slip(
    p_rating_slip_id uuid,
    p_correlation_id TEXT DEFAULT NULL,
    p_casino_id uuid DEFAULT NULL
) RETURNS loyalty.slip_result
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'recover_rating_slip_wrapper';
REVOKE ALL ON FUNCTION loyalty.recover_rating_slip(uuid, text, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.recover_rating_slip(uuid, text)', 'loyalty.recover_rating_slip(uuid, text, uuid)');
DROP FUNCTION loyalty.recover_rating_slip(uuid, text);
COMMENT ON FUNCTION loyalty.recover_rating_slip(uuid, text, uuid) IS
    'Replays one pending accrual with its original idempotency key and (unless given) correlation id; a completed slip returns its original result; an unknown slip is 55000.';

CREATE FUNCTION loyalty.recover_pending(
    p_max INT DEFAULT 100,
    p_casino_id uuid DEFAULT NULL
) RETURNS TABLE (
    "rating_slip_id" uuid,
    "status" TEXT,
    "points" INT,
    "ledger_id" bigint,
    "balance_after" bigint,
    "tier_after" TEXT,
    "correlation_id" TEXT,
    "error" TEXT
    )
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'recover_pending_wrapper';
REVOKE ALL ON FUNCTION loyalty.recover_pending(integer, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.recover_pending(integer)', 'loyalty.recover_pending(integer, uuid)');
DROP FUNCTION loyalty.recover_pending(integer);
COMMENT ON FUNCTION loyalty.recover_pending(integer, uuid) IS
    'Replays up to p_max due accruals (PENDING or FAILED with next_attempt_at passed) soonest first, skipping rows another session is recovering; one row per slip attempted; of the casino named, else the session''s, else (unbound session) every casino. Suitable for pg_cron.';

CREATE FUNCTION loyalty.reconcile_player(
    p_player_id uuid,
    p_staff_id uuid,
    p_reason TEXT,
    p_casino_id uuid DEFAULT NULL
) RETURNS TABLE (
    "player_id" uuid,
    "changed" bool,
    "balance_before" bigint,
    "balance_after" bigint,
    "lifetime_before" bigint,
    "lifetime_after" bigint,
    "tier_before" TEXT,
    "tier_after" TEXT,
    "reconciliation_id" bigint,
    "correlation_id" TEXT
    )
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'reconcile_player_wrapper';
REVOKE ALL ON FUNCTION loyalty.reconcile_player(uuid, uuid, text, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_copy_grants('loyalty.reconcile_player(uuid, uuid, text)', 'loyalty.reconcile_player(uuid, uuid, text, uuid)');
DROP FUNCTION loyalty.reconcile_player(uuid, uuid, text);
COMMENT ON FUNCTION loyalty.reconcile_player(uuid, uuid, text, uuid) IS
    'Rebuilds a player''s balance, lifetime points and tier from the ledger under the row lock (staff needs loyalty:adjust and a reason); every call is recorded in loyalty.reconciliation; idempotent.';

CREATE FUNCTION loyalty.upgrade_replace(p_old regprocedure, p_new regprocedure) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $replace$
BEGIN
    PERFORM loyalty.upgrade_copy_grants(p_old, p_new);
    EXECUTE pg_catalog.format('DROP FUNCTION %s', p_old);
END
$replace$;
CREATE FUNCTION loyalty.drift_check(p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (problem text, player_id uuid, ledger_id bigint, detail text, casino_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.casino_scope(p_casino_id);
    WITH scope AS (
        SELECT loyalty.casino_scope(p_casino_id) AS casino_id
    ), ledger AS (
        SELECT l.* FROM loyalty.loyalty_ledger l, scope
         WHERE l.casino_id = coalesce(scope.casino_id, l.casino_id)
    ), players AS (
        SELECT p.* FROM loyalty.player_loyalty p, scope
         WHERE p.casino_id = coalesce(scope.casino_id, p.casino_id)
    ), sums AS (
        SELECT t.casino_id, t.player_id, t.balance AS total, t.lifetime_points AS gained
          FROM loyalty.ledger_totals t, scope
         WHERE t.casino_id = coalesce(scope.casino_id, t.casino_id)
    ), chain AS (
        SELECT l.id, l.casino_id, l.player_id, l.balance_before, l.balance_after, l.points_change,
               lag(l.balance_after) OVER (PARTITION BY l.casino_id, l.player_id ORDER BY l.id) AS previous_after
          FROM ledger l
    )
    SELECT 'balance_mismatch', p.player_id, NULL::bigint,
           format('current_balance=%s, ledger_sum=%s', p.current_balance, coalesce(s.total, 0)),
           p.casino_id
      FROM players p LEFT JOIN sums s ON s.casino_id = p.casino_id AND s.player_id = p.player_id
     WHERE p.current_balance <> coalesce(s.total, 0)
    UNION ALL
    SELECT 'lifetime_mismatch', p.player_id, NULL,
           format('lifetime_points=%s, ledger_gains=%s', p.lifetime_points, coalesce(s.gained, 0)),
           p.casino_id
      FROM players p LEFT JOIN sums s ON s.casino_id = p.casino_id AND s.player_id = p.player_id
     WHERE p.lifetime_points <> coalesce(s.gained, 0)
    UNION ALL
    SELECT 'missing_player', s.player_id, NULL, format('ledger_sum=%s', s.total), s.casino_id
      FROM sums s
     WHERE NOT EXISTS (SELECT 1 FROM loyalty.player_loyalty p
                        WHERE p.casino_id = s.casino_id AND p.player_id = s.player_id)
    UNION ALL
    SELECT 'broken_chain', c.player_id, c.id,
           format('balance_before=%s, previous_balance_after=%s', c.balance_before, coalesce(c.previous_after, 0)),
           c.casino_id
      FROM chain c
     WHERE c.balance_before <> coalesce(c.previous_after, 0)
    UNION ALL
    SELECT 'bad_arithmetic', c.player_id, c.id,
           format('balance_before=%s, points_change=%s, balance_after=%s', c.balance_before, c.points_change, c.balance_after),
           c.casino_id
      FROM chain c
     WHERE c.balance_after <> c.balance_before + c.points_change
    UNION ALL
    SELECT 'duplicate_key', NULL, min(l.id),
           format('idempotency_key=%s, rows=%s', l.idempotency_key, count(*)), l.casino_id
      FROM ledger l
     GROUP BY l.casino_id, l.idempotency_key
    HAVING count(*) > 1
    UNION ALL
    -- A rating slip credited more than once (possible before 0.2.0, which
    -- did not tie a GAMEPLAY credit to its slip's key).
    SELECT 'duplicate_accrual', min(l.player_id::text)::uuid, min(l.id),
           format('rating_slip_id=%s, gameplay_rows=%s', l.rating_slip_id, count(*)), l.casino_id
      FROM ledger l
     WHERE l.transaction_type = 'GAMEPLAY'
     GROUP BY l.casino_id, l.rating_slip_id
    HAVING count(*) > 1
    UNION ALL
    -- A campaign whose counted points differ from its credits in the ledger.
    SELECT 'campaign_mismatch', NULL, NULL,
           format('reward_id=%s, credited_points=%s, ledger_credits=%s',
                  c.reward_id, c.credited_points, coalesce(sum(l.points_change), 0)),
           c.casino_id
      FROM loyalty.promotion_campaign c
      JOIN scope ON c.casino_id = coalesce(scope.casino_id, c.casino_id)
      LEFT JOIN loyalty.loyalty_ledger l ON l.campaign_id = c.id
     GROUP BY c.id, c.reward_id, c.credited_points, c.casino_id
    HAVING c.credited_points <> coalesce(sum(l.points_change), 0)
    UNION ALL
    -- Points held that differ from the player's active holds.
    SELECT 'held_mismatch', p.player_id, NULL,
           format('held_points=%s, active_holds=%s', p.held_points, coalesce(h.held, 0)),
           p.casino_id
      FROM players p
      LEFT JOIN (SELECT x.casino_id, x.player_id, sum(x.points) AS held
                   FROM loyalty.point_hold x WHERE x.status = 'ACTIVE'
                  GROUP BY x.casino_id, x.player_id) h
        ON h.casino_id = p.casino_id AND h.player_id = p.player_id
     WHERE p.held_points <> coalesce(h.held, 0)
    UNION ALL
    -- Under an expiry policy, a player's lots hold exactly the balance.
    SELECT 'lot_mismatch', p.player_id, NULL,
           format('current_balance=%s, lots_remaining=%s', p.current_balance, l.remaining),
           p.casino_id
      FROM players p
      JOIN loyalty.casino c ON c.casino_id = p.casino_id AND c.expiry_policy <> 'none'
      JOIN (SELECT x.casino_id, x.player_id, sum(x.remaining) AS remaining
              FROM loyalty.point_lot x GROUP BY x.casino_id, x.player_id) l
        ON l.casino_id = p.casino_id AND l.player_id = p.player_id
     WHERE l.remaining <> p.current_balance
    UNION ALL
    -- Only an EXPIRATION (or a hold's capture, of the points its hold
    -- kept) takes points of a lot after it expired.
    SELECT 'expired_lot_consumed', l.player_id, d.id,
           format('lot_id=%s, expires_at=%s, consumed_at=%s', l.lot_id, l.expires_at, d.created_at),
           l.casino_id
      FROM loyalty.lot_consumption x
      JOIN loyalty.point_lot l ON l.lot_id = x.lot_id
      JOIN ledger d ON d.id = x.ledger_id
     WHERE d.transaction_type <> 'EXPIRATION' AND l.expires_at <= d.created_at
       -- A hold's capture takes the points its hold kept from expiring.
       AND NOT EXISTS (SELECT 1 FROM loyalty.point_hold h WHERE h.capture_ledger_id = d.id)
    UNION ALL
    -- A ledger row whose casino's account, campaign or reversed entry
    -- belongs to another casino.
    SELECT 'cross_casino', l.player_id, l.id,
           format('ledger casino_id=%s, %s', l.casino_id,
                  CASE WHEN c.casino_id IS DISTINCT FROM l.casino_id AND l.campaign_id IS NOT NULL
                       THEN format('campaign casino_id=%s', c.casino_id)
                       ELSE format('reversed entry casino_id=%s', r.casino_id) END),
           l.casino_id
      FROM ledger l
      LEFT JOIN loyalty.promotion_campaign c ON c.id = l.campaign_id
      LEFT JOIN loyalty.loyalty_ledger r ON r.id = l.reverses_ledger_id
     WHERE (l.campaign_id IS NOT NULL AND c.casino_id IS DISTINCT FROM l.casino_id)
        OR (l.reverses_ledger_id IS NOT NULL AND r.casino_id IS DISTINCT FROM l.casino_id)
$$;
REVOKE ALL ON FUNCTION loyalty.drift_check(uuid) FROM PUBLIC;
SELECT loyalty.upgrade_replace('loyalty.drift_check()', 'loyalty.drift_check(uuid)');
COMMENT ON FUNCTION loyalty.drift_check(uuid) IS
    'Invariants of the ledger (balance and lifetime vs ledger sums, before/after chains, arithmetic, duplicate keys, rating slips credited twice, campaign budgets vs their credits, points held vs active holds, lots vs balance and expired lots consumed, rows tied to another casino), per casino: the one named, else the session''s, else (unbound session) all; returns nothing on a healthy database.';
CREATE FUNCTION loyalty.trace(p_correlation_id text, p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (source text, ledger_id bigint, rating_slip_id uuid, player_id uuid, kind text,
               points integer, balance_before bigint, balance_after bigint, staff_id uuid,
               detail text, at timestamptz, casino_id uuid)
LANGUAGE sql STABLE
AS $$
    -- The scope is the outer side of the join, evaluated once and always: a
    -- bound session naming another casino is refused even when nothing
    -- matches (OFFSET 0 keeps the planner from pulling it into the rows).
    SELECT t.* FROM (SELECT loyalty.casino_scope(p_casino_id) AS casino_id OFFSET 0) AS scope,
    LATERAL (
        SELECT 'ledger'::text, l.id, l.rating_slip_id, l.player_id, l.transaction_type,
               l.points_change, l.balance_before, l.balance_after, l.staff_id,
               l.reason, l.created_at, l.casino_id
          FROM loyalty.loyalty_ledger l
         WHERE l.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
           AND l.casino_id OPERATOR(pg_catalog.=) COALESCE(scope.casino_id, l.casino_id)
        UNION ALL
        SELECT 'rating_slip'::text, a.ledger_id, a.rating_slip_id, a.player_id, a.status,
               a.points, NULL::bigint, NULL::bigint, NULL::uuid,
               pg_catalog.format('attempts=%s %s', a.attempts,
                                 COALESCE(a.last_sqlstate OPERATOR(pg_catalog.||) ': '
                                          OPERATOR(pg_catalog.||) a.last_error, '')),
               a.created_at, a.casino_id
          FROM loyalty.rating_slip_accrual a
         WHERE a.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
           AND a.casino_id OPERATOR(pg_catalog.=) COALESCE(scope.casino_id, a.casino_id)
        UNION ALL
        SELECT 'reconciliation'::text, NULL::bigint, NULL::uuid, r.player_id, 'RECONCILE',
               NULL::integer, r.balance_before, r.balance_after, r.staff_id,
               r.reason, r.created_at, r.casino_id
          FROM loyalty.reconciliation r
         WHERE r.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
           AND r.casino_id OPERATOR(pg_catalog.=) COALESCE(scope.casino_id, r.casino_id)
        UNION ALL
        SELECT 'resolution'::text, NULL::bigint, x.rating_slip_id, NULL::uuid,
               pg_catalog.upper(x.action), NULL::integer, NULL::bigint, NULL::bigint, x.staff_id,
               x.reason, x.created_at, x.casino_id
          FROM loyalty.accrual_resolution x
         WHERE x.correlation_id OPERATOR(pg_catalog.=) p_correlation_id
           AND x.casino_id OPERATOR(pg_catalog.=) COALESCE(scope.casino_id, x.casino_id)
    ) AS t(source, ledger_id, rating_slip_id, player_id, kind, points, balance_before,
           balance_after, staff_id, detail, at, casino_id)
    ORDER BY t.at, t.ledger_id
$$;
SELECT loyalty.upgrade_replace('loyalty.trace(text)', 'loyalty.trace(text, uuid)');
REVOKE ALL ON FUNCTION loyalty.trace(text, uuid) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.trace(text, uuid) IS
    'Every ledger row, rating-slip accrual, reconciliation and accrual resolution recorded under one correlation id, in time order (served by the correlation-id indexes); at the casino named, else the session''s, else (unbound session) all.';
CREATE FUNCTION loyalty.player_statement(
    p_player_id uuid,
    p_from timestamptz DEFAULT NULL,
    p_to timestamptz DEFAULT NULL,
    p_after_ledger_id bigint DEFAULT NULL,
    p_limit integer DEFAULT 100,
    p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (ledger_id bigint, created_at timestamptz, transaction_type text,
               points_change integer, balance_before bigint, running_balance bigint,
               tier_after text, reason text, staff_id uuid, rating_slip_id uuid,
               reverses_ledger_id bigint, correlation_id text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.current_casino_id(p_casino_id);
    SELECT l.id, l.created_at, l.transaction_type, l.points_change, l.balance_before,
           l.balance_after, l.tier_after, l.reason, l.staff_id, l.rating_slip_id,
           l.reverses_ledger_id, l.correlation_id
      FROM loyalty.loyalty_ledger l
     WHERE l.casino_id = loyalty.current_casino_id(p_casino_id)
       AND l.player_id = p_player_id
       AND l.id > coalesce(p_after_ledger_id, 0)
       AND (p_from IS NULL OR l.created_at >= p_from)
       AND (p_to IS NULL OR l.created_at <= p_to)
     ORDER BY l.id
     LIMIT greatest(least(coalesce(p_limit, 100), 10000), 1)
$$;
REVOKE ALL ON FUNCTION loyalty.player_statement(uuid, timestamptz, timestamptz, bigint, integer, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_replace('loyalty.player_statement(uuid, timestamptz, timestamptz, bigint, integer)',
                               'loyalty.player_statement(uuid, timestamptz, timestamptz, bigint, integer, uuid)');
COMMENT ON FUNCTION loyalty.player_statement(uuid, timestamptz, timestamptz, bigint, integer, uuid) IS
    'A player''s ledger entries at one casino (named, else the session''s) in order with the running balance; keyset paging: pass the last ledger_id seen as p_after_ledger_id (p_limit 1-10000, default 100).';
CREATE FUNCTION loyalty.balance_at(p_player_id uuid, p_at timestamptz, p_casino_id uuid DEFAULT NULL)
RETURNS TABLE (balance bigint, tier text, lifetime_points bigint, last_ledger_id bigint, as_of timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT loyalty.current_casino_id(p_casino_id);
    SELECT coalesce(l.balance_after, 0),
           coalesce(l.tier_after, loyalty.base_tier(p_casino_id)),
           coalesce(l.lifetime_points_after, 0),
           l.id,
           p_at
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (
            SELECT x.* FROM loyalty.loyalty_ledger x
             WHERE x.casino_id = loyalty.current_casino_id(p_casino_id)
               AND x.player_id = p_player_id AND x.created_at <= p_at
             ORDER BY x.id DESC LIMIT 1) AS l ON true
$$;
REVOKE ALL ON FUNCTION loyalty.balance_at(uuid, timestamptz, uuid) FROM PUBLIC;
SELECT loyalty.upgrade_replace('loyalty.balance_at(uuid, timestamptz)', 'loyalty.balance_at(uuid, timestamptz, uuid)');
COMMENT ON FUNCTION loyalty.balance_at(uuid, timestamptz, uuid) IS
    'A player''s balance and tier at one casino (named, else the session''s) (then lifetime points and the last counted entry) as of a past moment, counting ledger entries made at or before it.';
DROP FUNCTION loyalty.upgrade_replace(regprocedure, regprocedure);

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
            'GRANT SELECT ON loyalty.casino, loyalty.point_value_history, loyalty.point_hold, loyalty.point_lot, loyalty.lot_consumption, loyalty.ledger_totals, loyalty.promotion_campaign, loyalty.role_permission, '
            'loyalty.velocity_usage, loyalty.accrual_resolution TO %s', r.grantee::regrole);
    END LOOP;
END
$readers$;

-- A campaign credited to many players in one call (SPEC section 12).
CREATE FUNCTION loyalty.apply_promotion_batch(
    p_reward_id text, p_player_ids uuid[], p_correlation_id text DEFAULT NULL, p_casino_id uuid DEFAULT NULL)
    RETURNS TABLE (player_id uuid, outcome text, ledger_id bigint, balance_after bigint, sqlstate text, message text)
    VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'loyalty_ext-0.2.0', 'apply_promotion_batch_wrapper';
COMMENT ON FUNCTION loyalty.apply_promotion_batch(text, uuid[], text, uuid) IS
    'Credits a registered, current campaign to every player of p_player_ids in one call: each player''s first credit of the campaign (the key apply_promotion derives: either replays the other when apply_promotion had no reason or staff id), at its points_per_credit, within its budget, locked and audited like apply_promotion, in a few set-based statements. One row per array element, in order: credited, replayed (credited before, or named twice) or refused with its SQLSTATE and message; a campaign that is unknown or not running fails the call.';
REVOKE ALL ON FUNCTION loyalty.apply_promotion_batch(text, uuid[], text, uuid) FROM PUBLIC;

-- Staff capabilities are kept per session until loyalty.staff_permission
-- changes: its statement trigger tells every session to read them again.
CREATE FUNCTION loyalty.staff_permission_changed() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'loyalty_ext-0.2.0', 'staff_permission_changed_wrapper';
COMMENT ON FUNCTION loyalty.staff_permission_changed() IS
    'Trigger function: after any change to loyalty.staff_permission, tells every session to re-read staff capabilities (kept per session) at its next transaction.';
CREATE TRIGGER staff_permission_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.staff_permission
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.staff_permission_changed();
ALTER TABLE loyalty.staff_permission ENABLE ALWAYS TRIGGER staff_permission_changed;

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

-- Events (SPEC section 16): an outbox written in the same transaction as
-- each change it reports, read by consumers with claim_events/ack_events.
--
-- Delivery follows PgQ's idea (the Skype queue that PL/Proxy came with):
-- each consumer keeps the snapshot up to which it has taken events; a claim
-- takes every event whose transaction committed after that snapshot and
-- before its own (xid8 visibility, not id order), so an event whose
-- transaction took an earlier id but committed later is taken by a later
-- claim, never skipped.  Taken events wait in event_pending until
-- acknowledged, and a claim returns the oldest pending ones first: an
-- event claimed and not acknowledged comes back to the same consumer.
-- Events of one player are in commit order: a player's changes take its
-- row lock, so a later change's event both has a higher id and commits
-- later, and is never taken by an earlier claim.

CREATE TABLE loyalty.event (
    event_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid             xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    kind            text        NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    casino_id       uuid        NOT NULL,
    player_id       uuid,
    payload         jsonb       NOT NULL,
    correlation_id  text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX event_xid_idx ON loyalty.event (xid);
COMMENT ON TABLE loyalty.event IS
    'The outbox (SPEC 16): one row per notable event (tier upgrades, holds, expiries, partial completions, stuck accruals; balance changes where the casino asks for them), written in the transaction of the change; read with loyalty.claim_events.';

CREATE TABLE loyalty.event_consumer (
    consumer_id bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer    text        NOT NULL CHECK (consumer ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    casino_id   uuid,
    position    pg_snapshot NOT NULL DEFAULT '1:1:',
    next_batch  bigint      NOT NULL DEFAULT 1,
    actor_role  text        NOT NULL DEFAULT session_user,
    created_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at  timestamptz,
    CONSTRAINT event_consumer_name UNIQUE NULLS NOT DISTINCT (casino_id, consumer)
);
COMMENT ON TABLE loyalty.event_consumer IS
    'Each consumer of loyalty.event: its name within its casino (NULL: a consumer of every casino''s events), and the snapshot up to which it has taken events. Made by its first claim_events, for the casino the session is bound to; dropped with loyalty.drop_event_consumer.';

CREATE TABLE loyalty.event_pending (
    consumer_id bigint  NOT NULL REFERENCES loyalty.event_consumer ON DELETE CASCADE,
    batch       bigint  NOT NULL,
    event_id    bigint  NOT NULL,
    PRIMARY KEY (consumer_id, event_id)
);
CREATE INDEX event_pending_order_idx ON loyalty.event_pending (consumer_id, batch, event_id);
COMMENT ON TABLE loyalty.event_pending IS
    'Events a consumer has taken and not yet acknowledged (loyalty.ack_events), in the order claim_events returns them.';

REVOKE ALL ON loyalty.event, loyalty.event_consumer, loyalty.event_pending FROM PUBLIC;

-- Row-level security as on every table (sql/tenancy.sql): a session bound to
-- a casino reads only its casino's events and consumers (an auditor's
-- SELECT ON ALL TABLES included); an unbound one reads all.
ALTER TABLE loyalty.event ENABLE ROW LEVEL SECURITY;
CREATE POLICY casino_read ON loyalty.event FOR SELECT
    USING (casino_id = COALESCE((SELECT loyalty.casino_scope()), casino_id));
ALTER TABLE loyalty.event_consumer ENABLE ROW LEVEL SECURITY;
CREATE POLICY casino_read ON loyalty.event_consumer FOR SELECT
    USING ((SELECT loyalty.casino_scope()) IS NULL OR casino_id = (SELECT loyalty.casino_scope()));
ALTER TABLE loyalty.event_pending ENABLE ROW LEVEL SECURITY;
CREATE POLICY casino_read ON loyalty.event_pending FOR SELECT
    USING (EXISTS (SELECT 1 FROM loyalty.event_consumer c WHERE c.consumer_id = event_pending.consumer_id));

-- Consumers wake on NOTIFY loyalty_events, sent by a transaction that wrote
-- a notable event (PostgreSQL folds equal notifications of a transaction).
-- Not for balance_changed: a notifying commit takes a lock every other
-- notifying commit waits for, which halved the throughput of a casino with
-- balance events (bench/run.sh, events workload: 0.51 with, 0.88 without);
-- their consumers claim at their own pace, or when a notable event wakes
-- them.
CREATE FUNCTION loyalty.event_written() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    PERFORM pg_catalog.pg_notify('loyalty_events', '');
    RETURN NULL;
END
$f$;
COMMENT ON FUNCTION loyalty.event_written() IS
    'Trigger: NOTIFY loyalty_events for a notable event (not for balance_changed).';
CREATE TRIGGER event_written AFTER INSERT ON loyalty.event
    FOR EACH ROW WHEN (NEW.kind <> 'balance_changed') EXECUTE FUNCTION loyalty.event_written();

-- A DETAIL value written as loyalty_ext writes caller text (src/domain/
-- text.rs): plain text as it is, anything else double-quoted with its
-- quotes, backslashes and control characters escaped (JSON's escaping), so
-- that no value can forge a field or a log line.
CREATE FUNCTION loyalty.detail_value(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $f$
    SELECT CASE WHEN p_value IS NULL THEN 'NULL'
                WHEN p_value ~ '^[A-Za-z0-9_.:+@/|-]+$' THEN p_value
                ELSE pg_catalog.regexp_replace(pg_catalog.to_json(p_value)::text,
                                               '[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]', '?', 'g') END
$f$;
COMMENT ON FUNCTION loyalty.detail_value(text) IS
    'A value for a DETAIL field, quoted as loyalty_ext quotes caller text (NULL as NULL).';

-- Refuses a change of the outbox's state in a read-only transaction (a hot
-- standby included) with 25006, as every function that changes data does.
CREATE FUNCTION loyalty.refuse_in_read_only(p_function text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    v_standby boolean := pg_catalog.pg_is_in_recovery();
BEGIN
    IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
        RAISE EXCEPTION USING ERRCODE = '25006',
            MESSAGE = pg_catalog.format('cannot execute loyalty.%s() in a read-only transaction', p_function)
                      || CASE WHEN v_standby THEN ' (this server is a hot standby: send changes to the primary)' ELSE '' END,
            DETAIL = pg_catalog.format('server=%s, correlation_id=%s',
                                       CASE WHEN v_standby THEN 'standby' ELSE 'primary' END,
                                       loyalty.detail_value(pg_catalog.left(coalesce(
                                           nullif(pg_catalog.current_setting('loyalty.correlation_id', true), ''),
                                           pg_catalog.gen_random_uuid()::text), 200)));
    END IF;
END
$f$;
COMMENT ON FUNCTION loyalty.refuse_in_read_only(text) IS
    'Raises 25006 in a read-only transaction or on a hot standby, naming the function that would change data.';

-- The consumer's row, locked, made on first use for the casino the session
-- is bound to (none: a consumer of every casino).  Names are per casino: a
-- session bound to casino A and one bound to B each have their own
-- "hotel-sync", and neither can claim or acknowledge the other's events.
CREATE FUNCTION loyalty.event_consumer_row(p_consumer text,
    OUT consumer_id bigint, OUT casino_id uuid, OUT "position" pg_snapshot, OUT next_batch bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    v_scope uuid := loyalty.casino_scope(NULL);
    v_row record;
BEGIN
    PERFORM loyalty.refuse_in_read_only('event_consumer_row');
    IF p_consumer IS NULL OR p_consumer !~ '^[A-Za-z0-9_.:-]{1,100}$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'p_consumer must be 1 to 100 letters, digits or _.:-',
            DETAIL = 'consumer=' || loyalty.detail_value(p_consumer);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM loyalty.event_consumer c
                    WHERE c.consumer = p_consumer AND c.casino_id IS NOT DISTINCT FROM v_scope)
       AND (SELECT count(*) FROM loyalty.event_consumer c WHERE c.casino_id IS NOT DISTINCT FROM v_scope) >= 100 THEN
        RAISE EXCEPTION USING ERRCODE = '53400',
            MESSAGE = 'this casino has 100 event consumers already',
            DETAIL = pg_catalog.format('consumer=%s, casino_id=%s', loyalty.detail_value(p_consumer),
                                       coalesce(v_scope::text, 'all')),
            HINT = 'Drop one no longer run with loyalty.drop_event_consumer.';
    END IF;
    INSERT INTO loyalty.event_consumer (consumer, casino_id) VALUES (p_consumer, v_scope)
        ON CONFLICT ON CONSTRAINT event_consumer_name DO NOTHING;
    SELECT c.consumer_id, c.casino_id, c.position, c.next_batch, c.actor_role INTO v_row
      FROM loyalty.event_consumer c
     WHERE c.consumer = p_consumer AND c.casino_id IS NOT DISTINCT FROM v_scope
       FOR UPDATE;
    -- A consumer is its login role's: another login of the same casino can
    -- neither take its events nor acknowledge them away.
    IF v_row.actor_role <> session_user
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'this event consumer belongs to another login role',
            DETAIL = pg_catalog.format('consumer=%s, actor_role=%s, session_user=%s', loyalty.detail_value(p_consumer),
                                       loyalty.detail_value(v_row.actor_role), loyalty.detail_value(session_user));
    END IF;
    consumer_id := v_row.consumer_id;
    casino_id := v_row.casino_id;
    "position" := v_row.position;
    next_batch := v_row.next_batch;
END
$f$;
COMMENT ON FUNCTION loyalty.event_consumer_row(text) IS
    'The event consumer of this name at the session''s casino, locked, made on first use.';

CREATE FUNCTION loyalty.claim_events(p_consumer text, p_max integer DEFAULT 100)
RETURNS TABLE (event_id bigint, kind text, casino_id uuid, player_id uuid, payload jsonb,
               correlation_id text, created_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    v_consumer record;
BEGIN
    PERFORM loyalty.refuse_in_read_only('claim_events');
    SELECT * INTO v_consumer FROM loyalty.event_consumer_row(p_consumer);
    IF p_max IS NULL OR p_max NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'p_max must be between 1 and 10000',
            DETAIL = 'p_max=' || coalesce(p_max::text, 'NULL');
    END IF;
    -- One statement, one snapshot: what it reads is exactly what committed
    -- before the snapshot it records as the new position.  This
    -- transaction's own events are not taken yet, and the position counts
    -- it as still running, so they are taken once it commits (a consumer
    -- that claims and then writes in one transaction misses nothing).
    WITH own AS (SELECT pg_catalog.pg_current_xact_id() AS xid,
                        pg_catalog.pg_current_snapshot() AS snap),
    moved AS (
        INSERT INTO loyalty.event_pending (consumer_id, batch, event_id)
        SELECT v_consumer.consumer_id, v_consumer.next_batch, e.event_id
          FROM loyalty.event e, own
         WHERE e.xid >= pg_catalog.pg_snapshot_xmin(v_consumer.position)
           AND NOT pg_catalog.pg_visible_in_snapshot(e.xid, v_consumer.position)
           AND e.xid <> own.xid
           AND (v_consumer.casino_id IS NULL OR e.casino_id = v_consumer.casino_id)
        ON CONFLICT DO NOTHING
        RETURNING 1)
    UPDATE loyalty.event_consumer c
       SET position = (SELECT CASE
                   -- An id taken after the snapshot is not yet started in it.
                   WHEN own.xid >= pg_catalog.pg_snapshot_xmax(own.snap) THEN own.snap
                   -- Taken before (the transaction wrote earlier): running.
                   ELSE (LEAST(pg_catalog.pg_snapshot_xmin(own.snap), own.xid)::text || ':'
                         || pg_catalog.pg_snapshot_xmax(own.snap)::text || ':'
                         || (SELECT pg_catalog.string_agg(x::text, ',' ORDER BY x)
                               FROM (SELECT pg_catalog.pg_snapshot_xip(own.snap) AS x
                                     UNION SELECT own.xid) AS running))::pg_snapshot
                   END
                         FROM own),
           next_batch = c.next_batch + 1,
           claimed_at = pg_catalog.now()
     WHERE c.consumer_id = v_consumer.consumer_id;
    RETURN QUERY
        SELECT e.event_id, e.kind, e.casino_id, e.player_id, e.payload, e.correlation_id, e.created_at
          FROM loyalty.event_pending p
          JOIN loyalty.event e ON e.event_id = p.event_id
         WHERE p.consumer_id = v_consumer.consumer_id
         ORDER BY p.batch, p.event_id
         LIMIT p_max;
END
$f$;
COMMENT ON FUNCTION loyalty.claim_events(text, integer) IS
    'Up to p_max events for consumer p_consumer, oldest first: those it claimed and has not acknowledged, then those committed since its last claim (commit order per player; none skipped). At least once: acknowledge with loyalty.ack_events.';

CREATE FUNCTION loyalty.ack_events(p_consumer text, p_event_ids bigint[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    v_consumer record;
    v_acked integer;
BEGIN
    PERFORM loyalty.refuse_in_read_only('ack_events');
    SELECT * INTO v_consumer FROM loyalty.event_consumer_row(p_consumer);
    DELETE FROM loyalty.event_pending p
     WHERE p.consumer_id = v_consumer.consumer_id AND p.event_id = ANY (p_event_ids);
    GET DIAGNOSTICS v_acked = ROW_COUNT;
    RETURN v_acked;
END
$f$;
COMMENT ON FUNCTION loyalty.ack_events(text, bigint[]) IS
    'Acknowledges events a consumer claimed: they are not returned to it again. Returns how many were pending.';

CREATE FUNCTION loyalty.drop_event_consumer(p_consumer text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    v_scope uuid := loyalty.casino_scope(NULL);
BEGIN
    PERFORM loyalty.refuse_in_read_only('drop_event_consumer');
    DELETE FROM loyalty.event_consumer c
     WHERE c.consumer = p_consumer AND c.casino_id IS NOT DISTINCT FROM v_scope
       AND (c.actor_role = session_user
            OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user));
    RETURN FOUND;
END
$f$;
COMMENT ON FUNCTION loyalty.drop_event_consumer(text) IS
    'Drops the session''s casino''s consumer of this name (the login role''s own; a superuser''s any) and what it had pending: a consumer no longer run would keep its casino''s events from being pruned.';

CREATE FUNCTION loyalty.prune_events(p_keep interval DEFAULT '7 days', p_drop_idle interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    v_pruned bigint;
BEGIN
    PERFORM loyalty.refuse_in_read_only('prune_events');
    -- Consumers not run for p_drop_idle go first, with what they had
    -- pending: an abandoned consumer would keep its casino's events forever.
    IF p_drop_idle IS NOT NULL THEN
        DELETE FROM loyalty.event_consumer c
         WHERE coalesce(c.claimed_at, c.created_at) < pg_catalog.now() - p_drop_idle;
    END IF;
    -- An event waits only for the consumers that take it: its casino's and
    -- those of every casino.
    DELETE FROM loyalty.event e
     WHERE e.created_at < pg_catalog.now() - p_keep
       AND e.xid < coalesce((SELECT min(pg_catalog.pg_snapshot_xmin(c.position))
                               FROM loyalty.event_consumer c
                              WHERE c.casino_id IS NULL OR c.casino_id = e.casino_id),
                            pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()))
       AND NOT EXISTS (SELECT 1 FROM loyalty.event_pending p WHERE p.event_id = e.event_id);
    GET DIAGNOSTICS v_pruned = ROW_COUNT;
    RETURN v_pruned;
END
$f$;
COMMENT ON FUNCTION loyalty.prune_events(interval, interval) IS
    'Deletes events older than p_keep that every consumer of their casino has taken and acknowledged, after dropping consumers not run for p_drop_idle (when given); schedule it with pg_cron.';

REVOKE ALL ON FUNCTION loyalty.claim_events(text, integer), loyalty.ack_events(text, bigint[]),
    loyalty.drop_event_consumer(text), loyalty.prune_events(interval, interval), loyalty.event_consumer_row(text),
    loyalty.refuse_in_read_only(text) FROM PUBLIC;
