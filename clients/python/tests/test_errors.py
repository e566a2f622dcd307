"""DETAIL parsing (no server)."""

from loyalty_client import parse_detail


def test_plain_and_quoted_fields():
    d = parse_detail('staff_id=5aff0000-0000-0000-0006-0000000000a1, limit=10, remaining=0, '
                     'reset_at="2026-11-26 10:00:00.123456+00", correlation_id=abc')
    assert d == {"staff_id": "5aff0000-0000-0000-0006-0000000000a1", "limit": "10", "remaining": "0",
                 "reset_at": "2026-11-26 10:00:00.123456+00", "correlation_id": "abc"}


def test_caller_text_cannot_forge_a_field():
    d = parse_detail(r'idempotency_key="k, existing_ledger_id=999 \"x\"", existing_ledger_id=7, correlation_id=c')
    assert d["idempotency_key"] == 'k, existing_ledger_id=999 "x"'
    assert d["existing_ledger_id"] == "7"
