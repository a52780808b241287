-- meshgate schema, version 5: receipts, replies and obligations. Never
-- edit this file once released.

-- The delivery ladder of a DM: first hand-over to its recipient (set once,
-- by the gateway's delivery batcher), the message it replies to, and for a
-- question its first answer and its deadline.
ALTER TABLE messages ADD COLUMN delivered_at TEXT;
ALTER TABLE messages ADD COLUMN in_reply_to BIGINT;
ALTER TABLE messages ADD COLUMN answer_id BIGINT;
ALTER TABLE messages ADD COLUMN due_at TEXT;

-- true when the sender authenticated with its own per-peer token (the gateway
-- vouches for from_node); false for the operator or a shared legacy token.
ALTER TABLE messages ADD COLUMN sender_verified BOOLEAN NOT NULL DEFAULT false;

-- Receipt events for the sender's stream (`GET /messages/stream?receipts=true`):
-- every change of the ladder (delivered, read, answered) stamps the row with
-- the next receipt_seq, in commit order, so a stream follows (receipt_seq, id)
-- as a cursor, on any replica.
ALTER TABLE messages ADD COLUMN receipt_seq BIGINT;
CREATE INDEX messages_receipts ON messages(from_node, receipt_seq, id) WHERE receipt_seq IS NOT NULL;

-- Open questions (GET /obligations): owed by their recipient, awaited by
-- their sender, and the whole mesh's for the operator.
CREATE INDEX messages_owed ON messages(to_node, id) WHERE kind = 'question' AND answer_id IS NULL;
CREATE INDEX messages_awaiting ON messages(from_node, id) WHERE kind = 'question' AND answer_id IS NULL;
CREATE INDEX messages_open ON messages(id) WHERE kind = 'question' AND answer_id IS NULL;

-- The receipt counter; its row is locked by each ladder change until commit,
-- so receipt_seq values commit in order across replicas.
CREATE TABLE receipt_seq (last BIGINT NOT NULL);
INSERT INTO receipt_seq (last) VALUES (0);
