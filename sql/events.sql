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
    consumer    text        PRIMARY KEY CHECK (consumer ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    casino_id   uuid,
    position    pg_snapshot NOT NULL DEFAULT '1:1:',
    next_batch  bigint      NOT NULL DEFAULT 1,
    actor_role  text        NOT NULL DEFAULT session_user,
    created_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at  timestamptz
);
COMMENT ON TABLE loyalty.event_consumer IS
    'Each consumer of loyalty.event: the casino whose events it takes (NULL: every casino), and the snapshot up to which it has taken them. Made by its first claim_events, from the casino the session is bound to.';

CREATE TABLE loyalty.event_pending (
    consumer    text    NOT NULL REFERENCES loyalty.event_consumer ON DELETE CASCADE,
    batch       bigint  NOT NULL,
    event_id    bigint  NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX event_pending_order_idx ON loyalty.event_pending (consumer, batch, event_id);
COMMENT ON TABLE loyalty.event_pending IS
    'Events a consumer has taken and not yet acknowledged (loyalty.ack_events), in the order claim_events returns them.';

REVOKE ALL ON loyalty.event, loyalty.event_consumer, loyalty.event_pending FROM PUBLIC;

-- Consumers wake on NOTIFY loyalty_events: one per transaction that wrote
-- events (PostgreSQL folds equal notifications of a transaction).
CREATE FUNCTION loyalty.event_written() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    PERFORM pg_catalog.pg_notify('loyalty_events', '');
    RETURN NULL;
END
$f$;
COMMENT ON FUNCTION loyalty.event_written() IS
    'Trigger: NOTIFY loyalty_events once per statement that wrote events.';
CREATE TRIGGER event_written AFTER INSERT ON loyalty.event
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.event_written();

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
                                       coalesce(nullif(pg_catalog.current_setting('loyalty.correlation_id', true), ''),
                                                pg_catalog.gen_random_uuid()::text));
    END IF;
END
$f$;
COMMENT ON FUNCTION loyalty.refuse_in_read_only(text) IS
    'Raises 25006 in a read-only transaction or on a hot standby, naming the function that would change data.';

-- The consumer's row, locked, made on first use for the casino the session
-- is bound to (none: every casino).  A consumer belongs to that casino: a
-- session bound to another one can neither claim nor acknowledge its events.
CREATE FUNCTION loyalty.event_consumer_row(p_consumer text,
    OUT consumer text, OUT casino_id uuid, OUT "position" pg_snapshot, OUT next_batch bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    v_scope uuid := loyalty.casino_scope(NULL);
    v_row record;
BEGIN
    PERFORM loyalty.refuse_in_read_only('event_consumer_row');
    IF p_consumer IS NULL OR p_consumer !~ '^[A-Za-z0-9_.:-]{1,100}$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'p_consumer must be 1 to 100 letters, digits or _.:-',
            DETAIL = 'consumer=' || coalesce(pg_catalog.quote_ident(p_consumer), 'NULL');
    END IF;
    INSERT INTO loyalty.event_consumer (consumer, casino_id) VALUES (p_consumer, v_scope)
        ON CONFLICT DO NOTHING;
    SELECT c.consumer, c.casino_id, c.position, c.next_batch INTO v_row
      FROM loyalty.event_consumer c WHERE c.consumer = p_consumer FOR UPDATE;
    IF v_row.casino_id IS DISTINCT FROM v_scope THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'this event consumer belongs to another casino',
            DETAIL = pg_catalog.format('consumer=%s, casino_id=%s, session_casino_id=%s', p_consumer,
                                       coalesce(v_row.casino_id::text, 'all'), coalesce(v_scope::text, 'all'));
    END IF;
    consumer := v_row.consumer;
    casino_id := v_row.casino_id;
    "position" := v_row.position;
    next_batch := v_row.next_batch;
END
$f$;
COMMENT ON FUNCTION loyalty.event_consumer_row(text) IS
    'The event consumer''s row, locked and made on first use; 42501 for a session bound to another casino than the consumer''s.';

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
    -- before the snapshot it records as the new position.
    WITH moved AS (
        INSERT INTO loyalty.event_pending (consumer, batch, event_id)
        SELECT p_consumer, v_consumer.next_batch, e.event_id
          FROM loyalty.event e
         WHERE e.xid >= pg_catalog.pg_snapshot_xmin(v_consumer.position)
           AND NOT pg_catalog.pg_visible_in_snapshot(e.xid, v_consumer.position)
           AND (v_consumer.casino_id IS NULL OR e.casino_id = v_consumer.casino_id)
        ON CONFLICT DO NOTHING
        RETURNING 1)
    UPDATE loyalty.event_consumer c
       SET position = pg_catalog.pg_current_snapshot(),
           next_batch = c.next_batch + 1,
           claimed_at = pg_catalog.now()
     WHERE c.consumer = p_consumer;
    RETURN QUERY
        SELECT e.event_id, e.kind, e.casino_id, e.player_id, e.payload, e.correlation_id, e.created_at
          FROM loyalty.event_pending p
          JOIN loyalty.event e ON e.event_id = p.event_id
         WHERE p.consumer = p_consumer
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
     WHERE p.consumer = v_consumer.consumer AND p.event_id = ANY (p_event_ids);
    GET DIAGNOSTICS v_acked = ROW_COUNT;
    RETURN v_acked;
END
$f$;
COMMENT ON FUNCTION loyalty.ack_events(text, bigint[]) IS
    'Acknowledges events a consumer claimed: they are not returned to it again. Returns how many were pending.';

CREATE FUNCTION loyalty.prune_events(p_keep interval DEFAULT '7 days')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    v_pruned bigint;
BEGIN
    PERFORM loyalty.refuse_in_read_only('prune_events');
    DELETE FROM loyalty.event e
     WHERE e.created_at < pg_catalog.now() - p_keep
       AND e.xid < coalesce((SELECT min(pg_catalog.pg_snapshot_xmin(c.position)) FROM loyalty.event_consumer c),
                            pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()))
       AND NOT EXISTS (SELECT 1 FROM loyalty.event_pending p WHERE p.event_id = e.event_id);
    GET DIAGNOSTICS v_pruned = ROW_COUNT;
    RETURN v_pruned;
END
$f$;
COMMENT ON FUNCTION loyalty.prune_events(interval) IS
    'Deletes events older than p_keep that every consumer has taken and acknowledged; schedule it with pg_cron.';

REVOKE ALL ON FUNCTION loyalty.claim_events(text, integer), loyalty.ack_events(text, bigint[]),
    loyalty.prune_events(interval), loyalty.event_consumer_row(text), loyalty.refuse_in_read_only(text) FROM PUBLIC;
