-- Columns of every table in tables.sql, in attribute order.
SELECT a.attrelid AS table_oid,
       a.attname::text AS name,
       format_type(a.atttypid, a.atttypmod) AS type_name,
       format_type(coalesce(nullif(t.typelem, 0), t.oid), NULL) AS base_type,
       (SELECT et.typtype::text FROM pg_type et
         WHERE et.oid = CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END) AS typtype,
       t.typcategory = 'A' AS is_array,
       CASE WHEN coalesce(nullif(t.typelem, 0), t.oid) IN ('varchar'::regtype, 'bpchar'::regtype)
             AND a.atttypmod > 4 THEN a.atttypmod - 4 END AS max_length,
       CASE WHEN coalesce(nullif(t.typelem, 0), t.oid) = 'numeric'::regtype AND a.atttypmod > 4
            THEN ((a.atttypmod - 4) >> 16) & 65535 END AS numeric_precision,
       CASE WHEN coalesce(nullif(t.typelem, 0), t.oid) = 'numeric'::regtype AND a.atttypmod > 4
            THEN (a.atttypmod - 4) & 65535 END AS numeric_scale,
       a.attnotnull AS not_null,
       a.attgenerated <> '' AS generated,
       a.attidentity::text AS identity
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
 WHERE a.attnum > 0
   AND NOT a.attisdropped
   AND c.relkind IN ('r', 'p')
   AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
 ORDER BY a.attrelid, a.attnum
