-- loyalty_ext 0.1.0 -> 0.2.0
--
-- Hand-written; tests/upgrade/run.sh proves it: a database filled through
-- 0.1.0 and updated with this script keeps every row, passes drift_check(),
-- and has the same catalog as a fresh CREATE EXTENSION of 0.2.0.  Steps are
-- added here by every change of 0.2.0, in the order they were made; the
-- library re-pointing stays last.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION loyalty_ext UPDATE TO '0.2.0'" to load this file. \quit

-- Each release has its own shared library (loyalty_ext-X.Y.Z.so; 0.1.0's is
-- loyalty_ext.so), so that a function always calls the code of the release
-- that defined it: a backend that loaded 0.1.0's library before this update
-- loads 0.2.0's beside it for the new definitions, and a database not yet
-- updated keeps calling 0.1.0's.  Here every C function of the extension
-- still bound to another library is re-created, as it stands, on 0.2.0's:
-- pg_get_functiondef gives its exact signature, defaults and attributes,
-- and CREATE OR REPLACE keeps its oid, comment and grants.  Functions whose
-- definition changes in 0.2.0 are re-created above with it instead.
DO $repoint$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid, p.probin
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_depend d
            ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'loyalty_ext'
          JOIN pg_catalog.pg_language l ON l.oid = p.prolang AND l.lanname = 'c'
         WHERE p.probin IS DISTINCT FROM 'loyalty_ext-0.2.0'
    LOOP
        EXECUTE pg_catalog.replace(pg_catalog.pg_get_functiondef(f.oid),
                                   'AS ' || pg_catalog.quote_literal(f.probin) || ', ',
                                   'AS ' || pg_catalog.quote_literal('loyalty_ext-0.2.0') || ', ');
    END LOOP;
    IF EXISTS (SELECT 1
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang AND l.lanname = 'c'
                WHERE p.pronamespace = 'loyalty'::pg_catalog.regnamespace
                  AND p.probin IS DISTINCT FROM 'loyalty_ext-0.2.0') THEN
        RAISE EXCEPTION 'loyalty_ext 0.2.0 upgrade: a C function is still bound to another library';
    END IF;
END
$repoint$;
