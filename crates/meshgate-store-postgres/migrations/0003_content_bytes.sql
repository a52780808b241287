-- Message bodies as UTF-8 bytes: PostgreSQL's text type cannot hold the NUL
-- character, which a message body may contain (SQLite and the reference store it).
ALTER TABLE messages ALTER COLUMN content TYPE bytea USING convert_to(content, 'UTF8');
