-- Primary keys, unique constraints and unique indexes (without predicates
-- or expressions), with their key columns in key order (an index's
-- INCLUDE columns are stored, not part of the key), and whether NULLs
-- count as equal (PostgreSQL 15's NULLS NOT DISTINCT; read through jsonb
-- so the query runs on older servers too).
SELECT i.indrelid AS table_oid,
       coalesce(con.conname, ic.relname)::text AS name,
       i.indisprimary AS is_primary,
       array(SELECT a.attname::text
               FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE k.ord <= i.indnkeyatts
              ORDER BY k.ord) AS columns,
       coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class c ON c.oid = i.indrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u')
 WHERE i.indisunique
   AND i.indpred IS NULL
   AND i.indexprs IS NULL
   AND c.relkind IN ('r', 'p')
   AND NOT c.relispartition
 ORDER BY i.indrelid, i.indisprimary DESC, 2
