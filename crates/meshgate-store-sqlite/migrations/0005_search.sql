-- meshgate schema, version 5: full-text search over DM bodies
-- (GET /messages/search). Never edit this file once released.

-- An external-content FTS5 index: it stores the words and their positions,
-- not a second copy of the bodies (those stay in messages.content; rowid =
-- messages.id). unicode61 folds case; diacritics are kept (remove_diacritics
-- 0), as PostgreSQL's `simple` configuration keeps them, so both backends
-- find the same DMs.
CREATE VIRTUAL TABLE messages_fts USING fts5(
  content,
  content = 'messages',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 0'
);

-- Kept in step with messages inside the same transaction as every write
-- (send, import, retention, purge). Bodies are never updated; the update
-- trigger keeps the index right should that change.
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
  INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

-- Index the DMs stored before this migration.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
