-- A fresh database gets the extension; every later file shares it.
CREATE EXTENSION loyalty_ext;
SELECT extname, extversion IS NOT NULL AS has_version, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'loyalty_ext';
-- The default tiers of SPEC section 2.
SELECT name, threshold, multiplier FROM loyalty.tier ORDER BY threshold;
