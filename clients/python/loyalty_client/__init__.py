"""loyalty_client: loyalty_ext from Python (psycopg 3), through a pooler."""

from .client import Account, ChangeResult, Event, HoldResult, LoyaltyClient, SlipResult, connect
from .consumer import consume
from .errors import (IdempotencyConflict, InsufficientBalance, InvalidArgument, InvalidState, LockTimeout,
                     LoyaltyError, NotFound, OutcomeUnknown, OutOfRange, PermissionDenied, RateLimited, ReadOnly,
                     SerializationFailure, Unreachable, parse_detail)

__all__ = [
    "Account", "ChangeResult", "Event", "HoldResult", "LoyaltyClient", "SlipResult", "connect", "consume",
    "IdempotencyConflict", "InsufficientBalance", "InvalidArgument", "InvalidState", "LockTimeout",
    "LoyaltyError", "NotFound", "OutcomeUnknown", "OutOfRange", "PermissionDenied", "RateLimited", "ReadOnly",
    "SerializationFailure", "Unreachable", "parse_detail",
]
