-- raw: the writes a correct implementation must do, and nothing else: lock
-- and update the player row, insert a ledger row of the same size as the
-- extension's (a 64-character fingerprint, a 36-character correlation id,
-- increasing like the extension's UUIDv7 ids), one statement, no checks.
\set pid random(1, 100000)
\set r random(1, 1000000000000)
WITH p AS (
    UPDATE loyalty.player_loyalty
       SET current_balance = current_balance + 10, lifetime_points = lifetime_points + 10, updated_at = now()
     WHERE casino_id = '00000000-0000-0000-0000-000000000000' AND player_id = bench.pid(:pid)
 RETURNING casino_id, player_id, current_balance, lifetime_points, tier)
INSERT INTO loyalty.loyalty_ledger (casino_id, player_id, points_change, transaction_type, idempotency_key, request_fingerprint,
       balance_before, balance_after, tier_before, tier_after, tier_progress_after, lifetime_points_after, correlation_id)
SELECT casino_id, player_id, 10, 'PROMOTION', 'r' || :run || '-' || :client_id || '-' || :r,
       '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', current_balance - 10, current_balance,
       tier, tier, 0, lifetime_points, lpad(txid_current()::text, 36, '0')
  FROM p;
