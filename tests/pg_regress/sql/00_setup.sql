-- A fresh database gets the extension; every later file shares it.
CREATE EXTENSION loyalty_ext;
SELECT extname, extversion IS NOT NULL AS has_version, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'loyalty_ext';
-- The default tiers of SPEC section 2.
SELECT name, threshold, multiplier FROM loyalty.tier ORDER BY threshold;
-- A floor supervisor with every capability, used by the sessions that follow.
INSERT INTO loyalty.staff_permission (staff_id, capabilities) VALUES
    ('57aff000-0000-0000-0000-000000000001',
     ARRAY['loyalty:award', 'loyalty:promote', 'loyalty:redeem', 'loyalty:adjust', 'loyalty:recover']);
