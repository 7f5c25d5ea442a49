-- Every object of extension syncopt, one line each, in a stable order:
-- what an upgraded install and a fresh one must agree on.  Columns are
-- listed in their physical order (an upgrade can only append), without
-- attnum values (an upgrade that dropped a column leaves a gap).
WITH members AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
     WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
       AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'syncopt')
), rels AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_catalog.pg_class c
      JOIN members m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid
), lines AS (
    SELECT 'relation ' || r.relname || ' kind ' || r.relkind::text
           || ' acl ' || coalesce(c.relacl::text, '-') || ' options ' || coalesce(c.reloptions::text, '-')
           || ' comment ' || coalesce(pg_catalog.obj_description(r.oid, 'pg_class'), '-') AS line
      FROM rels r JOIN pg_catalog.pg_class c ON c.oid = r.oid
    UNION ALL
    SELECT 'column ' || r.relname || '.' || a.attname || ' #' ||
           row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum) || ' '
           || pg_catalog.format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '')
           || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
           || CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END
           || ' acl ' || coalesce(a.attacl::text, '-')
           || ' comment ' || coalesce(pg_catalog.col_description(r.oid, a.attnum), '-')
      FROM rels r
      JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    UNION ALL
    SELECT 'constraint ' || r.relname || '.' || co.conname || ' ' || pg_catalog.pg_get_constraintdef(co.oid)
      FROM rels r JOIN pg_catalog.pg_constraint co ON co.conrelid = r.oid
    UNION ALL
    SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
      FROM rels r JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
    UNION ALL
    SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid)
      FROM rels r JOIN pg_catalog.pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT 'policy ' || r.relname || '.' || p.polname || ' ' || p.polcmd::text || ' '
           || coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '-')
      FROM rels r JOIN pg_catalog.pg_policy p ON p.polrelid = r.oid
    UNION ALL
    SELECT 'view ' || r.relname || ' ' || pg_catalog.pg_get_viewdef(r.oid)
      FROM rels r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'sequence ' || r.relname || ' ' || s.seqtypid::regtype || ' ' || s.seqincrement || ' '
           || s.seqmin || ' ' || s.seqmax || ' ' || s.seqcycle
      FROM rels r JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.oid
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' acl ' || coalesce(p.proacl::text, '-')
           || ' comment ' || coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '-') || E'\n'
           || CASE WHEN p.prokind IN ('a', 'w') THEN '(aggregate)' ELSE pg_catalog.pg_get_functiondef(p.oid) END
      FROM members m JOIN pg_catalog.pg_proc p ON m.classid = 'pg_catalog.pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    SELECT 'type ' || t.oid::regtype || ' ' || t.typtype::text
           || coalesce(' over ' || nullif(t.typbasetype, 0)::regtype::text, '')
           || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || t.typdefault, '')
           || ' acl ' || coalesce(t.typacl::text, '-')
           || coalesce(' check ' || (SELECT string_agg(co.conname || ' ' || pg_catalog.pg_get_constraintdef(co.oid), '; '
                                                       ORDER BY co.conname)
                                       FROM pg_catalog.pg_constraint co WHERE co.contypid = t.oid), '')
           || coalesce(' labels ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                        FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid), '')
      FROM members m JOIN pg_catalog.pg_type t ON m.classid = 'pg_catalog.pg_type'::regclass AND m.objid = t.oid
    UNION ALL
    SELECT 'member ' || m.classid::regclass || ' ' || pg_catalog.pg_describe_object(m.classid, m.objid, 0)
      FROM members m
     WHERE m.classid NOT IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_proc'::regclass,
                             'pg_catalog.pg_type'::regclass)
    UNION ALL
    SELECT 'dumped ' || cfg.rel::regclass || ' ' || coalesce(cfg.cond, '')
      FROM pg_catalog.pg_extension e,
           LATERAL unnest(e.extconfig, e.extcondition) AS cfg(rel, cond)
     WHERE e.extname = 'syncopt'
    UNION ALL
    SELECT 'schema ' || n.nspname || ' acl ' || coalesce(n.nspacl::text, '-')
           || ' comment ' || coalesce(pg_catalog.obj_description(n.oid, 'pg_namespace'), '-')
      FROM pg_catalog.pg_namespace n WHERE n.nspname = 'syncopt'
)
SELECT line FROM lines ORDER BY line;
