"""A thin client for loyalty_ext over psycopg 3, safe behind PgBouncer in
transaction mode.

Pooler rules it follows (README, "Integrating"): every call is one
transaction; the staff token and the correlation id are set with
``set_config(..., true)`` (``SET LOCAL``) inside it, so nothing outlives the
transaction on a shared server connection; no server-side prepared
statements (``prepare_threshold=None``); every argument is cast to its SQL
type, so a Python int beyond ``integer`` is 22003 (``OutOfRange``), not
"function does not exist".
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import uuid
import weakref
from typing import Any, Iterator, List, Optional, Sequence

import psycopg
from psycopg.rows import dict_row

from .errors import translate

UUIDish = Any  # uuid.UUID or its text


@dataclasses.dataclass(frozen=True)
class ChangeResult:
    player_id: uuid.UUID
    balance_before: int
    balance_after: int
    tier_before: str
    tier_after: str
    tier_progress: int
    lifetime_points: int
    updated_at: dt.datetime
    row_locked: bool
    ledger_id: int
    idempotent_replay: bool
    correlation_id: str


@dataclasses.dataclass(frozen=True)
class SlipResult:
    status: str
    points: Optional[int]
    ledger_id: Optional[int]
    balance_after: Optional[int]
    tier_after: Optional[str]
    correlation_id: str
    error: Optional[str]


@dataclasses.dataclass(frozen=True)
class HoldResult:
    hold_id: int
    player_id: uuid.UUID
    points: int
    status: str
    expires_at: dt.datetime
    available_after: int
    idempotent_replay: bool
    correlation_id: str


@dataclasses.dataclass(frozen=True)
class Account:
    current_balance: int
    held_points: int
    available: int
    lifetime_points: int
    tier: str
    next_expiry_at: Optional[dt.datetime]
    next_expiry_points: Optional[int]


@dataclasses.dataclass(frozen=True)
class Event:
    event_id: int
    kind: str
    casino_id: uuid.UUID
    player_id: Optional[uuid.UUID]
    payload: dict
    correlation_id: str
    created_at: dt.datetime


_LOCKS: "weakref.WeakKeyDictionary[psycopg.Connection, threading.Lock]" = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def connect(conninfo: str, **kwargs: Any) -> psycopg.Connection:
    """A connection with pooler-safe defaults: no automatic prepared
    statements (PgBouncer in transaction mode hands a client a different
    server connection per transaction)."""
    kwargs.setdefault("prepare_threshold", None)
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(conninfo, **kwargs)


class LoyaltyClient:
    """Calls of loyalty_ext, one transaction each.

    A connection may be shared by threads (calls on it are serialized), but
    not while one of them holds a transaction of its own on it: a call then
    runs inside that transaction (as a savepoint) and goes with it.

    ``staff_token``: the signed staff token of whoever acts (from your
    identity service), sent with every call; ``casino_id``: the casino the
    calls act for (None: the session's).
    """

    def __init__(self, conn: psycopg.Connection, staff_token: Optional[str] = None,
                 casino_id: Optional[UUIDish] = None):
        self.conn = conn
        # One call at a time on the connection, whichever client makes it: a
        # call is a transaction of several statements, which another
        # thread's call must not join.
        with _LOCKS_LOCK:
            self._lock = _LOCKS.setdefault(conn, threading.Lock())
        self.staff_token = staff_token
        self.casino_id = str(casino_id) if casino_id is not None else None

    # -- the transaction every call runs in -------------------------------
    @contextlib.contextmanager
    def _call(self, correlation_id: Optional[str]) -> Iterator[psycopg.Cursor]:
        try:
            with self._lock, self.conn.transaction():
                with self.conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(
                        "SELECT set_config('loyalty.staff_token', %s, true),"
                        "       set_config('loyalty.correlation_id', %s, true)",
                        (self.staff_token or "", correlation_id or ""),
                    )
                    yield cur
        except psycopg.Error as e:
            raise translate(e) from e

    def _one(self, sql: str, args: Sequence[Any], cls: Any, correlation_id: Optional[str]) -> Any:
        with self._call(correlation_id) as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
        return cls(**row)

    def _rows(self, sql: str, args: Sequence[Any], cls: Any, correlation_id: Optional[str] = None) -> List[Any]:
        with self._call(correlation_id) as cur:
            cur.execute(sql, args)
            rows = cur.fetchall()
        return [cls(**r) for r in rows]

    def _casino(self, casino_id: Optional[UUIDish]) -> Optional[str]:
        return str(casino_id) if casino_id is not None else self.casino_id

    # -- changes -------------------------------------------------------------
    def increment(self, player_id: UUIDish, points: int, transaction_type: str, idempotency_key: str,
                  reason: Optional[str] = None, staff_id: Optional[UUIDish] = None,
                  rating_slip_id: Optional[UUIDish] = None, visit_id: Optional[UUIDish] = None,
                  correlation_id: Optional[str] = None, casino_id: Optional[UUIDish] = None) -> ChangeResult:
        return self._one(
            "SELECT * FROM loyalty.increment_player_loyalty(%s::uuid, %s::integer, %s::text, %s::text, %s::text,"
            " %s::uuid, %s::uuid, %s::uuid, %s::text, %s::uuid)",
            (_s(player_id), points, transaction_type, idempotency_key, reason, _s(staff_id),
             _s(rating_slip_id), _s(visit_id), correlation_id, self._casino(casino_id)),
            ChangeResult, correlation_id)

    def manual_reward(self, player_id: UUIDish, points: int, reason: str, staff_id: Optional[UUIDish] = None,
                      sequence: int = 1, correlation_id: Optional[str] = None,
                      casino_id: Optional[UUIDish] = None) -> ChangeResult:
        return self._one(
            "SELECT * FROM loyalty.manual_reward(%s::uuid, %s::uuid, %s::integer, %s::text, %s::integer,"
            " %s::text, %s::uuid)",
            (_s(player_id), _s(staff_id), points, reason, sequence, correlation_id, self._casino(casino_id)),
            ChangeResult, correlation_id)

    def redeem(self, player_id: UUIDish, points: int, reason: str, idempotency_key: str,
               staff_id: Optional[UUIDish] = None, correlation_id: Optional[str] = None,
               casino_id: Optional[UUIDish] = None) -> ChangeResult:
        return self._one(
            "SELECT * FROM loyalty.redeem_points(%s::uuid, %s::integer, %s::uuid, %s::text, %s::text,"
            " %s::text, %s::uuid)",
            (_s(player_id), points, _s(staff_id), reason, idempotency_key, correlation_id,
             self._casino(casino_id)),
            ChangeResult, correlation_id)

    def apply_promotion(self, player_id: UUIDish, reward_id: str, points: int, reason: Optional[str] = None,
                        sequence: int = 1, correlation_id: Optional[str] = None,
                        casino_id: Optional[UUIDish] = None) -> ChangeResult:
        return self._one(
            "SELECT * FROM loyalty.apply_promotion(%s::uuid, %s::text, %s::integer, %s::text, NULL::uuid,"
            " %s::text, %s::integer, %s::uuid)",
            (_s(player_id), reward_id, points, reason, correlation_id, sequence, self._casino(casino_id)),
            ChangeResult, correlation_id)

    def complete_rating_slip(self, rating_slip_id: UUIDish, player_id: UUIDish, average_bet: Any,
                             duration_seconds: int, game_settings: dict, visit_id: Optional[UUIDish] = None,
                             correlation_id: Optional[str] = None,
                             casino_id: Optional[UUIDish] = None) -> SlipResult:
        return self._one(
            "SELECT * FROM loyalty.complete_rating_slip(%s::uuid, %s::uuid, %s::numeric, %s::integer,"
            " %s::jsonb, %s::uuid, %s::text, %s::uuid)",
            (_s(rating_slip_id), _s(player_id), average_bet, duration_seconds,
             psycopg.types.json.Jsonb(game_settings), _s(visit_id), correlation_id, self._casino(casino_id)),
            SlipResult, correlation_id)

    def recover_rating_slip(self, rating_slip_id: UUIDish, correlation_id: Optional[str] = None,
                            casino_id: Optional[UUIDish] = None) -> SlipResult:
        return self._one(
            "SELECT * FROM loyalty.recover_rating_slip(%s::uuid, %s::text, %s::uuid)",
            (_s(rating_slip_id), correlation_id, self._casino(casino_id)), SlipResult, correlation_id)

    def hold(self, player_id: UUIDish, points: int, reason: str, idempotency_key: str,
             staff_id: Optional[UUIDish] = None, expires_at: Optional[dt.datetime] = None,
             correlation_id: Optional[str] = None, casino_id: Optional[UUIDish] = None) -> HoldResult:
        return self._one(
            "SELECT * FROM loyalty.hold_points(%s::uuid, %s::integer, %s::uuid, %s::text, %s::text,"
            " %s::timestamptz, %s::text, %s::uuid)",
            (_s(player_id), points, _s(staff_id), reason, idempotency_key, expires_at, correlation_id,
             self._casino(casino_id)),
            HoldResult, correlation_id)

    def capture_hold(self, hold_id: int, points: Optional[int] = None, staff_id: Optional[UUIDish] = None,
                     correlation_id: Optional[str] = None, casino_id: Optional[UUIDish] = None) -> ChangeResult:
        return self._one(
            "SELECT * FROM loyalty.capture_hold(%s::bigint, %s::uuid, %s::integer, %s::text, %s::uuid)",
            (hold_id, _s(staff_id), points, correlation_id, self._casino(casino_id)), ChangeResult, correlation_id)

    def release_hold(self, hold_id: int, reason: str, staff_id: Optional[UUIDish] = None,
                     correlation_id: Optional[str] = None, casino_id: Optional[UUIDish] = None) -> HoldResult:
        return self._one(
            "SELECT * FROM loyalty.release_hold(%s::bigint, %s::uuid, %s::text, %s::text, %s::uuid)",
            (hold_id, _s(staff_id), reason, correlation_id, self._casino(casino_id)), HoldResult, correlation_id)

    # -- reads ---------------------------------------------------------------
    def account(self, player_id: UUIDish, casino_id: Optional[UUIDish] = None) -> Account:
        return self._one("SELECT * FROM loyalty.player_account(%s::uuid, %s::uuid)",
                         (_s(player_id), self._casino(casino_id)), Account, None)

    # -- events (SPEC 16) ----------------------------------------------------
    def claim_events(self, consumer: str, max_events: int = 100) -> List[Event]:
        return self._rows("SELECT * FROM loyalty.claim_events(%s::text, %s::integer)",
                          (consumer, max_events), Event)

    def ack_events(self, consumer: str, event_ids: Sequence[int]) -> int:
        with self._call(None) as cur:
            cur.execute("SELECT loyalty.ack_events(%s::text, %s::bigint[]) AS acked", (consumer, list(event_ids)))
            return cur.fetchone()["acked"]


def _s(value: Optional[UUIDish]) -> Optional[str]:
    return None if value is None else str(value)
