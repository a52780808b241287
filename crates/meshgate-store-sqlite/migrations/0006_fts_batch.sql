-- meshgate schema, version 6: the search index is written once per write
-- batch instead of once per DM. Never edit this file once released.

-- FTS5 writes its pending terms to a new index segment at every savepoint
-- release, and the writer wraps each job of a batch in a savepoint, so the
-- insert trigger of version 5 made every DM its own segment (~23% of a
-- send's instructions, bench/RESULTS.md). The writer now indexes the rows
-- its batch inserted (ids above the highest already indexed) after the last
-- savepoint and before COMMIT, in the same transaction, with exactly the
-- values this trigger wrote (writer.rs, `index_new_messages`): a committed
-- DM is searchable, a refused or rolled-back one never was indexed.
-- Deletes and updates keep their triggers: they touch rows that are
-- already indexed.
DROP TRIGGER messages_fts_insert;
