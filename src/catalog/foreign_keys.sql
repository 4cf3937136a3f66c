-- Foreign keys declared on tables (on a partitioned root, not the copies
-- PostgreSQL makes on each partition), columns in key order.
SELECT con.conrelid AS table_oid,
       con.conname::text AS name,
       pn.nspname::text AS parent_schema,
       pc.relname::text AS parent_name,
       array(SELECT a.attname::text
               FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
              ORDER BY k.ord) AS columns,
       array(SELECT a.attname::text
               FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
              ORDER BY k.ord) AS parent_columns,
       con.condeferrable AS deferrable,
       con.convalidated AS validated
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_class pc ON pc.oid = con.confrelid
  JOIN pg_namespace pn ON pn.oid = pc.relnamespace
 WHERE con.contype = 'f'
   AND con.conparentid = 0
   AND NOT c.relispartition
 ORDER BY con.conrelid, con.conname
