-- Sequences and their current state, so the target continues where the
-- source is. pg_sequences.last_value is NULL for a sequence never used or
-- one we may not read.
SELECT s.schemaname::text AS schema,
       s.sequencename::text AS name,
       s.last_value,
       s.last_value IS NOT NULL AS is_called
  FROM pg_sequences s
 WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2
