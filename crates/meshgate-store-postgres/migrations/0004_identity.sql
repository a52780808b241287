-- meshgate schema for PostgreSQL, version 4: identity and privacy. Never
-- edit this file once released.

-- Thread names are scoped per minting peer: `minted_by` is the peer whose
-- token minted the thread (NULL: the operator's shared namespace, and
-- every thread minted before this version). Minting a name never hands
-- out another peer's thread.
ALTER TABLE threads ADD COLUMN minted_by TEXT COLLATE "C";
ALTER TABLE threads DROP CONSTRAINT threads_thread_name_key;
CREATE UNIQUE INDEX threads_name ON threads((coalesce(minted_by, '')), thread_name);
CREATE INDEX threads_minted_by ON threads(minted_by) WHERE minted_by IS NOT NULL;

-- Names of deleted peers whose DMs or threads are kept. Such a name can be
-- registered again only with an explicit operator decision (adopt the
-- history, or purge it first), and cannot become an alias meanwhile.
CREATE TABLE retired_names (
  name        TEXT COLLATE "C" PRIMARY KEY,
  deleted_at  TEXT COLLATE "C" NOT NULL
);

-- Per-peer credential-guard policy set by the operator; NULL follows the
-- gateway's --secret-guard.
ALTER TABLE peers ADD COLUMN secret_guard TEXT CHECK (secret_guard IN ('block', 'warn', 'off'));
