//! `/ui/peers/{name}`: a peer's inbox and outbox, paged.
//!
//! The first page is the newest DMs; from there the pages run oldest first
//! through the API's gapless `after_id` cursor ("from the beginning",
//! "next"), since the API has no cursor that walks backwards.

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use meshgate_proto::{ListQuery, MessageList, Peer};

use super::super::api::enc;
use super::super::layout::{dm_list, error_page, failure_page, respond, shell, short_time};
use super::super::{SignedIn, Ui};
use crate::error::ApiError;
use crate::input::uri_with_query;

/// DMs per page.
pub(crate) const PAGE: usize = 50;

/// `GET /ui/peers/{name}?tab=inbox|outbox&after=ID`.
pub(crate) async fn page(
    console: Ui,
    SignedIn(session): SignedIn,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Response> {
    let (outbox, after) = parse_query(raw.as_deref()).map_err(|e| error_page(Some(&session), &e))?;
    let mut page = ListQuery { after_id: after, ..super::super::events::peek(PAGE as u32) };
    if outbox {
        page.from = Some(name.clone());
    } else {
        page.to = Some(name.clone());
    }
    let uri = uri_with_query("/messages", &page.pairs());
    // The messages first: a peer session asking for another peer stops here (403).
    let list = console.read::<MessageList>(&session, &uri).await?.messages;
    let peer = console.get::<Peer>(&session, &format!("/peers/{}", enc(&name))).await;
    if let (Err(f), true, None) = (&peer, list.is_empty(), after) {
        // Neither registered nor in any DM: nothing to show (a deleted
        // peer's retired name with DMs still has its page).
        return Err(failure_page(Some(&session), f));
    }
    let peer = peer.ok();
    let base = format!("/ui/peers/{}?tab={}", enc(&name), if outbox { "outbox" } else { "inbox" });
    let next = list.iter().map(|m| m.id).max().filter(|_| list.len() >= PAGE);
    let tab = |is_out: bool, label: &str, testid: &str| {
        let href = format!("/ui/peers/{}?tab={}", enc(&name), if is_out { "outbox" } else { "inbox" });
        html! {
            a.tab href=(href) data-testid=(testid) aria-current=[(is_out == outbox).then_some("page")] { (label) }
        }
    };
    let main = html! {
        h1 { "Peer " (name) }
        @if let Some(p) = &peer {
            p.note {
                @if !p.enabled { span.badge { "disabled" } " " }
                "Last seen: " (p.last_seen.as_deref().map(short_time).unwrap_or_else(|| "never".into()))
            }
        }
        nav.tabs aria-label="Mailbox" {
            (tab(false, "Inbox", "tab-inbox"))
            (tab(true, "Outbox", "tab-outbox"))
        }
        p.note {
            @match after {
                None => "Newest first.",
                Some(_) => "Oldest first.",
            }
        }
        (dm_list(&list, "dm-list"))
        nav.paging aria-label="Pages" {
            @if after.is_some() { a href=(base) data-testid="page-latest" { "Newest" } }
            a href={ (base) "&after=0" } data-testid="page-first" { "From the beginning" }
            @if let (Some(_), Some(n)) = (after, next) {
                a href={ (base) "&after=" (n) } data-testid="page-next" { "Next" }
            }
        }
    };
    Ok(respond(StatusCode::OK, shell(&format!("Peer {name}"), Some(&session), main)))
}

/// `tab` (inbox unless `outbox`) and `after` (a cursor id), refusing others.
fn parse_query(raw: Option<&str>) -> Result<(bool, Option<i64>), ApiError> {
    let (mut outbox, mut after) = (false, None);
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if seen.iter().any(|s| *s == k) {
            return Err(super::given_twice(&k));
        }
        seen.push(k.to_string());
        match (&*k, &*v) {
            ("tab", "inbox") => outbox = false,
            ("tab", "outbox") => outbox = true,
            ("after", n) => after = Some(super::after_cursor(n)?),
            _ => {
                return Err(ApiError::bad_request("invalid_parameter", "this page takes tab=inbox|outbox and after=ID"))
            }
        }
    }
    Ok((outbox, after))
}
