-- Exclusion constraints: each key part as the column it is, or as its
-- expression's text, with the operator it is compared by. The plan checks
-- the rules of the columns under them: a copy that makes two rows conflict
-- fails the target's constraint build.
SELECT con.conrelid AS table_oid,
       con.conname::text AS name,
       array(SELECT coalesce(a.attname::text, '')
               FROM generate_series(1, i.indnkeyatts) AS k(ord)
               LEFT JOIN pg_attribute a
                      ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.ord - 1]
                     AND i.indkey[k.ord - 1] <> 0
              ORDER BY k.ord) AS columns,
       array(SELECT pg_get_indexdef(i.indexrelid, k.ord::int, true)
               FROM generate_series(1, i.indnkeyatts) AS k(ord)
              ORDER BY k.ord) AS parts,
       array(SELECT o.oprname::text
               FROM unnest(con.conexclop) WITH ORDINALITY AS e(op, ord)
               JOIN pg_operator o ON o.oid = e.op
              ORDER BY e.ord) AS operators
  FROM pg_constraint con
  JOIN pg_index i ON i.indexrelid = con.conindid
  JOIN pg_class c ON c.oid = con.conrelid
 WHERE con.contype = 'x'
   AND c.relkind IN ('r', 'p')
   AND NOT c.relispartition
 ORDER BY con.conrelid, 2
