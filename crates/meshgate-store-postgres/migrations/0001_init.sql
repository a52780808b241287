-- meshgate schema for PostgreSQL, version 1. Never edit this file once
-- released: add a new numbered migration instead.
--
-- Every text column that is compared or ordered (names, timestamps) uses
-- COLLATE "C": byte order, as in SQLite, whatever the database's locale.
-- Timestamps are TEXT in the fixed format `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`
-- (UTC), so string order is time order.

-- The database clock as a meshgate timestamp.
CREATE FUNCTION meshgate_now() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
$$;

-- Registered peers. Messages do not reference this table: they outlive
-- their peers.
CREATE TABLE peers (
  name          TEXT COLLATE "C" PRIMARY KEY,
  url           TEXT,
  capabilities  TEXT NOT NULL DEFAULT '{}',
  enabled       BOOLEAN NOT NULL DEFAULT true,
  registered_at TEXT COLLATE "C" NOT NULL,
  last_seen     TEXT COLLATE "C",
  last_health   TEXT
);

-- Per-peer bearer tokens, stored as SHA-256 only. Revoked rows are kept
-- forever so a generation is never reused, even after delete+re-register.
CREATE TABLE peer_tokens (
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  peer        TEXT COLLATE "C" NOT NULL,
  token_hash  BYTEA NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  generation  BIGINT NOT NULL CHECK (generation >= 1),
  created_at  TEXT COLLATE "C" NOT NULL,
  revoked_at  TEXT COLLATE "C",
  UNIQUE (peer, generation)
);
-- At most one live token per peer.
CREATE UNIQUE INDEX peer_tokens_live ON peer_tokens(peer) WHERE revoked_at IS NULL;

-- Operator-managed nicknames of peers.
CREATE TABLE aliases (
  alias       TEXT COLLATE "C" PRIMARY KEY,
  canonical   TEXT COLLATE "C" NOT NULL,
  created_at  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX aliases_canonical ON aliases(canonical);

-- The message id counter: one row, updated inside every message insert.
-- Its row lock serialises message inserts until they commit, so ids become
-- visible in id order (an `after_id` cursor never skips a row that commits
-- later with a smaller id), ids stay dense (a rolled-back insert gives its
-- id back), and `last_at` makes created_at non-decreasing with id even if
-- the database clock steps back.
CREATE TABLE message_seq (
  singleton  BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id    BIGINT NOT NULL,
  last_at    TEXT COLLATE "C" NOT NULL
);
INSERT INTO message_seq (singleton, last_id, last_at) VALUES (true, 0, '');

-- Direct messages. Ids come from message_seq.
CREATE TABLE messages (
  id                  BIGINT PRIMARY KEY,
  from_node           TEXT COLLATE "C" NOT NULL,
  to_node             TEXT COLLATE "C" NOT NULL,
  kind                TEXT NOT NULL,
  content             TEXT NOT NULL,
  thread_id           TEXT COLLATE "C",
  related_task_id     TEXT,
  idempotency_key     TEXT COLLATE "C",
  idempotency_digest  TEXT,
  created_at          TEXT COLLATE "C" NOT NULL,
  read_at             TEXT COLLATE "C"
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
-- `since` filters.
CREATE INDEX messages_created ON messages(created_at);

-- Named conversations; messages carry the UUID.
CREATE TABLE threads (
  thread_uuid   TEXT COLLATE "C" PRIMARY KEY,
  thread_name   TEXT COLLATE "C" NOT NULL UNIQUE,
  peer_pair     TEXT NOT NULL,
  topic         TEXT NOT NULL,
  session_id    TEXT COLLATE "C",
  created_at    TEXT COLLATE "C" NOT NULL,
  last_used_at  TEXT COLLATE "C"
);
CREATE INDEX threads_last_used ON threads(last_used_at);
CREATE INDEX threads_session ON threads(session_id, last_used_at) WHERE session_id IS NOT NULL;
