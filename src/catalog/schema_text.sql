-- The text of schema objects that pg_dump copies verbatim into the
-- target: view definitions, function bodies, column defaults, CHECK
-- constraints (of tables and domains) and comments, each with the name a
-- user writes it under in `allow_schema_text:`. System schemas and
-- extension members are left out (an extension's own functions are not
-- the application's text). Read with search_path = pg_catalog, so every
-- name comes out schema-qualified.
WITH user_ns AS (
    SELECT oid, nspname FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'
),
not_extension AS (
    SELECT d.classid, d.objid FROM pg_depend d WHERE d.deptype = 'e'
)
SELECT 'view' AS kind,
       CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END
         || quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS object,
       pg_get_viewdef(c.oid) AS body
  FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm')
   AND NOT EXISTS (SELECT 1 FROM not_extension e
                    WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid)
UNION ALL
SELECT 'function',
       'function ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname)
         || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       p.prosrc
  FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
 WHERE NOT EXISTS (SELECT 1 FROM not_extension e
                    WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid)
UNION ALL
SELECT 'default',
       'default of ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname)
         || '.' || quote_ident(a.attname),
       pg_get_expr(d.adbin, d.adrelid)
  FROM pg_attrdef d
  JOIN pg_class c ON c.oid = d.adrelid
  JOIN user_ns n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
 WHERE NOT EXISTS (SELECT 1 FROM not_extension e
                    WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid)
UNION ALL
SELECT 'check',
       'constraint ' || quote_ident(co.conname) || ' on '
         || CASE WHEN co.contypid <> 0
                 THEN 'domain ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname)
                 ELSE quote_ident(n.nspname) || '.' || quote_ident(c.relname) END,
       pg_get_constraintdef(co.oid)
  FROM pg_constraint co
  JOIN user_ns n ON n.oid = co.connamespace
  LEFT JOIN pg_class c ON c.oid = co.conrelid
  LEFT JOIN pg_type t ON t.oid = co.contypid
 WHERE co.contype = 'c'
   AND NOT EXISTS (SELECT 1 FROM not_extension e
                    WHERE (e.classid = 'pg_class'::regclass AND e.objid = co.conrelid)
                       OR (e.classid = 'pg_type'::regclass AND e.objid = co.contypid))
UNION ALL
SELECT 'comment',
       'comment on ' || pg_describe_object(d.classoid, d.objoid, d.objsubid),
       d.description
  FROM pg_description d
 -- Built-in objects (below FirstNormalObjectId) and what extensions made.
 WHERE d.objoid >= 16384
   AND d.classoid <> 'pg_extension'::regclass
   AND NOT EXISTS (SELECT 1 FROM not_extension e
                    WHERE e.classid = d.classoid AND e.objid = d.objoid)
ORDER BY 2
