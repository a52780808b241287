//! Live delivery over Server-Sent Events.
//!
//! The table is the buffer: the stream holds a cursor (the last id sent)
//! and reads at most one small page past it whenever the store signals a
//! commit: up to [`PAGE`] rows and [`PAGE_BYTES`] of encoded rows (always at
//! least one row). A slow or stalled consumer only delays its own reads;
//! what a stream holds in memory is that page plus the event being written.
//! A stream counts against its peer's `--max-streams-per-peer` (a newer
//! one beyond it ends the oldest) and ends when its token is rotated or
//! revoked or its peer disabled or deleted (see [`crate::session`]).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use meshgate_proto::{Message, Receipt, StreamQuery};
use meshgate_store::{MessageQuery, Order};

use super::list::{parse_list_query, ListRequest, Names};
use super::wait::{Wait, Waiter};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::routes::endpoint::responses::Unauthorized;
use crate::session::LiveKind;
use crate::state::AppState;
use meshgate_proto::ErrorBody;

/// Rows a stream reads at a time.
pub const PAGE: u32 = 100;
/// Encoded bytes a stream reads at a time (at least one row).
pub const PAGE_BYTES: usize = 256 << 10;

/// `GET /messages/stream`: the caller's inbox as SSE (`id` = message id,
/// `data` = the message row). Resumes after `Last-Event-ID` or `after_id`;
/// without either, starts with messages committed from now on. With
/// `receipts=true` it also carries `delivered`, `read` and `answered`
/// events (no `id`; `data` = a [`Receipt`]) for the peer's own DMs, from
/// the stream's start on, polled every [`RECEIPT_POLL`]. Its parameters are
/// [`StreamQuery`]'s: the list's filters, without its `limit`, `wait` and
/// `unread_only` (refused: a stream pages, waits and sends every new DM
/// by itself).
#[utoipa::path(
    get,
    path = "/messages/stream",
    tag = "messages",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "resume after this id"),
    ),
    responses(
        (
            status = 200,
            description = "text/event-stream; each event: id = message id, data = Message JSON",
            content_type = "text/event-stream"
        ),
        (status = 400, description = "unknown_parameter (also limit, wait, unread_only), duplicate_parameter, unknown_kind, bad since", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "forbidden: a peer token streams its own inbox; peer_token_required", body = ErrorBody),
        (status = 422, description = "invalid_parameter: a bad after_id, peek, receipts or Last-Event-ID; receipts=true without a peer", body = ErrorBody),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    auth.require_peer_token_if_configured(&state)?;
    let ListRequest { mut q, receipts, deliver_to, .. } =
        parse_list_query(&state, &auth, raw.as_deref(), StreamQuery::PARAMS, "/messages/stream", Names::Resolved)
            .await?;
    if let Some(me) = auth.peer() {
        // A peer streams its own inbox; `from=` narrows it. `to=` naming
        // another peer (allowed on the list beside `from=` itself: the
        // peer's sent DMs) is refused rather than replaced.
        if q.to.as_deref().is_some_and(|to| to != me) {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("a peer token streams only its own inbox; this token belongs to {me:?}"),
            ));
        }
        q.to = Some(me.to_owned());
        q.involving = None;
    }
    // Checked before the stream takes a slot (a refused request must not
    // end one of the peer's open streams).
    let receipts_of = match receipts {
        false => None,
        true => Some(q.to.clone().ok_or_else(|| {
            ApiError::invalid(
                "invalid_parameter",
                "receipts=true follows one peer's DMs: use its token, or to=NAME with the operator token",
            )
        })?),
    };
    // As `after_id`: one value, a message id (0 or more).
    let mut given = headers.get_all("last-event-id").iter();
    let last_event = match (given.next(), given.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "duplicate_parameter",
                "the Last-Event-ID header is given more than once on /messages/stream; give it once",
            ))
        }
        (Some(v), None) => {
            Some(v.to_str().ok().and_then(|s| s.trim().parse::<i64>().ok()).filter(|id| *id >= 0).ok_or_else(|| {
                ApiError::invalid("invalid_parameter", "Last-Event-ID must be a message id (0 or more)")
            })?)
        }
    };
    // Subscribes before choosing the starting point, so nothing committed
    // in between is missed.
    let waiter = Waiter::open(&state, &auth, LiveKind::Stream, &q).await?;
    let cursor = match last_event.or(q.after_id) {
        Some(id) => id,
        None => *state.store().subscribe().borrow(),
    };
    q.order = Order::OldestFirst;
    q.limit = PAGE;
    q.max_bytes = PAGE_BYTES;
    q.unread_only = false;
    let receipts = match receipts_of {
        None => None,
        Some(sender) => Some(Receipts::start(&state, sender).await?),
    };
    let keep_alive = state.config().keep_alive;
    let feed = Feed { state, q, deliver_to, cursor, waiter, ready: VecDeque::new(), receipts };
    let events = stream::unfold(feed, |mut feed| async move {
        let event = match feed.next().await? {
            Item::Message(msg) => Event::default().id(msg.id.to_string()).event("message").json_data(&msg),
            // No `id`: Last-Event-ID stays the message cursor.
            Item::Receipt(r) => Event::default().event(r.event.clone()).json_data(&r),
        };
        Some((Ok(event.unwrap_or_else(|_| Event::default().comment("unencodable event"))), feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive")))
}

struct Feed {
    state: AppState,
    q: MessageQuery,
    /// The peer this stream hands messages over to (see `ListRequest`).
    deliver_to: Option<String>,
    cursor: i64,
    waiter: Waiter,
    ready: VecDeque<Message>,
    receipts: Option<Receipts>,
}

/// What a stream sends: a DM to the peer, or a receipt of one of its own.
enum Item {
    Message(Message),
    Receipt(Receipt),
}

/// How often a stream with `receipts=true` looks for new receipts. The
/// store is the truth on every replica (a `(receipt_seq, id)` cursor), so
/// a receipt written by another replica arrives within this delay.
pub const RECEIPT_POLL: Duration = Duration::from_secs(1);

/// The receipt side of a stream: the sender whose DMs it follows, its
/// cursor, a page read ahead, and the poll timer.
struct Receipts {
    sender: String,
    cursor: (i64, i64),
    ready: VecDeque<Receipt>,
    tick: tokio::time::Interval,
    due: bool,
}

impl Receipts {
    /// Receipts of `sender`'s own DMs, from now on.
    async fn start(state: &AppState, sender: String) -> ApiResult<Receipts> {
        let head = state.store().receipt_head().await?;
        let mut tick = tokio::time::interval(RECEIPT_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Past every row stamped with `head` (a delivery batch stamps many
        // rows with one number): only changes after the start are sent.
        Ok(Receipts { sender, cursor: (head, i64::MAX), ready: VecDeque::new(), tick, due: false })
    }
}

impl Feed {
    /// The next message past the cursor, waiting for commits as needed.
    /// `None` ends the stream (store gone for good, shutdown, the stream's
    /// token is dead, or a newer stream of its peer took its slot).
    async fn next(&mut self) -> Option<Item> {
        loop {
            if self.waiter.session.evicted() || self.waiter.session.dead().await {
                return None;
            }
            if let Some(m) = self.ready.pop_front() {
                self.cursor = m.id;
                if self.deliver_to.as_deref() == Some(m.to_node.as_str()) {
                    self.state.deliveries().enqueue(&[m.id]);
                }
                return Some(Item::Message(m));
            }
            if let Some(rc) = self.receipts.as_mut() {
                if let Some(r) = rc.ready.pop_front() {
                    return Some(Item::Receipt(r));
                }
                if rc.due {
                    rc.due = false;
                    match self.state.store().receipts(&rc.sender, rc.cursor, PAGE).await {
                        Ok(rows) => {
                            if let Some(last) = rows.last() {
                                rc.cursor = (last.seq, last.id);
                                rc.due = true; // a full page may have more
                                rc.ready.extend(rows);
                                continue;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "receipt read failed; retrying"),
                    }
                }
            }
            self.waiter.mark_seen();
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
            let receipts = &mut self.receipts;
            let receipt_tick = async {
                match receipts.as_mut() {
                    Some(rc) => {
                        rc.tick.tick().await;
                        rc.due = true;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            match self.waiter.wait(&self.state, None, receipt_tick).await {
                Wait::Changed | Wait::Extra => {}
                Wait::Stop(_) => return None,
            }
        }
    }
}
