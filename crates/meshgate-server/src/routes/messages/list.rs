//! `GET /messages`: a page of DMs (filters, `after_id` cursor), or a
//! long-poll (`wait`); the query parser the SSE stream shares.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use meshgate_proto::{
    ErrorBody, Kind, ListQuery, MessageList, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, PAGE_BYTES_DEFAULT, WAIT_MAX_SECS,
};
use meshgate_store::{parse_timestamp, MessageQuery, Order};

use super::page::{self, Page};
use super::wait::{Stop, Wait, Waiter};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::input::Query;
use crate::routes::filter_name;
use crate::session::{LiveKind, Session};
use crate::state::AppState;

/// Query parameters `GET /messages` accepts; anything else is a 400.
pub const LIST_PARAMS: &[&str] = ListQuery::PARAMS;

/// `GET /messages`: filters, `after_id` cursor (oldest first), `wait` long-poll.
#[utoipa::path(
    get,
    path = "/messages",
    operation_id = "list_messages",
    tag = "messages",
    params(ListQuery),
    responses(
        (status = 200, body = MessageList),
        (status = 400, description = "unknown parameter or kind, bad since", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (
            status = 401,
            description = "missing, unknown or revoked token; token_revoked when it died during a long-poll",
            body = ErrorBody
        ),
        (
            status = 429,
            description = "too_many_requests / too_many_bytes: the peer has too much in flight (at its long-poll \
                           cap, the oldest waiting long-poll answers instead)",
            body = ErrorBody
        ),
    )
)]
pub(super) async fn list(State(state): State<AppState>, auth: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    auth.require_peer_token_if_configured(&state)?;
    let ListRequest { mut q, wait, deliver_to, .. } =
        parse_list_query(&state, &auth, raw.as_deref(), LIST_PARAMS, "/messages", Names::InPageQuery).await?;
    q.max_bytes = state.config().page_max_bytes;
    // The rows are encoded as the store reads them (see `page`).
    let deliver_to = deliver_to.as_deref();
    let list = if wait.is_zero() {
        page::read_cached(&state, &q, deliver_to).await?
    } else {
        long_poll(&state, &auth, &q, deliver_to, wait).await?
    };
    state.deliveries().enqueue(&list.delivered);
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], list.body).into_response())
}

/// A parsed and authorised `GET /messages` (or stream) request.
pub(crate) struct ListRequest {
    /// What to read.
    pub q: MessageQuery,
    /// `wait=`: how long a long-poll may wait for a first row.
    pub wait: Duration,
    /// `receipts=true` (the stream's parameter).
    pub receipts: bool,
    /// Who this read hands messages over to (recorded as `delivered_at`):
    /// a peer reading with its own token, or a shared-token agent reading
    /// `to=X`; `peek=true` records nothing.
    pub deliver_to: Option<String>,
}

/// Where the aliases in a list query's `to` and `from` resolve to their
/// peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    /// Before the read ([`filter_name`]): the query carries the peers'
    /// own names, which a long-poll and a stream need (their wake-up key,
    /// their session slot, a stream's receipts).
    Resolved,
    /// For an operator's plain page read (no `wait`): inside the page's
    /// own statement ([`MessageQuery::resolve_aliases`]), which saves a
    /// store lookup per read and still sees the aliases of the moment.
    /// A peer token's names are resolved first all the same: whether it
    /// may read them depends on whose they are.
    InPageQuery,
}

/// Parses and authorises a list query (shared with the SSE stream, whose
/// `params` add `receipts`). Aliases in `to` and `from` resolve to their
/// peers as `names` says.
pub(crate) async fn parse_list_query(
    state: &AppState,
    auth: &Auth,
    raw: Option<&str>,
    params: &[&str],
    endpoint: &str,
    names: Names,
) -> ApiResult<ListRequest> {
    let query = Query::parse(raw, params, endpoint)?;
    let list = read_list_query(&query)?;
    let receipts = query.bool("receipts")?;
    let ListQuery { to, from, thread_id, kind, unread_only, since, limit, after_id, wait, peek } = list;
    let in_store = names == Names::InPageQuery && auth.peer().is_none() && wait.unwrap_or(0) == 0;
    let (to, from) = match in_store {
        true => (to, from),
        false => (filter_name(state, auth, to).await?, filter_name(state, auth, from).await?),
    };
    let involving = match auth.peer() {
        None => None,
        Some(me) => {
            let own = to.as_deref() == Some(me) || from.as_deref() == Some(me);
            if !own && (to.is_some() || from.is_some()) {
                return Err(ApiError::forbidden(
                    "forbidden",
                    format!("a peer token reads only its own messages; this token belongs to {me:?}"),
                ));
            }
            Some(me.to_owned())
        }
    };
    let deliver_to = match peek.unwrap_or(false) {
        true => None,
        false => auth.peer().map(str::to_owned).or_else(|| to.clone()),
    };
    let q = MessageQuery {
        to,
        from,
        involving,
        thread_id,
        kind,
        unread_only: unread_only.unwrap_or(false),
        since: since.as_deref().map(parse_since).transpose()?,
        after_id,
        limit: limit.unwrap_or(LIST_LIMIT_DEFAULT),
        order: if after_id.is_some() { Order::OldestFirst } else { Order::NewestFirst },
        max_bytes: PAGE_BYTES_DEFAULT,
        resolve_aliases: in_store,
    };
    Ok(ListRequest { q, wait: Duration::from_secs(wait.unwrap_or(0)), receipts, deliver_to })
}

/// The [`ListQuery`] a request's parameters give, each value checked
/// (empty `kind`, `since` and `thread_id` are "not given").
fn read_list_query(query: &Query) -> ApiResult<ListQuery> {
    let to = query.first_of(&["to", "to_node"]).map(str::to_owned);
    let from = query.first_of(&["from", "from_node"]).map(str::to_owned);
    let kind = match query.get("kind").filter(|k| !k.is_empty()) {
        Some(k) => Some(k.parse::<Kind>().map_err(|e| ApiError::bad_request("unknown_kind", e.to_string()))?),
        None => None,
    };
    let since = query.get("since").filter(|s| !s.is_empty());
    if let Some(s) = since {
        parse_since(s)?;
    }
    let after_id = query.int("after_id", 0, i64::MAX)?;
    let limit = query.int("limit", 1, LIST_LIMIT_MAX.into())?.map(|l| l as u32);
    let wait = query.int("wait", 0, WAIT_MAX_SECS as i64)?.map(|w| w as u64);
    let flag = |name| query.get(name).map(|_| query.bool(name)).transpose();
    Ok(ListQuery {
        to,
        from,
        thread_id: query.get("thread_id").filter(|t| !t.is_empty()).map(str::to_owned),
        kind,
        unread_only: flag("unread_only")?,
        since: since.map(str::to_owned),
        limit,
        after_id,
        wait,
        peek: flag("peek")?,
    })
}

fn parse_since(s: &str) -> ApiResult<meshgate_store::Timestamp> {
    parse_timestamp(s).ok_or_else(|| {
        ApiError::bad_request("invalid_since", "since must be an ISO 8601 timestamp, e.g. 2026-01-01T00:00:00+00:00")
    })
}

/// Answers at once if anything matches, else waits for a matching commit
/// ([`Waiter`]). Counts against the peer's `--max-polls-per-peer`, and
/// answers 401 `token_revoked` once its token dies (see [`Session`]).
async fn long_poll(
    state: &AppState,
    auth: &Auth,
    q: &MessageQuery,
    deliver_to: Option<&str>,
    wait: Duration,
) -> ApiResult<Page> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut waiter = Waiter::open(state, auth, LiveKind::Poll, q).await?;
    loop {
        waiter.mark_seen();
        if waiter.session.dead().await {
            return Err(Session::revoked_error());
        }
        let list = page::read_cached(state, q, deliver_to).await?;
        if list.n > 0 {
            return Ok(list);
        }
        match waiter.wait(state, Some(deadline), std::future::pending()).await {
            Wait::Changed | Wait::Extra => continue,
            Wait::Stop(Stop::Revoked) => return Err(Session::revoked_error()),
            // Deadline, shutdown, or a newer long-poll of the same peer
            // took this one's slot: the empty page.
            Wait::Stop(Stop::Deadline | Stop::Shutdown | Stop::Evicted) => return Ok(list),
        }
    }
}
