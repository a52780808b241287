-- meshgate schema, version 6: full-text search over DM bodies
-- (GET /messages/search). Never edit this file once released.

-- The text form of a body (stored as UTF-8 bytes, since text cannot hold
-- NUL): NUL bytes read as spaces, and only the first 100,000 characters,
-- since a tsvector holds at most 1 MiB (a 200,000-character body of
-- distinct one-letter words would not fit, and its send would fail).
-- IMMUTABLE: the bytes are always UTF-8 (the gateway stores Rust strings),
-- so the database encoding does not change the result.
CREATE FUNCTION meshgate_body_text(body bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT left(CASE
    WHEN position('\x00'::bytea IN body) = 0 THEN convert_from(body, 'UTF8')
    ELSE convert_from(
      (SELECT string_agg(CASE WHEN get_byte(body, i) = 0 THEN '\x20'::bytea
                              ELSE substring(body FROM i + 1 FOR 1) END, ''::bytea ORDER BY i)
         FROM generate_series(0, length(body) - 1) AS i),
      'UTF8')
  END, 100000)
$$;

-- The words of every body, kept by PostgreSQL in the row itself (a stored
-- generated column: every insert path, send or import, fills it in the
-- same statement; this ALTER fills it for the rows already stored).
-- Configuration `simple`: lower case, no stemming, no stop words,
-- diacritics kept (as SQLite's index does).
ALTER TABLE messages ADD COLUMN body_tsv tsvector
  GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, meshgate_body_text(content))) STORED;
CREATE INDEX messages_body_tsv ON messages USING gin (body_tsv);
