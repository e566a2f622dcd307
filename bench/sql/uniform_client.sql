\set pid random(1, 100000)
\set r random(1, 1000000000000)
BEGIN;
SELECT id FROM loyalty.loyalty_ledger WHERE casino_id = '00000000-0000-0000-0000-000000000000' AND idempotency_key = 'c' || :run || '-' || :client_id || '-' || :r;
SELECT current_balance AS bal, lifetime_points AS life, tier AS tier
  FROM loyalty.player_loyalty WHERE casino_id = '00000000-0000-0000-0000-000000000000' AND player_id = bench.pid(:pid) FOR UPDATE \gset
SELECT name AS newtier FROM loyalty.tier WHERE casino_id = '00000000-0000-0000-0000-000000000000' AND threshold <= :life + 10 ORDER BY threshold DESC LIMIT 1 \gset
INSERT INTO loyalty.loyalty_ledger (player_id, points_change, transaction_type, idempotency_key, request_fingerprint,
       balance_before, balance_after, tier_before, tier_after, tier_progress_after, lifetime_points_after, correlation_id)
VALUES (bench.pid(:pid), 10, 'PROMOTION', 'c' || :run || '-' || :client_id || '-' || :r,
        encode(sha256(('c' || :run || '-' || :client_id || '-' || :r)::bytea), 'hex'),
        :bal, :bal + 10, :tier, :newtier, 0, :life + 10, lpad(txid_current()::text, 36, '0'));
UPDATE loyalty.player_loyalty SET current_balance = :bal + 10, lifetime_points = :life + 10, tier = :newtier,
       updated_at = now() WHERE casino_id = '00000000-0000-0000-0000-000000000000' AND player_id = bench.pid(:pid);
COMMIT;
