//! Receipts, replies and obligations: what became of a DM, answering one,
//! and the questions still open.

use meshgate_proto::{Kind, MessageStatus, Obligations, ObligationsQuery, SendResponse};

use crate::error::Result;
use crate::guard;
use crate::{Client, SendOptions};

impl Client {
    /// Replies to message `id` with `content` of `kind`: the gateway sends
    /// it to the other party of `id`, in its thread. An `answer` to a
    /// `question` becomes its answer (the first one wins). This peer must be
    /// a party to `id` (else [`crate::Error`] not found). The content is
    /// scanned for credentials before anything leaves.
    pub async fn reply(&self, id: i64, content: &str, kind: Kind) -> Result<SendResponse> {
        self.reply_with(id, content, kind, SendOptions::new()).await
    }

    /// [`Client::reply`] with options (idempotency key, deadline for a
    /// question, ...); `options.in_reply_to` is set to `id`.
    pub async fn reply_with(&self, id: i64, content: &str, kind: Kind, options: SendOptions) -> Result<SendResponse> {
        guard::check(content, &self.known_secrets(), options.skip_secret_check)?;
        // No recipient: the gateway picks the other party (`to_node` is not written).
        let body = options.in_reply_to(id).request(self.node(), "", kind, content);
        self.post(&["messages"], &body).await
    }

    /// `GET /messages/{id}`: the message with its ladder (`delivered_at`,
    /// `read_at`, `answer_id`, `in_reply_to`, `due_at`). Only its sender and
    /// recipient (and the operator) see it; anyone else gets not found.
    pub async fn status(&self, id: i64) -> Result<MessageStatus> {
        self.get(&["messages", &id.to_string()], &[]).await
    }

    /// `GET /obligations?peer=<this node>`: questions it owes an answer to
    /// and its own questions still unanswered, overdue first, then oldest.
    /// Naming the node also scopes a shared operator token to it.
    pub async fn obligations(&self) -> Result<Obligations> {
        self.obligations_of(Some(self.node())).await
    }

    /// `GET /obligations?peer=NAME` (operator token), or the whole mesh
    /// with `None`.
    pub async fn obligations_of(&self, peer: Option<&str>) -> Result<Obligations> {
        let query = ObligationsQuery { peer: peer.map(str::to_owned), ..ObligationsQuery::default() };
        self.get(&["obligations"], &query.pairs()).await
    }
}

/// The kind `meshgate reply` uses by default: `answer` to a question,
/// `fyi` to anything else.
pub fn default_reply_kind(to: &MessageStatus) -> Kind {
    if to.message.kind == Kind::Question {
        Kind::Answer
    } else {
        Kind::Fyi
    }
}
