-- Columns of every table in tables.sql, in attribute order. Domains are
-- seen through to their base type (a domain over a domain too), for the
-- column itself and for an array's elements, so a transform's type check
-- sees `text` under `CREATE DOMAIN us_zip AS text CHECK …`; the domain's
-- CHECK still applies when the target loads the value.
WITH RECURSIVE domain_chain AS (
    SELECT d.oid AS domain, d.typbasetype AS base, d.typtypmod AS typmod
      FROM pg_type d
     WHERE d.typtype = 'd'
    UNION ALL
    SELECT c.domain, b.typbasetype,
           CASE WHEN c.typmod <> -1 THEN c.typmod ELSE b.typtypmod END
      FROM domain_chain c
      JOIN pg_type b ON b.oid = c.base
     WHERE b.typtype = 'd'
),
domain_base AS (
    SELECT c.domain, c.base, c.typmod
      FROM domain_chain c
      JOIN pg_type b ON b.oid = c.base
     WHERE b.typtype <> 'd'
),
col AS (
    SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod,
           a.attnotnull, a.attgenerated, a.attidentity,
           t.oid AS type_oid,
           t.typcategory = 'A' AS is_array,
           CASE WHEN cd.domain IS NOT NULL AND cd.typmod <> -1 THEN cd.typmod
                ELSE a.atttypmod END AS typmod,
           CASE WHEN t.typcategory = 'A' THEN coalesce(ed.base, t.typelem)
                ELSE t.oid END AS elem_oid
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN domain_base cd ON cd.domain = a.atttypid
      JOIN pg_type t ON t.oid = coalesce(cd.base, a.atttypid)
      LEFT JOIN domain_base ed ON ed.domain = t.typelem AND t.typcategory = 'A'
     WHERE a.attnum > 0
       AND NOT a.attisdropped
       AND c.relkind IN ('r', 'p')
       AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
)
SELECT col.attrelid AS table_oid,
       col.attname::text AS name,
       format_type(col.atttypid, col.atttypmod) AS type_name,
       format_type(col.elem_oid, NULL) AS base_type,
       (SELECT et.typtype::text FROM pg_type et WHERE et.oid = col.elem_oid) AS typtype,
       col.is_array,
       CASE WHEN col.elem_oid IN ('varchar'::regtype, 'bpchar'::regtype)
             AND col.typmod > 4 THEN col.typmod - 4 END AS max_length,
       CASE WHEN col.elem_oid = 'numeric'::regtype AND col.typmod > 4
            THEN ((col.typmod - 4) >> 16) & 65535 END AS numeric_precision,
       CASE WHEN col.elem_oid = 'numeric'::regtype AND col.typmod > 4
            THEN (col.typmod - 4) & 65535 END AS numeric_scale,
       col.attnotnull AS not_null,
       col.attgenerated <> '' AS generated,
       col.attidentity::text AS identity
  FROM col
 ORDER BY col.attrelid, col.attnum
