-- meshgate schema, version 5: full-text search over DM bodies
-- (GET /messages/search). Never edit this file once released.

-- A contentless FTS5 index (rowid = messages.id): it stores words and
-- positions, not a second copy of the bodies. Two columns:
--   body    the words of messages.content;
--   parties one token per end, 'f' || hex(from_node) and 't' || hex(to_node)
--           (hex: a name is always one token, whatever its characters), so
--           a search scoped to a peer intersects its DMs inside the index
--           instead of reading every match of a common word. Queries never
--           match user words against it, and the gateway still filters
--           on messages.from_node / to_node.
-- unicode61 folds case; diacritics are kept (remove_diacritics 0), as
-- PostgreSQL's `simple` configuration keeps them, so both backends find
-- the same DMs. contentless_delete lets triggers delete by rowid.
CREATE VIRTUAL TABLE messages_fts USING fts5(
  body,
  parties,
  content = '',
  contentless_delete = 1,
  tokenize = 'unicode61 remove_diacritics 0'
);

-- Kept in step with messages inside the same transaction as every write
-- (send, import, retention, purge). Bodies and ends are never updated; the
-- update trigger keeps the index right should that change.
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, body, parties)
    VALUES (new.id, new.content, 'f' || hex(new.from_node) || ' t' || hex(new.to_node));
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  DELETE FROM messages_fts WHERE rowid = old.id;
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, from_node, to_node ON messages BEGIN
  DELETE FROM messages_fts WHERE rowid = old.id;
  INSERT INTO messages_fts (rowid, body, parties)
    VALUES (new.id, new.content, 'f' || hex(new.from_node) || ' t' || hex(new.to_node));
END;

-- Index the DMs stored before this migration.
INSERT INTO messages_fts (rowid, body, parties)
  SELECT id, content, 'f' || hex(from_node) || ' t' || hex(to_node) FROM messages;
