//! `/ui/events`: new DMs as Server-Sent Events for the overview's live list.
//!
//! Scoped like every console read: the events come from `GET /messages`
//! with the session's token (`peek=true`), so a peer session gets only
//! DMs it sent or received. Each event is small JSON (`id`, `from`, `to`,
//! `kind`, `created_at`, `thread_id`, `preview`, `cut`); app.js renders it
//! with `textContent`. A session holds at most
//! [`UiConfig::streams_per_session`](super::UiConfig) streams (a new one
//! ends its oldest); a stream ends with its session.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use meshgate_proto::{ErrorBody, ListQuery, MessageList};
use serde_json::json;
use tokio::sync::watch;

use super::layout::{cut, PREVIEW_CHARS};
use super::session::{Session, StreamSlot};
use super::{Console, Ui};
use crate::error::ApiError;
use crate::input::uri_with_query;

/// DMs read per wake-up.
const PAGE: u32 = 100;

/// How often an idle stream checks whether its session expired.
const EXPIRY_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /ui/events?after=ID` (or `Last-Event-ID`): DMs with a larger id as
/// they commit; without either, from now on.
pub(crate) async fn stream(console: Ui, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let Some(session) = console.session_of(&parts) else {
        return ApiError::unauthorized("no_session", "log in to the console first").into_response();
    };
    if let Err(e) = crate::conns::mark_authenticated(&parts.extensions, session.peer()) {
        return e.into_response();
    }
    let given = parts.headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| {
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "after")
            .map(|(_, v)| v.into_owned())
    });
    let cursor = match given {
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => {
                return ApiError::bad_request("invalid_parameter", "after must be a message id (0 or more)")
                    .into_response()
            }
        },
        None => match console.get::<MessageList>(&session, &newest_uri()).await {
            Ok(l) => l.messages.first().map_or(0, |m| m.id),
            Err(f) => {
                let body = ErrorBody { error: f.code, detail: f.detail, suggestions: Vec::new() };
                return (f.status, axum::Json(body)).into_response();
            }
        },
    };
    let console = Arc::clone(&console.0);
    let slot = session.open_stream(console.sessions.config().streams_per_session);
    let wake = console.state.hub().subscribe(session.peer());
    let keep_alive = console.state.config().keep_alive;
    let live = Live { console, session, slot, wake, cursor, pending: VecDeque::new(), dirty: true };
    let events = stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(event), live))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive)).into_response()
}

/// One open stream.
struct Live {
    console: Arc<Console>,
    session: Arc<Session>,
    slot: StreamSlot,
    wake: watch::Receiver<i64>,
    cursor: i64,
    pending: VecDeque<Event>,
    /// A commit may have brought new DMs: read before waiting again.
    dirty: bool,
}

impl Live {
    /// The next event; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if !self.console.sessions.still_live(&self.session) {
                return None;
            }
            // Read after a commit (or a non-empty page); after the expiry
            // check alone there is nothing new.
            if std::mem::take(&mut self.dirty) {
                self.wake.borrow_and_update();
                let page = ListQuery { after_id: Some(self.cursor), ..peek(PAGE) };
                let uri = uri_with_query("/messages", &page.pairs());
                // A refusal (the token died, the store is gone) ends the stream;
                // EventSource reconnects and the new request says why.
                let list = self.console.get::<MessageList>(&self.session, &uri).await.ok()?;
                for m in &list.messages {
                    let (preview, was_cut) = cut(&m.content, PREVIEW_CHARS);
                    // As pages show it (`layout::respond`): no raw bidi or controls.
                    let preview = meshgate_proto::framing::show_hidden(preview);
                    let data = json!({
                        "id": m.id, "from": m.from_node, "to": m.to_node, "kind": m.kind.as_str(),
                        "created_at": m.created_at, "thread_id": m.thread_id, "preview": preview, "cut": was_cut,
                    });
                    self.pending.push_back(Event::default().id(m.id.to_string()).event("dm").data(data.to_string()));
                    self.cursor = self.cursor.max(m.id);
                }
                if !self.pending.is_empty() {
                    self.dirty = true;
                    continue;
                }
            }
            tokio::select! {
                changed = self.wake.changed() => {
                    changed.ok()?;
                    self.dirty = true;
                }
                _ = self.session.ended() => return None,
                _ = self.slot.evicted() => return None,
                _ = self.console.state.stopping() => return None,
                // Looks at the session's expiry now and then.
                _ = tokio::time::sleep(EXPIRY_CHECK) => {}
            }
        }
    }
}

/// A console read of up to `limit` DMs: `peek`, so looking records no
/// delivery.
pub(crate) fn peek(limit: u32) -> ListQuery {
    ListQuery { peek: Some(true), limit: Some(limit), ..ListQuery::default() }
}

/// The newest DM the console's caller may see (the stream's start).
fn newest_uri() -> String {
    uri_with_query("/messages", &peek(1).pairs())
}
