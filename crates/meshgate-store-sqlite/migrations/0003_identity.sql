-- meshgate schema, version 3: identity and privacy. Never edit this file
-- once released.

-- Thread names are scoped per minting peer: `minted_by` is the peer whose
-- token minted the thread (NULL: the operator's shared namespace, and
-- every thread minted before this version). Minting a name never hands
-- out another peer's thread. SQLite cannot drop the old UNIQUE
-- (thread_name) in place, so the table is rebuilt.
CREATE TABLE threads_v3 (
  thread_uuid   TEXT PRIMARY KEY NOT NULL,
  thread_name   TEXT NOT NULL,
  peer_pair     TEXT NOT NULL,
  topic         TEXT NOT NULL,
  session_id    TEXT,
  created_at    TEXT NOT NULL,
  last_used_at  TEXT,
  minted_by     TEXT
);
INSERT INTO threads_v3 (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at)
  SELECT thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at FROM threads;
DROP TABLE threads;
ALTER TABLE threads_v3 RENAME TO threads;
CREATE UNIQUE INDEX threads_name ON threads(coalesce(minted_by, ''), thread_name);
CREATE INDEX threads_minted_by ON threads(minted_by) WHERE minted_by IS NOT NULL;
CREATE INDEX threads_last_used ON threads(last_used_at);
CREATE INDEX threads_session ON threads(session_id, last_used_at) WHERE session_id IS NOT NULL;

-- Names of deleted peers whose DMs or threads are kept. Such a name can be
-- registered again only with an explicit operator decision (adopt the
-- history, or purge it first), and cannot become an alias meanwhile.
CREATE TABLE retired_names (
  name        TEXT PRIMARY KEY NOT NULL,
  deleted_at  TEXT NOT NULL
);

-- Per-peer credential-guard policy set by the operator; NULL follows the
-- gateway's --secret-guard.
ALTER TABLE peers ADD COLUMN secret_guard TEXT CHECK (secret_guard IN ('block', 'warn', 'off'));
