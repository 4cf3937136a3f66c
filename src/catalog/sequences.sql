-- Sequences, and whether this role may read their state (SELECT on it and
-- USAGE on its schema; `access` refuses a run that may not). The state itself
-- (last_value, is_called) is read from each sequence afterwards:
-- pg_sequences.last_value is NULL both for a sequence never called and for
-- one reset by setval(s, v, false) / ALTER SEQUENCE … RESTART, which must
-- continue at v, so it cannot tell the two apart.
SELECT s.schemaname::text AS schema,
       s.sequencename::text AS name,
       has_schema_privilege(s.schemaname, 'USAGE')
         AND has_sequence_privilege(
           format('%I.%I', s.schemaname, s.sequencename), 'SELECT') AS readable
  FROM pg_sequences s
 WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2
