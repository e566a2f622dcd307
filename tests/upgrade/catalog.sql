-- Everything PostgreSQL knows about the extension's objects, one line per
-- property, sorted: tests/upgrade/run.sh prints this for an upgraded and a
-- freshly created database and fails on any difference.  Data (rows,
-- sequence positions) and grants to roles other than PUBLIC and the owner
-- are left out: those belong to the DBA, not to the extension.
\pset format unaligned
\pset tuples_only on
\pset footer off
WITH ext AS (
    SELECT oid, extowner FROM pg_extension WHERE extname = 'loyalty_ext'
), nsp AS (
    SELECT oid FROM pg_namespace WHERE nspname = 'loyalty'
),
-- ACL entries for PUBLIC and the owner, with NULL read as the default ACL.
acl(kind, name, acl, owner, objtype) AS (
    SELECT 'table', c.oid::regclass::text, c.relacl, c.relowner,
           CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END
      FROM pg_class c, nsp WHERE c.relnamespace = nsp.oid AND c.relkind IN ('r', 'p', 'v', 'S')
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text, p.proacl, p.proowner, 'f'
      FROM pg_proc p, nsp WHERE p.pronamespace = nsp.oid
    UNION ALL
    SELECT 'type', t.oid::regtype::text, t.typacl, t.typowner, 'T'
      FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid, nsp
     WHERE t.typnamespace = nsp.oid AND t.typtype IN ('c', 'e', 'd') AND (t.typtype <> 'c' OR c.relkind = 'c')
    UNION ALL
    SELECT 'schema', n.nspname, n.nspacl, n.nspowner, 'n' FROM pg_namespace n, nsp WHERE n.oid = nsp.oid
), lines(line) AS (
    -- Membership of the extension.
    SELECT 'member: ' || pg_describe_object(d.classid, d.objid, d.objsubid)
      FROM pg_depend d, ext WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
    UNION ALL
    -- Configuration tables whose data pg_dump keeps.
    SELECT format('config-dump: %s where=%L', c::regclass, coalesce(w, ''))
      FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, w) WHERE e.extname = 'loyalty_ext'
    UNION ALL
    -- Functions: signature, result, every attribute, body or symbol, library.
    SELECT format('function %s: returns %s; args %s; lang %s; kind %s; volatility %s; strict %s; '
                  'security_definer %s; leakproof %s; parallel %s; cost %s; rows %s; config %s; library %s; symbol-or-body %s',
                  p.oid::regprocedure, pg_get_function_result(p.oid), pg_get_function_arguments(p.oid),
                  l.lanname, p.prokind, p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof,
                  p.proparallel, p.procost, p.prorows, p.proconfig, p.probin, p.prosrc)
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang, nsp WHERE p.pronamespace = nsp.oid
    UNION ALL
    -- Relations: kind, persistence, options, row-level security.
    SELECT format('relation %s: kind %s; persistence %s; options %s; rls %s; force_rls %s; replica_identity %s',
                  c.oid::regclass, c.relkind, c.relpersistence, c.reloptions, c.relrowsecurity,
                  c.relforcerowsecurity, c.relreplident)
      FROM pg_class c, nsp WHERE c.relnamespace = nsp.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'c', 'f')
    UNION ALL
    -- Columns in their order (dropped ones skipped): type, NULLs, default,
    -- identity, generation, collation.
    SELECT format('column %s #%s %s: type %s; not_null %s; default %s; identity %s; generated %s; collation %s',
                  c.oid::regclass,
                  row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid),
                  a.attidentity, a.attgenerated, a.attcollation::regcollation)
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum, nsp
     WHERE c.relnamespace = nsp.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')
    UNION ALL
    SELECT format('constraint %s on %s: %s; deferrable %s; deferred %s; validated %s',
                  co.conname, co.conrelid::regclass, pg_get_constraintdef(co.oid), co.condeferrable,
                  co.condeferred, co.convalidated)
      FROM pg_constraint co, nsp WHERE co.connamespace = nsp.oid
    UNION ALL
    SELECT format('index %s: %s', i.indexrelid::regclass, pg_get_indexdef(i.indexrelid))
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid, nsp WHERE c.relnamespace = nsp.oid
    UNION ALL
    SELECT format('trigger %s on %s: %s; enabled %s', t.tgname, t.tgrelid::regclass,
                  pg_get_triggerdef(t.oid), t.tgenabled)
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid, nsp
     WHERE c.relnamespace = nsp.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s on %s: cmd %s; permissive %s; roles %s; using %s; check %s',
                  po.polname, po.polrelid::regclass, po.polcmd, po.polpermissive,
                  (SELECT array_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END ORDER BY 1)
                     FROM unnest(po.polroles) r),
                  pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
      FROM pg_policy po JOIN pg_class c ON c.oid = po.polrelid, nsp WHERE c.relnamespace = nsp.oid
    UNION ALL
    SELECT format('view %s: %s', c.oid::regclass, pg_get_viewdef(c.oid))
      FROM pg_class c, nsp WHERE c.relnamespace = nsp.oid AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('sequence %s: type %s; start %s; increment %s; min %s; max %s; cache %s; cycle %s',
                  s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin,
                  s.seqmax, s.seqcache, s.seqcycle)
      FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid, nsp WHERE c.relnamespace = nsp.oid
    UNION ALL
    SELECT format('type %s: kind %s', t.oid::regtype, t.typtype)
      FROM pg_type t, nsp
     WHERE t.typnamespace = nsp.oid AND t.typtype IN ('c', 'e', 'd', 'b', 'r') AND t.typname NOT LIKE '\_%'
    UNION ALL
    -- Comments on every object in the schema (and on the schema).
    SELECT format('comment on %s: %s', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
      FROM pg_description d
     WHERE pg_describe_object(d.classoid, d.objoid, d.objsubid) IS NOT NULL
       AND (pg_identify_object(d.classoid, d.objoid, d.objsubid)).schema = 'loyalty'
    UNION ALL
    SELECT format('comment on schema loyalty: %s', obj_description(nsp.oid, 'pg_namespace')) FROM nsp
    UNION ALL
    SELECT format('grant on %s %s: %s %s%s', a.kind, a.name,
                  CASE WHEN x.grantee = 0 THEN 'PUBLIC' WHEN x.grantee = a.owner THEN 'owner' END,
                  x.privilege_type, CASE WHEN x.is_grantable THEN ' with grant option' ELSE '' END)
      FROM acl a, aclexplode(coalesce(a.acl, acldefault(a.objtype::"char", a.owner))) x
     WHERE x.grantee = 0 OR x.grantee = a.owner
)
SELECT line FROM lines ORDER BY line COLLATE "C";
