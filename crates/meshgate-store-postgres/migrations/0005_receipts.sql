-- meshgate schema, version 5: receipts, replies and obligations. Never
-- edit this file once released.

-- The delivery ladder of a DM: first hand-over to its recipient (set once,
-- by the gateway's delivery batcher), the message it replies to, and for a
-- question its first answer and its deadline.
ALTER TABLE messages ADD COLUMN delivered_at TEXT;
ALTER TABLE messages ADD COLUMN in_reply_to BIGINT;
ALTER TABLE messages ADD COLUMN answer_id BIGINT;
ALTER TABLE messages ADD COLUMN due_at TEXT;

-- Open questions (GET /obligations): owed by their recipient, awaited by
-- their sender, and the whole mesh's for the operator.
CREATE INDEX messages_owed ON messages(to_node, id) WHERE kind = 'question' AND answer_id IS NULL;
CREATE INDEX messages_awaiting ON messages(from_node, id) WHERE kind = 'question' AND answer_id IS NULL;
CREATE INDEX messages_open ON messages(id) WHERE kind = 'question' AND answer_id IS NULL;
