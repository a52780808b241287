//! Live delivery over Server-Sent Events.
//!
//! The table is the buffer: the stream holds a cursor (the last id sent)
//! and reads at most one page past it whenever the store signals a commit.
//! A slow consumer only delays its own reads; nothing queues in memory.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use meshgate_proto::Message;
use meshgate_store::{MessageQuery, Order};
use tokio::sync::watch;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::routes::messages::{parse_list_query, wake_key};
use crate::state::AppState;
use meshgate_proto::ErrorBody;

const PAGE: u32 = 100;

/// `GET /messages/stream`: the caller's inbox as SSE (`id` = message id,
/// `data` = the message row). Resumes after `Last-Event-ID` or `after_id`;
/// without either, starts with messages committed from now on.
#[utoipa::path(get, path = "/messages/stream", tag = "messages", params(("to" = Option<String>, Query, description = "operator: whose inbox"), ("after_id" = Option<i64>, Query, description = "resume after this id"), ("Last-Event-ID" = Option<i64>, Header, description = "resume after this id")), responses((status = 200, description = "text/event-stream; each event: id = message id, data = Message JSON", content_type = "text/event-stream"), (status = 401, description = "missing, unknown or revoked token", body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    auth.require_peer_token_if_configured(&state)?;
    let (mut q, _) = parse_list_query(&auth, raw.as_deref())?;
    if let Some(me) = auth.peer() {
        // A peer streams its own inbox; `from=` narrows it.
        q.to = Some(me.to_owned());
        q.involving = None;
    }
    let last_event = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::invalid("invalid_parameter", "Last-Event-ID must be a message id"))?,
        ),
        None => None,
    };
    // Subscribe before choosing the starting point, so nothing committed
    // in between is missed.
    let wake = state.hub().subscribe(wake_key(&q));
    let cursor = match last_event.or(q.after_id) {
        Some(id) => id,
        None => *state.store().subscribe().borrow(),
    };
    q.order = Order::OldestFirst;
    q.limit = PAGE;
    q.unread_only = false;
    let keep_alive = state.config().keep_alive;
    let feed = Feed { state, q, cursor, wake, ready: VecDeque::new() };
    let events = stream::unfold(feed, |mut feed| async move {
        let msg = feed.next().await?;
        let event = Event::default()
            .id(msg.id.to_string())
            .event("message")
            .json_data(&msg)
            .unwrap_or_else(|_| Event::default().comment("unencodable message"));
        Some((Ok(event), feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive")))
}

struct Feed {
    state: AppState,
    q: MessageQuery,
    cursor: i64,
    wake: watch::Receiver<i64>,
    ready: VecDeque<Message>,
}

impl Feed {
    /// The next message past the cursor, waiting for commits as needed.
    /// `None` ends the stream (store gone for good).
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(m) = self.ready.pop_front() {
                self.cursor = m.id;
                return Some(m);
            }
            self.wake.borrow_and_update();
            self.q.after_id = Some(self.cursor);
            match self.state.store().list_messages(&self.q).await {
                Ok(rows) if !rows.is_empty() => {
                    self.ready.extend(rows);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "stream read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
            tokio::select! {
                changed = self.wake.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.state.stopping() => return None,
            }
        }
    }
}
