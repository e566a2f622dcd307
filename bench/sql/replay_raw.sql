\set n random(1, 10000)
SELECT balance_after, id FROM loyalty.loyalty_ledger WHERE idempotency_key = 'replay-' || :n;
