"""The outbox (SPEC 16) from Python: a consumer loop woken by NOTIFY."""

import threading

from conftest import DEFAULT_CASINO, direct, new_id, pooled
from loyalty_client import LoyaltyClient, consume


def test_the_consumer_loop_gets_every_event_once_acknowledged(client, admin):
    consumer = f"py-{new_id()[:8]}"
    # Start from now: take and acknowledge what earlier tests left.
    while True:
        old = client.claim_events(consumer, 1000)
        if not old:
            break
        client.ack_events(consumer, [e.event_id for e in old])
    admin.execute("UPDATE loyalty.casino SET balance_events = true WHERE casino_id = %s", (DEFAULT_CASINO,))
    try:
        players = [new_id() for _ in range(3)]
        seen = []
        done = threading.Event()

        def handle(event):
            seen.append(event)
            if len([e for e in seen if e.kind == "balance_changed"]) >= 6:
                done.set()

        listen = direct()
        with pooled() as conn:
            loop = threading.Thread(target=consume, args=(LoyaltyClient(conn), consumer, handle),
                                    kwargs={"listen_conn": listen, "idle_timeout": 1.0, "stop": done.is_set})
            loop.start()
            for p in players:
                client.increment(p, 10, "PROMOTION", f"ev1-{p}")
                client.increment(p, 20000, "PROMOTION", f"ev2-{p}")
            loop.join(timeout=30)
        listen.close()
        assert not loop.is_alive(), "the loop saw every event"
        changes = [e for e in seen if e.kind == "balance_changed"]
        assert sorted((str(e.player_id), e.payload["points_change"]) for e in changes) == sorted(
            [(p, 10) for p in players] + [(p, 20000) for p in players])
        # Per player, in commit order.
        for p in players:
            mine = [e.payload["points_change"] for e in changes if str(e.player_id) == p]
            assert mine == [10, 20000]
        assert {e.kind for e in seen} >= {"balance_changed", "tier_upgrade"}
        # All acknowledged: nothing comes back.
        assert client.claim_events(consumer) == []
    finally:
        admin.execute("UPDATE loyalty.casino SET balance_events = false WHERE casino_id = %s", (DEFAULT_CASINO,))


def test_an_unacknowledged_event_comes_back_to_the_same_consumer(client):
    consumer = f"py-{new_id()[:8]}"
    while client.claim_events(consumer, 1000):
        client.ack_events(consumer, [e.event_id for e in client.claim_events(consumer, 1000)])
    p = new_id()
    client.increment(p, 20000, "PROMOTION", f"ev3-{p}")
    first = client.claim_events(consumer)
    assert [e.kind for e in first] == ["tier_upgrade"]
    again = client.claim_events(consumer)
    assert [e.event_id for e in again] == [e.event_id for e in first]
    assert client.ack_events(consumer, [e.event_id for e in again]) == 1
    assert client.claim_events(consumer) == []
