-- Partitions (at any depth) and the root they are copied through, so a
-- rule naming a partition can be pointed at its root.
SELECT n.nspname::text AS schema,
       c.relname::text AS name,
       rn.nspname::text AS root_schema,
       r.relname::text AS root_name
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class r ON r.oid = pg_partition_root(c.oid)
  JOIN pg_namespace rn ON rn.oid = r.relnamespace
 WHERE c.relispartition
   AND c.relkind IN ('r', 'p')
 ORDER BY 1, 2
