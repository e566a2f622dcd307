"""A consumer loop over the outbox: claim, handle, acknowledge; wait for
NOTIFY loyalty_events between claims.

LISTEN needs a session of its own: give it a direct connection (not one
through PgBouncer in transaction mode, which does not keep a session's
LISTEN). Claims and acknowledgements may go through the pooler.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import psycopg

from .client import Event, LoyaltyClient


def consume(client: LoyaltyClient, consumer: str, handle: Callable[[Event], None],
            listen_conn: Optional[psycopg.Connection] = None, batch: int = 100,
            idle_timeout: float = 5.0, stop: Callable[[], bool] = lambda: False) -> int:
    """Runs until ``stop()`` is true; returns how many events were handled.

    At least once: an event whose handler raises is not acknowledged and
    comes back on the next claim (the loop stops with the exception).
    Handlers should be idempotent by ``event.event_id``.
    """
    handled = 0
    if listen_conn is not None:
        # LISTEN takes effect at commit, and a session idle in a
        # transaction gets no notifications: listen in autocommit.
        listen_conn.autocommit = True
        listen_conn.execute("LISTEN loyalty_events")
    while not stop():
        events = client.claim_events(consumer, batch)
        done = []
        try:
            for event in events:
                handle(event)
                done.append(event.event_id)
                handled += 1
        finally:
            if done:
                client.ack_events(consumer, done)
        if len(events) < batch:
            if listen_conn is not None:
                for _ in listen_conn.notifies(timeout=idle_timeout, stop_after=1):
                    pass
            elif not stop():
                time.sleep(idle_timeout)
    return handled
