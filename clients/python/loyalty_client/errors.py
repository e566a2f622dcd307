"""One exception class per SPEC section 8 condition, each carrying the
parsed DETAIL of the error (``key=value`` pairs; caller text double-quoted
with ``\\"`` and ``\\\\`` escaped) and its correlation id."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Dict, Optional

import psycopg

_FIELD = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)')


def parse_detail(detail: Optional[str]) -> Dict[str, str]:
    """The fields of a loyalty_ext DETAIL line, values unquoted."""
    fields: Dict[str, str] = {}
    if not detail:
        return fields
    pos = 0
    while pos < len(detail):
        m = _FIELD.match(detail, pos)
        if not m:
            break
        key, value = m.group(1), m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        fields[key] = value.strip() if not m.group(2).startswith('"') else value
        pos = m.end()
    return fields


class LoyaltyError(Exception):
    """A loyalty_ext error: ``sqlstate``, ``message``, ``detail`` (parsed),
    ``correlation_id``."""

    sqlstate: str = ""

    def __init__(self, sqlstate: str, message: str, detail: Dict[str, str]):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail
        self.correlation_id: Optional[str] = detail.get("correlation_id")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sqlstate}, {self.message!r}, {self.detail!r})"


class InvalidArgument(LoyaltyError):
    """22023: a bad argument."""


class OutOfRange(LoyaltyError):
    """22003: above a per-call limit, or a number beyond range."""

    @property
    def limit(self) -> Optional[int]:
        return _int(self.detail.get("limit"))


class PermissionDenied(LoyaltyError):
    """42501: unknown staff, a missing capability, a spoofed or rejected
    identity, another casino."""


class RateLimited(LoyaltyError):
    """53400: a velocity limit (DETAIL: ``remaining=0``, ``reset_at``) or a
    campaign's budget."""

    @property
    def reset_at(self) -> Optional[_dt.datetime]:
        value = self.detail.get("reset_at")
        return _dt.datetime.fromisoformat(value.replace(" ", "T")) if value else None

    @property
    def limit(self) -> Optional[int]:
        return _int(self.detail.get("limit") or self.detail.get("points_limit"))

    @property
    def remaining(self) -> Optional[int]:
        return _int(self.detail.get("remaining") or self.detail.get("points_remaining"))


class IdempotencyConflict(LoyaltyError):
    """23505: the key was used for a different request."""

    @property
    def existing_ledger_id(self) -> Optional[int]:
        return _int(self.detail.get("existing_ledger_id"))

    @property
    def idempotency_key(self) -> Optional[str]:
        return self.detail.get("idempotency_key")


class InsufficientBalance(LoyaltyError):
    """23514: beyond what is available (balance less held and expired)."""

    @property
    def available(self) -> Optional[int]:
        return _int(self.detail.get("balance"))

    @property
    def requested(self) -> Optional[int]:
        return _int(self.detail.get("requested"))


class InvalidState(LoyaltyError):
    """55000: not in a state that allows the operation."""


class NotFound(LoyaltyError):
    """P0002: player, ledger entry, campaign, hold or casino not found."""


class LockTimeout(LoyaltyError):
    """55P03: a row lock not obtained within loyalty.lock_timeout."""


class ReadOnly(LoyaltyError):
    """25006: a change sent to a hot standby or a read-only transaction."""


class OutcomeUnknown(LoyaltyError):
    """08006 (through loyalty_router): the call may or may not have
    happened; retry with the same idempotency key."""


class Unreachable(LoyaltyError):
    """08001 (through loyalty_router): the casino's node cannot be reached."""


class SerializationFailure(LoyaltyError):
    """40001: a REPEATABLE READ or SERIALIZABLE snapshot too old; retry."""


_BY_STATE = {
    "22023": InvalidArgument,
    "22003": OutOfRange,
    "42501": PermissionDenied,
    "53400": RateLimited,
    "23505": IdempotencyConflict,
    "23514": InsufficientBalance,
    "55000": InvalidState,
    "P0002": NotFound,
    "55P03": LockTimeout,
    "25006": ReadOnly,
    "08006": OutcomeUnknown,
    "08001": Unreachable,
    "40001": SerializationFailure,
}


def translate(error: psycopg.Error) -> Exception:
    """The typed exception for a server error, or the error itself."""
    diag = getattr(error, "diag", None)
    state = getattr(error, "sqlstate", None) or (diag.sqlstate if diag else None)
    cls = _BY_STATE.get(state or "")
    if cls is None or diag is None:
        return error
    return cls(state, diag.message_primary or str(error), parse_detail(diag.message_detail))


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
