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
