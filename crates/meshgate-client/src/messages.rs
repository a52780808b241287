//! Messages: [`Client::send`] and its [`SendOptions`], inbox reads and
//! read receipts.

//! [`Client`]: one peer's connection to one gateway.

use std::sync::atomic::Ordering;
use std::time::Duration;

use meshgate_proto::{
    validate_peer_name, Kind, MarkRead, MarkReadBulk, MarkReadBulkResponse, Message, MessageList, SendRequest,
    SendResponse, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX,
};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};

use crate::client::{is_missing_route, parse_error_body};
use crate::guard;
use crate::registry;
use crate::{Client, Error, FetchOptions, Result};

/// Most times a send refused with 429 and `Retry-After` is sent again.
pub const SEND_RETRIES_MAX: u32 = 3;
/// Most time one send spends waiting out `Retry-After`s; a longer wait
/// (a tripped conversation loop) fails at once with [`Error::Throttled`].
pub const SEND_RETRY_WAIT_MAX: Duration = Duration::from_secs(30);

/// Extra rows asked for when the own inbox is read, to make up for rows the
/// client drops because this peer sent them.
const OWN_ROWS_SLACK: u32 = 8;

/// The optional parts of [`Client::send`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Id (a UUID) of the thread the message belongs to.
    pub thread_id: Option<String>,
    /// Free-form task reference.
    pub related_task_id: Option<String>,
    /// A retry with the same key returns the original message instead of
    /// storing a second one.
    pub idempotency_key: Option<String>,
    /// Skips the pattern scanner (client and gateway) for a known false
    /// positive. The client's own tokens are refused regardless.
    pub skip_secret_check: bool,
    /// The message this one replies to (see [`Client::reply`]).
    pub in_reply_to: Option<i64>,
    /// A question's deadline, RFC 3339 (excludes `due_in`).
    pub due_at: Option<String>,
    /// A question's deadline in seconds from now (excludes `due_at`).
    pub due_in: Option<u64>,
}

impl SendOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts the message in thread `thread_id` (a UUID from
    /// [`Client::mint_thread`], [`Thread::thread_uuid`](crate::Thread) on
    /// the wire).
    pub fn thread_id(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// Sets the thread id.
    #[deprecated(note = "use SendOptions::thread_id (one name for a thread's id across the crate)")]
    pub fn thread(self, thread_id: impl Into<String>) -> Self {
        self.thread_id(thread_id)
    }

    /// Sets the task reference.
    pub fn task(mut self, related_task_id: impl Into<String>) -> Self {
        self.related_task_id = Some(related_task_id.into());
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Skips the pattern scanner (see the field).
    pub fn skip_secret_check(mut self, skip: bool) -> Self {
        self.skip_secret_check = skip;
        self
    }

    /// The `POST /messages` body of these options.
    pub(crate) fn request(self, from: &str, to: &str, kind: Kind, content: &str) -> SendRequest {
        SendRequest {
            from_node: Some(from.to_owned()),
            to_node: to.to_owned(),
            kind,
            content: content.to_owned(),
            thread_id: self.thread_id,
            related_task_id: self.related_task_id,
            idempotency_key: self.idempotency_key,
            skip_secret_check: self.skip_secret_check,
            in_reply_to: self.in_reply_to,
            due_at: self.due_at,
            due_in: self.due_in,
        }
    }

    /// Replies to message `id` (this peer must be a party to it).
    pub fn in_reply_to(mut self, id: i64) -> Self {
        self.in_reply_to = Some(id);
        self
    }

    /// A question's deadline as an RFC 3339 instant.
    pub fn due_at(mut self, at: impl Into<String>) -> Self {
        self.due_at = Some(at.into());
        self
    }

    /// A question's deadline in seconds from now.
    pub fn due_in(mut self, secs: u64) -> Self {
        self.due_in = Some(secs);
        self
    }
}

impl Client {
    // ---- messages -----------------------------------------------------

    /// `POST /messages`, after the credential guard and the recipient check.
    ///
    /// Order: the guard (local, so a secret is refused even when the gateway
    /// is down), then the recipient's format, alias and registration, then
    /// the POST. Any refusal happens before the POST is sent.
    pub async fn send(&self, to: &str, kind: Kind, content: &str, options: SendOptions) -> Result<SendResponse> {
        guard::check(content, &self.known_secrets(), options.skip_secret_check)?;
        let recipient = self.resolve_recipient(to).await?;
        let body = options.request(&self.node, &recipient.canonical, kind, content);
        let (status, bytes) = self.post_throttled(&body).await?;
        if status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN {
            let (code, _, suggestions) = parse_error_body(status, &bytes);
            if code == "unknown_recipient" || code == "recipient_disabled" {
                // The registry changed between our check and the POST.
                registry::forget(&self.gateway_key).await;
            }
            if code == "unknown_recipient" {
                return Err(Error::NotInRegistry { name: recipient.canonical, suggestions });
            }
            if code == "recipient_disabled" {
                return Err(Error::RecipientDisabled { name: recipient.canonical });
            }
        }
        let mut sent: SendResponse = self.decode(status, &bytes, "POST /messages")?;
        if sent.resolved_from.is_none() {
            sent.resolved_from = recipient.alias;
        }
        Ok(sent)
    }

    /// `GET /messages`, newest first: the inbox `options` name (this
    /// peer's by default), at most `options.limit` rows (default 100, at
    /// most 1000), e.g. `client.fetch(FetchOptions::unread().limit(20))`.
    ///
    /// Reading the own inbox drops rows this peer sent itself, as the Python
    /// client does, but still returns `limit` rows when that many exist: it
    /// over-asks and doubles the request until it has enough or the gateway
    /// has no more (the reference has no cursor for newest-first reads).
    /// [`FetchOptions::peek`] sends `peek=true`, which the Python reference
    /// gateway does not know (it answers 400).
    pub async fn fetch(&self, options: FetchOptions) -> Result<Vec<Message>> {
        let target = options.to.as_deref().unwrap_or(&self.node);
        validate_peer_name(target)?;
        let want = options.limit.unwrap_or(LIST_LIMIT_DEFAULT).clamp(1, LIST_LIMIT_MAX);
        let own_inbox = target == self.node;
        let mut ask = if own_inbox { want.saturating_add(OWN_ROWS_SLACK).min(LIST_LIMIT_MAX) } else { want };
        loop {
            let query = meshgate_proto::ListQuery {
                to: Some(target.to_owned()),
                limit: Some(ask),
                unread_only: options.unread_only.then_some(true),
                peek: options.peek.then_some(true),
                ..Default::default()
            };
            let list: MessageList = self.get(&["messages"], &query.pairs()).await?;
            let exhausted = list.messages.len() < ask as usize;
            let mut rows = list.messages;
            if own_inbox {
                rows.retain(|m| m.from_node != self.node);
            }
            if rows.len() >= want as usize || exhausted || ask == LIST_LIMIT_MAX {
                rows.truncate(want as usize);
                return Ok(rows);
            }
            ask = ask.saturating_mul(2).min(LIST_LIMIT_MAX);
        }
    }

    /// `POST /messages/{id}/read`. meshgate keeps the first `read_at`; the
    /// reference gateway answers 404 for a message already read.
    pub async fn mark_read(&self, id: i64) -> Result<MarkRead> {
        let id_segment = id.to_string();
        self.post(&["messages", &id_segment, "read"], &Value::Object(Map::new())).await
    }

    /// `POST /messages/read` in one request, or one request per id when the
    /// gateway lacks the bulk endpoint (ids answered 404 land in
    /// `not_found`).
    pub async fn mark_read_many(&self, ids: &[i64]) -> Result<MarkReadBulkResponse> {
        if ids.is_empty() {
            return Ok(MarkReadBulkResponse { marked: Vec::new(), not_found: Vec::new() });
        }
        if !self.bulk_read_missing.load(Ordering::Relaxed) {
            let body = MarkReadBulk { ids: ids.to_vec() };
            match self.post(&["messages", "read"], &body).await {
                Err(e) if is_missing_route(&e) => {
                    tracing::debug!(gateway = %self.gateway_key, "gateway has no POST /messages/read; marking one by one");
                    self.bulk_read_missing.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        let mut out = MarkReadBulkResponse { marked: Vec::with_capacity(ids.len()), not_found: Vec::new() };
        for &id in ids {
            match self.mark_read(id).await {
                Ok(marked) => out.marked.push(marked),
                Err(e) if e.is_not_found() => out.not_found.push(id),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `POST /messages` with `body`, honouring a 429's `Retry-After`: the
    /// same body (so the same idempotency key) is sent again after the
    /// wait, at most [`SEND_RETRIES_MAX`] times and [`SEND_RETRY_WAIT_MAX`]
    /// of waiting in all; then [`Error::Throttled`]. A 429 means nothing
    /// was stored, so a retry never sends a DM twice.
    async fn post_throttled(&self, body: &SendRequest) -> Result<(StatusCode, Vec<u8>)> {
        let mut waited = Duration::ZERO;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = self.authorized(Method::POST, &["messages"]).json(body);
            let (status, retry_after, bytes) = self.round_trip_timed(request).await?;
            if status != StatusCode::TOO_MANY_REQUESTS {
                return Ok((status, bytes));
            }
            let wait = retry_after.map(Duration::from_secs);
            match wait {
                Some(wait) if attempts <= SEND_RETRIES_MAX && waited + wait <= SEND_RETRY_WAIT_MAX => {
                    tracing::info!(wait_secs = wait.as_secs(), attempts, "gateway throttled the send; retrying");
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                _ => {
                    let (code, detail, _) = parse_error_body(status, &bytes);
                    return Err(Error::Throttled { code, detail, retry_after, attempts });
                }
            }
        }
    }
}
