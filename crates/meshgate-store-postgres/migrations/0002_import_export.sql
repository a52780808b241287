-- meshgate schema for PostgreSQL, version 2: moving data between stores
-- (`meshgate export` / `meshgate import`). Never edit this file once
-- released.

-- Where an imported message came from: `<source-kind>:<source-store-id>:<source-id>`
-- (NULL for messages sent to this store). Unique, so re-importing the same
-- data finds the copy instead of storing it again.
ALTER TABLE messages ADD COLUMN origin TEXT COLLATE "C";
CREATE UNIQUE INDEX messages_origin ON messages(origin) WHERE origin IS NOT NULL;

-- Facts about the store itself. `store_id` is random (32 hex digits),
-- created here once: it names this store in the origins of messages
-- exported from it.
CREATE TABLE meta (
  key    TEXT COLLATE "C" PRIMARY KEY,
  value  TEXT NOT NULL
);
INSERT INTO meta (key, value)
  VALUES ('store_id', md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text));
