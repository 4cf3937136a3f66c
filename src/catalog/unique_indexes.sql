-- Unique indexes on expressions or with a predicate (`unique_keys.sql`
-- reads the plain ones): each key part as the column it is, or as its
-- expression's text (`lower(handle)`, `(code)::text`), and the predicate.
-- The plan checks the rules of the columns under them: a copy that makes
-- two values equal under the index fails the target's index build.
SELECT i.indrelid AS table_oid,
       ic.relname::text AS name,
       array(SELECT coalesce(a.attname::text, '')
               FROM generate_series(1, i.indnkeyatts) AS k(ord)
               LEFT JOIN pg_attribute a
                      ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.ord - 1]
                     AND i.indkey[k.ord - 1] <> 0
              ORDER BY k.ord) AS columns,
       array(SELECT pg_get_indexdef(i.indexrelid, k.ord::int, true)
               FROM generate_series(1, i.indnkeyatts) AS k(ord)
              ORDER BY k.ord) AS parts,
       pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
       coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class c ON c.oid = i.indrelid
 WHERE i.indisunique
   AND (i.indpred IS NOT NULL OR i.indexprs IS NOT NULL)
   AND c.relkind IN ('r', 'p')
   AND NOT c.relispartition
 ORDER BY i.indrelid, 2
