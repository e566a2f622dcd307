\set n random(1, 10000)
SELECT balance_after, id FROM loyalty.loyalty_ledger WHERE casino_id = '00000000-0000-0000-0000-000000000000' AND idempotency_key = 'replay-' || :n;
