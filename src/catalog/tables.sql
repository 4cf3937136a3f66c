-- Tables to copy: ordinary tables that are not partitions, and partitioned
-- roots (their partitions are reached through them, so each row is copied
-- once). System schemas and extension-owned tables are left out.
SELECT c.oid,
       n.nspname::text AS schema,
       c.relname::text AS name,
       c.relkind,
       greatest(coalesce(
           CASE WHEN c.relkind = 'p'
                -- Unknown (-1) when any partition was never analysed.
                THEN (SELECT CASE WHEN bool_or(p.reltuples < 0) THEN -1
                                  ELSE sum(p.reltuples) END::float8
                        FROM pg_partition_tree(c.oid) t
                        JOIN pg_class p ON p.oid = t.relid
                       WHERE t.isleaf)
                ELSE c.reltuples::float8 END, -1), -1)::float8 AS reltuples,
       -- Size from the page counts VACUUM/ANALYZE keep (heap and TOAST),
       -- not pg_table_size: that takes a lock on the table, and a table
       -- someone holds locked would stall the plan before the run's own
       -- lock step can say so.
       (CASE WHEN c.relkind = 'p'
             THEN (SELECT coalesce(sum(p.relpages + coalesce(pt.relpages, 0)), 0)
                     FROM pg_partition_tree(c.oid) t
                     JOIN pg_class p ON p.oid = t.relid
                     LEFT JOIN pg_class pt ON pt.oid = p.reltoastrelid
                    WHERE t.isleaf)
             ELSE c.relpages + coalesce((SELECT ct.relpages FROM pg_class ct WHERE ct.oid = c.reltoastrelid), 0)
        END)::bigint * current_setting('block_size')::bigint AS bytes,
       -- Row-level security hides rows from this role unless it is a
       -- superuser, has BYPASSRLS, or owns the table without FORCE.
       c.relrowsecurity AS row_security,
       c.relrowsecurity
         AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user)
         AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE')) AS row_security_applies
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND n.nspname NOT LIKE 'pg_temp_%'
   AND n.nspname NOT LIKE 'pg_toast_temp_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
 ORDER BY n.nspname, c.relname
