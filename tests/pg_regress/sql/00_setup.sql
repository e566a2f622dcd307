-- A fresh database gets the extension; every later file shares it.  The
-- upgrade test (tests/upgrade/run.sh) also runs this suite on a database
-- whose extension an older version created and ALTER EXTENSION updated.
SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'loyalty_ext') AS fresh \gset
\if :fresh
CREATE EXTENSION loyalty_ext;
\endif
SELECT extname, extversion = a.default_version AS current_version, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  JOIN pg_available_extensions a ON a.name = e.extname
 WHERE extname = 'loyalty_ext';
-- The default tiers of SPEC section 2.
SELECT name, threshold, multiplier FROM loyalty.tier ORDER BY threshold;
-- A floor supervisor with every capability, used by the sessions that follow.
INSERT INTO loyalty.staff_permission (staff_id, capabilities) VALUES
    ('57aff000-0000-0000-0000-000000000001',
     ARRAY['loyalty:award', 'loyalty:promote', 'loyalty:redeem', 'loyalty:adjust', 'loyalty:recover']);
