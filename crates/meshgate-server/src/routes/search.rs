//! `GET /messages/search`: full-text search over DMs.
//!
//! Owns the HTTP side of search: parameters, the scope rule and the
//! snippets. The query language is parsed once ([`meshgate_store::parse_query`])
//! and backends only ever see its words, quoted; every input is either
//! searched or a 400 `invalid_query`. Scope is the rule of every read: a
//! peer token finds only DMs it sent or received (`from`/`to` naming
//! others only narrow, to nothing); the operator finds all. A search is a
//! lookup, not a hand-over: it records no `delivered_at`.

use axum::extract::{RawQuery, State};
use axum::Json;
use meshgate_proto::{ErrorBody, Kind, SearchHit, SearchParams, SearchResults, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX};
use meshgate_store::{parse_query, parse_timestamp, snippet, SearchQuery, Timestamp, SEARCH_BUDGET_DEFAULT};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::input::Query;
use crate::routes::endpoint::responses::Unauthorized;
use crate::routes::endpoint::Endpoints;
use crate::routes::filter_name;
use crate::state::AppState;

/// Query parameters `GET /messages/search` accepts; anything else is a 400.
pub const SEARCH_PARAMS: &[&str] = SearchParams::PARAMS;

/// Endpoints of this resource.
pub fn routes() -> Endpoints {
    Endpoints::new().add(__path_search, search)
}

/// `GET /messages/search?q=...`: ranked hits with snippets, scoped to the
/// caller.
#[utoipa::path(
    get,
    path = "/messages/search",
    tag = "messages",
    params(SearchParams),
    responses(
        (status = 200, body = SearchResults),
        (
            status = 400,
            description = "invalid_query (with what is wrong), unknown parameter or kind, bad since",
            body = ErrorBody
        ),
        (
            status = 422,
            description = "invalid_parameter (limit); query_too_broad: the search ran out of its budget before \
                           finding anything",
            body = ErrorBody
        ),
        Unauthorized,
        (
            status = 429,
            description = "too_many_searches: the caller (a peer: 2, and never every place of the gateway's; \
                           the operator: 2) or the gateway (one per CPU) already runs as many searches as it \
                           may, with Retry-After",
            body = ErrorBody
        ),
    )
)]
pub(crate) async fn search(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<SearchResults>> {
    let query = Query::parse(raw.as_deref(), SEARCH_PARAMS, "/messages/search")?;
    let mut q = parse_search(&query, &auth)?;
    q.to = filter_name(&state, &auth, q.to.take()).await?;
    q.from = filter_name(&state, &auth, q.from.take()).await?;
    q.budget = state.config().search_budget;
    q.max_bytes = state.config().page_max_bytes;
    let slot = state.searches().enter(auth.peer())?;
    let page = state.store().search(&q).await?;
    if page.truncated && page.hits.is_empty() {
        return Err(ApiError::invalid(
            "query_too_broad",
            "the search examined too many messages without finishing; add words, or narrow it with from, to, \
             kind, thread_id or since",
        ));
    }
    let hits = page
        .hits
        .into_iter()
        .map(|h| SearchHit { snippet: snippet(&h.message.content, &q.expr), message: h.message, rank: h.rank })
        .collect();
    drop(slot);
    Ok(Json(SearchResults { hits, limit: q.limit, truncated: page.truncated }))
}

/// The `kind` and `since` filters of a read (`GET /messages`, search);
/// empty values are no filter.
pub(crate) fn kind_and_since(query: &Query) -> ApiResult<(Option<Kind>, Option<Timestamp>)> {
    let kind = match query.get("kind").filter(|k| !k.is_empty()) {
        Some(k) => Some(k.parse::<Kind>().map_err(|e| ApiError::bad_request("unknown_kind", e.to_string()))?),
        None => None,
    };
    let since = match query.get("since").filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_timestamp(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_since",
                "since must be an ISO 8601 timestamp, e.g. 2026-01-01T00:00:00+00:00",
            )
        })?),
        None => None,
    };
    Ok((kind, since))
}

/// Parses the parameters into a [`SearchQuery`] scoped to the caller.
fn parse_search(query: &Query, auth: &Auth) -> ApiResult<SearchQuery> {
    let Some(text) = query.get("q") else {
        return Err(ApiError::bad_request("invalid_query", "parameter q (what to search for) is required"));
    };
    let expr = parse_query(text).map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let (kind, since) = kind_and_since(query)?;
    let nonempty = |keys: &[&str]| query.first_of(keys).filter(|v| !v.is_empty()).map(str::to_owned);
    Ok(SearchQuery {
        expr,
        to: nonempty(&["to", "to_node"]),
        from: nonempty(&["from", "from_node"]),
        involving: auth.peer().map(str::to_owned),
        thread_id: nonempty(&["thread_id"]),
        kind,
        since,
        limit: query.int("limit", 1, SEARCH_LIMIT_MAX.into())?.map_or(SEARCH_LIMIT_DEFAULT, |l| l as u32),
        budget: SEARCH_BUDGET_DEFAULT,
        max_bytes: meshgate_proto::PAGE_BYTES_DEFAULT,
    })
}
