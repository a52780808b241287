-- meshgate schema, version 1. Never edit this file once released: add a
-- new numbered migration instead.

-- Registered peers. Messages do not reference this table: they outlive
-- their peers.
CREATE TABLE peers (
  name          TEXT PRIMARY KEY NOT NULL,
  url           TEXT,
  capabilities  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(capabilities)),
  enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  registered_at TEXT NOT NULL,
  last_seen     TEXT,
  last_health   TEXT
);

-- Per-peer bearer tokens, stored as SHA-256 only. Revoked rows are kept
-- forever so a generation is never reused, even after delete+re-register.
CREATE TABLE peer_tokens (
  id          INTEGER PRIMARY KEY,
  peer        TEXT NOT NULL,
  token_hash  BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  generation  INTEGER NOT NULL CHECK (generation >= 1),
  created_at  TEXT NOT NULL,
  revoked_at  TEXT,
  UNIQUE (peer, generation)
);
-- At most one live token per peer.
CREATE UNIQUE INDEX peer_tokens_live ON peer_tokens(peer) WHERE revoked_at IS NULL;

-- Operator-managed nicknames of peers.
CREATE TABLE aliases (
  alias       TEXT PRIMARY KEY NOT NULL,
  canonical   TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX aliases_canonical ON aliases(canonical);

-- Direct messages. id order is commit order (AUTOINCREMENT: ids are never
-- reused, even after the newest rows are deleted).
CREATE TABLE messages (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  from_node           TEXT NOT NULL,
  to_node             TEXT NOT NULL,
  kind                TEXT NOT NULL,
  content             TEXT NOT NULL,
  thread_id           TEXT,
  related_task_id     TEXT,
  idempotency_key     TEXT,
  idempotency_digest  TEXT,
  created_at          TEXT NOT NULL,
  read_at             TEXT
);
CREATE UNIQUE INDEX messages_idempotency
  ON messages(from_node, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Inbox (newest first / cursor) and unread inbox.
CREATE INDEX messages_to ON messages(to_node, id);
CREATE INDEX messages_to_unread ON messages(to_node, id) WHERE read_at IS NULL;
-- Outbox.
CREATE INDEX messages_from ON messages(from_node, id);
-- Thread history.
CREATE INDEX messages_thread ON messages(thread_id, id) WHERE thread_id IS NOT NULL;

-- Named conversations; messages carry the UUID.
CREATE TABLE threads (
  thread_uuid   TEXT PRIMARY KEY NOT NULL,
  thread_name   TEXT NOT NULL UNIQUE,
  peer_pair     TEXT NOT NULL,
  topic         TEXT NOT NULL,
  session_id    TEXT,
  created_at    TEXT NOT NULL,
  last_used_at  TEXT
);
CREATE INDEX threads_last_used ON threads(last_used_at);
CREATE INDEX threads_session ON threads(session_id, last_used_at) WHERE session_id IS NOT NULL;
