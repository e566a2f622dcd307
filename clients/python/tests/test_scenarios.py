"""The seed's acceptance scenarios (SPEC 11; 5 is a benchmark), holds and
campaigns, through PgBouncer in transaction mode with loyalty_client."""

import datetime as dt
import threading

import psycopg
import pytest

from conftest import DEFAULT_CASINO, direct, new_id, pooled, staff, token
from loyalty_client import (IdempotencyConflict, InsufficientBalance, InvalidArgument, InvalidState, LoyaltyClient,
                            NotFound, OutOfRange, RateLimited)

TABLE = {"house_edge": 2, "average_rounds_per_hour": 60}


def rows(admin, player):
    return admin.execute("SELECT count(*) FROM loyalty.loyalty_ledger WHERE player_id = %s", (player,)).fetchone()[0]


def test_scenarios_1_and_2_a_slip_completed_twice_is_one_gameplay_row(client, admin):
    player, slip = new_id(), new_id()
    first = client.complete_rating_slip(slip, player, 25, 3600, TABLE)
    assert first.status == "COMPLETED" and first.points > 0
    assert first.balance_after == first.points
    second = client.complete_rating_slip(slip, player, 25, 3600, TABLE)
    assert second.status == "ALREADY_COMPLETED" and second.points == first.points
    assert rows(admin, player) == 1


def test_scenario_3_a_manual_reward_of_100_records_the_tokens_staff(client, admin):
    host = staff(admin, "loyalty:award")
    client.staff_token = token(host)
    player = new_id()
    r = client.manual_reward(player, 100, "birthday dinner comp", correlation_id="py-scenario-3")
    assert (r.balance_before, r.balance_after, r.idempotent_replay) == (0, 100, False)
    assert isinstance(r.ledger_id, int) and r.correlation_id == "py-scenario-3"
    row = admin.execute("SELECT transaction_type, staff_id::text FROM loyalty.loyalty_ledger WHERE id = %s",
                        (r.ledger_id,)).fetchone()
    assert row == ("MANUAL_BONUS", host)


def test_scenario_4_ten_rewards_then_the_eleventh_is_rate_limited_with_its_reset_time(client, admin):
    host = staff(admin, "loyalty:award")
    client.staff_token = token(host)
    player = new_id()
    for i in range(10):
        client.manual_reward(player, 5, f"table games reward number {i}")
    with pytest.raises(RateLimited) as e:
        client.manual_reward(player, 5, "table games reward eleven")
    assert e.value.sqlstate == "53400"
    assert e.value.remaining == 0 and e.value.limit == 10
    assert e.value.reset_at > dt.datetime.now(dt.timezone.utc)
    assert e.value.correlation_id
    assert rows(admin, player) == 10


def test_scenario_6_partial_completion_then_recovery_keeps_the_correlation_id(client, admin):
    player, slip = new_id(), new_id()
    client.increment(player, 1, "PROMOTION", f"open-{player}")
    blocker = direct()
    blocker.autocommit = False
    blocker.execute("SELECT 1 FROM loyalty.player_loyalty WHERE player_id = %s FOR UPDATE", (player,))
    partial = client.complete_rating_slip(slip, player, 25, 3600, TABLE, correlation_id="py-slip-6")
    blocker.rollback()
    blocker.close()
    assert partial.status == "PARTIAL_COMPLETION" and partial.error.startswith("55P03")
    recovered = client.recover_rating_slip(slip)
    assert (recovered.status, recovered.correlation_id) == ("COMPLETED", "py-slip-6")
    assert client.recover_rating_slip(slip).status == "ALREADY_COMPLETED"
    assert rows(admin, player) == 2


def test_scenario_7_a_slip_and_a_50_point_reward_in_parallel(client, admin):
    host = staff(admin, "loyalty:award")
    player, slip = new_id(), new_id()
    out = {}

    def slip_call():
        with pooled() as conn:
            out["slip"] = LoyaltyClient(conn).complete_rating_slip(slip, player, 25, 3600, TABLE)

    t = threading.Thread(target=slip_call)
    t.start()
    client.staff_token = token(host)
    client.manual_reward(player, 50, "parallel floor reward")
    t.join()
    assert client.account(player).current_balance == out["slip"].points + 50
    assert rows(admin, player) == 2


def test_scenario_8_the_same_reward_twice_a_gaming_day_then_the_next_day(client, admin):
    host = staff(admin, "loyalty:award")
    client.staff_token = token(host)
    player = new_id()
    zone = "UPDATE loyalty.casino SET gaming_day_timezone = %s WHERE casino_id = %s"
    admin.execute(zone, ("Etc/GMT+12", DEFAULT_CASINO))
    try:
        a = client.manual_reward(player, 100, "same reward same day")
        b = client.manual_reward(player, 100, "same reward same day")
        assert b.idempotent_replay and b.ledger_id == a.ledger_id and b.balance_after == 100
        admin.execute(zone, ("Etc/GMT-12", DEFAULT_CASINO))
        c = client.manual_reward(player, 100, "same reward same day")
        assert not c.idempotent_replay and c.balance_after == 200
    finally:
        admin.execute(zone, (None, DEFAULT_CASINO))


def test_a_key_reused_for_another_request_names_the_existing_ledger_id(client):
    player = new_id()
    first = client.increment(player, 10, "PROMOTION", f"k-{player}")
    with pytest.raises(IdempotencyConflict) as e:
        client.increment(player, 11, "PROMOTION", f"k-{player}")
    assert e.value.existing_ledger_id == first.ledger_id
    assert e.value.idempotency_key == f"k-{player}"


def test_a_python_int_beyond_integer_is_out_of_range_not_function_does_not_exist(client):
    with pytest.raises(OutOfRange) as e:
        client.increment(new_id(), 2**31, "PROMOTION", "too-big")
    assert e.value.sqlstate == "22003"


def test_holds_then_capture_of_part_and_the_campaign_flow(client, admin):
    cashier = staff(admin, "loyalty:redeem")
    player = new_id()
    client.increment(player, 1000, "PROMOTION", f"fund-{player}")
    client.staff_token = token(cashier)
    hold = client.hold(player, 600, "suite upgrade on hold", f"hold-{player}")
    assert (hold.status, hold.available_after) == ("ACTIVE", 400)
    with pytest.raises(InsufficientBalance) as e:
        client.redeem(player, 500, "more than is available", f"redeem-{player}")
    assert e.value.available == 400
    captured = client.capture_hold(hold.hold_id, 250)
    assert captured.balance_after == 750
    with pytest.raises(InvalidState):
        client.release_hold(hold.hold_id, "already captured")
    account = client.account(player)
    assert (account.current_balance, account.held_points, account.available) == (750, 0, 750)

    admin.execute("INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to,"
                  " budget_points) VALUES (%s, 25, now() - interval '1 day', now() + interval '1 day', 50)",
                  (f"py-{player}",))
    client.staff_token = None
    a = client.apply_promotion(player, f"py-{player}", 25)
    assert client.apply_promotion(player, f"py-{player}", 25).idempotent_replay
    assert a.balance_after == 775
    with pytest.raises(NotFound):
        client.apply_promotion(player, "no-such-campaign", 25)


def test_a_token_set_for_one_transaction_does_not_reach_the_next_client_of_the_server_connection(admin):
    host = staff(admin, "loyalty:award")
    with pooled() as c1, pooled() as c2:
        LoyaltyClient(c1, staff_token=token(host)).manual_reward(new_id(), 5, "a reward with a token")
        with pytest.raises(InvalidArgument):
            # No token and no staff id: nobody acts (the first client's
            # token is gone with its transaction).
            LoyaltyClient(c2).manual_reward(new_id(), 5, "a reward without one")
        shown = c2.execute("SELECT current_setting('loyalty.staff_token', true)").fetchone()[0]
        assert not shown


def test_concurrent_clients_share_the_poolers_server_connections_without_prepared_statement_errors(client):
    # psycopg prepares a statement the fifth time it runs; behind PgBouncer
    # in transaction mode the next transaction may be on another server
    # connection (26000 "prepared statement does not exist").  connect()
    # turns that off; 4 clients x 12 calls share the pooler's 2 server
    # connections.
    assert client.conn.prepare_threshold is None
    errors = []

    def work():
        try:
            with pooled() as conn:
                c = LoyaltyClient(conn)
                for _ in range(12):
                    c.increment(new_id(), 1, "PROMOTION", f"prep-{new_id()}")
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_one_shared_connection_concurrent_calls_keep_their_own_transaction_and_token(admin):
    alice, bob = staff(admin, "loyalty:award"), staff(admin, "loyalty:award")
    player = new_id()
    out = {}
    with pooled() as shared:
        clients = {alice: LoyaltyClient(shared, staff_token=token(alice)),
                   bob: LoyaltyClient(shared, staff_token=token(bob))}

        def work(who, i):
            out[i] = (who, clients[who].manual_reward(player, 5, f"interleaved reward number {i}").ledger_id)

        threads = [threading.Thread(target=work, args=(alice if i % 2 else bob, i)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for who, ledger_id in out.values():
        stored = admin.execute("SELECT staff_id::text FROM loyalty.loyalty_ledger WHERE id = %s",
                               (ledger_id,)).fetchone()[0]
        assert stored == who
    assert len(out) == 6
