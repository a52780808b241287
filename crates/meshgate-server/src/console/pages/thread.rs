//! `/ui/threads/{uuid}`: a thread's DMs, oldest first (those the session may see),
//! a page at a time through the API's `after_id` cursor.

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use meshgate_proto::ThreadMessages;

use super::super::api::enc;
use super::super::layout::{dm_list, error_page, respond, shell};
use super::super::{SignedIn, Ui};
use crate::error::ApiError;

/// DMs per page (the API may cut a page shorter by its byte budget; `truncated` says so).
pub(crate) const THREAD_PAGE: u32 = 100;

/// `GET /ui/threads/{uuid}?after=ID`.
pub(crate) async fn page(
    console: Ui,
    SignedIn(session): SignedIn,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Response> {
    let after = parse_query(raw.as_deref()).map_err(|e| error_page(Some(&session), &e))?;
    // A UUID is case-blind; threads are stored lower-case (the API's form).
    let uuid = uuid.to_ascii_lowercase();
    let cursor = after.map(|a| format!("&after_id={a}")).unwrap_or_default();
    let uri = format!("/threads/{}?limit={THREAD_PAGE}{cursor}", enc(&uuid));
    let t = console.read::<ThreadMessages>(&session, &uri).await?;
    let base = format!("/ui/threads/{}", enc(&uuid));
    let next = t.messages.last().map(|m| m.id).filter(|_| t.truncated);
    let main = html! {
        h1 { "Thread " (t.thread.thread_name) }
        p.note { "Oldest first. " code { (t.thread.thread_uuid) } }
        (dm_list(&t.messages, "dm-list"))
        nav.paging aria-label="Pages" {
            @if after.is_some() { a href=(base) data-testid="page-first" { "From the start" } }
            @if let Some(n) = next { a href={ (base) "?after=" (n) } data-testid="page-next" { "Later DMs" } }
        }
    };
    Ok(respond(StatusCode::OK, shell("Thread", Some(&session), main)))
}

/// `after` (a cursor id), refusing any other parameter.
fn parse_query(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    let mut after = None;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match &*k {
            "after" if after.is_none() => after = Some(super::after_cursor(&v)?),
            "after" => return Err(super::given_twice("after")),
            _ => return Err(ApiError::bad_request("invalid_parameter", "this page takes after=ID")),
        }
    }
    Ok(after)
}
