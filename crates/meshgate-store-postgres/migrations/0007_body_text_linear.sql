-- meshgate schema, version 7: the text form of a body in linear time.
-- Never edit this file once released.

-- Version 6's meshgate_body_text turned a body holding a NUL into text one
-- byte at a time (a row per byte, aggregated in order): one NUL in an
-- 800 KB body cost the database up to seconds per send, which a peer could
-- repeat at its send rate. Same result (NUL bytes read as spaces, the first
-- 100,000 characters), in a few passes of built-in string functions: the
-- bytes in hex, a space after every byte (so "00" can only match a whole
-- byte), NUL bytes to 0x20; `decode(.., 'hex')` skips the spaces. Stored
-- body_tsv values stay valid, since the function's result is unchanged.
CREATE OR REPLACE FUNCTION meshgate_body_text(body bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT left(CASE
    WHEN position('\x00'::bytea IN body) = 0 THEN convert_from(body, 'UTF8')
    ELSE convert_from(
      decode(replace(regexp_replace(encode(body, 'hex'), '(..)', '\1 ', 'g'), '00 ', '20 '), 'hex'),
      'UTF8')
  END, 100000)
$$;
