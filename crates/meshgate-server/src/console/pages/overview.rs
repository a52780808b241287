//! `/ui`: every peer with its online state and counts, and the latest DMs
//! (updated live by app.js from `/ui/events`).

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use meshgate_proto::{ListQuery, MessageList, Obligations, ObligationsQuery, PeerList};

use super::super::api::{enc, Failure};
use super::super::events::peek;
use super::super::layout::{dm_list, failure_page, respond, shell, short_time};
use super::super::session::Session;
use super::super::{SignedIn, Ui};
use crate::input::uri_with_query;
use crate::session::LiveKind;

/// DMs the overview lists (newer ones arrive live).
const LATEST: u32 = 50;

/// Unread DMs and open questions counted per page view; beyond, the count
/// shows as at least this many.
const COUNT_MAX: u32 = 1000;

/// `GET /ui`.
pub(crate) async fn page(console: Ui, SignedIn(session): SignedIn) -> Response {
    let peers = match console.get::<PeerList>(&session, "/peers").await {
        Ok(list) => list.peers,
        Err(f) => return failure_page(Some(&session), &f),
    };
    let latest = console.get::<MessageList>(&session, &uri_with_query("/messages", &peek(LATEST).pairs())).await;
    let unread = ListQuery { unread_only: Some(true), to: session.peer().map(str::to_owned), ..peek(COUNT_MAX) };
    let unread = console
        .get::<MessageList>(&session, &uri_with_query("/messages", &unread.pairs()))
        .await
        .map(|l| per_name(l.messages.iter().map(|m| m.to_node.as_str())));
    let owed_query = ObligationsQuery { limit: Some(COUNT_MAX), ..ObligationsQuery::default() };
    let owed = console
        .get::<Obligations>(&session, &uri_with_query("/obligations", &owed_query.pairs()))
        .await
        .map(|o| per_name(o.owed.iter().map(|q| q.to_node.as_str())));
    let window = console.sessions.config().online_window;
    let cutoff = meshgate_store::timestamp_ago(window);
    let state = &console.state;
    let rows = peers.iter().map(|p| {
        let mine = session.peer().is_none_or(|me| me == p.name);
        // Open streams are live presence the API does not give a peer about
        // others: a peer session sees only `last_seen` for them.
        let watching =
            mine && state.open_live(LiveKind::Stream, &p.name) + state.open_live(LiveKind::Poll, &p.name) > 0;
        let recent = p.last_seen.as_deref().is_some_and(|t| t >= cutoff.as_str());
        html! {
            tr data-peer=(p.name) {
                th scope="row" {
                    @if mine { a href={ "/ui/peers/" (enc(&p.name)) } { (p.name) } } @else { (p.name) }
                    @if !p.enabled { " " span.badge { "disabled" } }
                }
                td data-testid="online" {
                    @if is_console_identity(p) { span.badge title="the operator's console identity, no agent" { "console" } }
                    @else if watching || recent { span.online { "online" } } @else { span.offline { "offline" } }
                }
                td data-testid="last-seen" { (p.last_seen.as_deref().map(short_time).unwrap_or_else(|| "never".into())) }
                td data-testid="unread" { (count(&unread, &p.name, mine)) }
                td data-testid="owed" { (count(&owed, &p.name, mine)) }
            }
        }
    });
    let rows: Vec<Markup> = rows.collect();
    let main = html! {
        h1 { "Overview" }
        section aria-labelledby="peers-h" {
            h2 #peers-h { "Peers" }
            div.scroll tabindex="0" role="region" aria-labelledby="peers-h" {
                table data-testid="peers" {
                    thead { tr {
                        th scope="col" { "Peer" } th scope="col" { "State" } th scope="col" { "Last seen" }
                        th scope="col" { "Unread" } th scope="col" { "Owed" }
                    } }
                    tbody { @for r in &rows { (r) } }
                }
            }
            p.note { "Online: a live stream or long-poll is open, or the peer was seen in the last "
                (window.as_secs() / 60) " minutes." }
        }
        section aria-labelledby="live-h" {
            h2 #live-h { "Latest messages" }
            (latest_section(&session, &latest))
        }
    };
    respond(StatusCode::OK, shell("Overview", Some(&session), main))
}

fn latest_section(session: &Session, latest: &Result<MessageList, Failure>) -> Markup {
    match latest {
        Ok(list) => {
            let newest = list.messages.iter().map(|m| m.id).max().unwrap_or(0);
            let scope = if session.peer().is_some() { "your" } else { "the mesh's" };
            html! {
                p.note { "Newest first; " (scope) " new messages appear here as they are sent." }
                div #live data-after=(newest) data-testid="live-list" {
                    p #live-status.note role="status" aria-live="polite" {}
                    (dm_list(&list.messages, "dm-list"))
                }
            }
        }
        Err(f) => html! { p.error data-code=(f.code) { "Messages are not shown: " (f.detail) } },
    }
}

/// How many of `names` are each name.
fn per_name<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for n in names {
        *out.entry(n.to_owned()).or_insert(0) += 1;
    }
    out
}

/// A count cell: the number (`N+` when the read was full), or a dash where
/// this session may not know it.
fn count(counts: &Result<HashMap<String, usize>, Failure>, name: &str, mine: bool) -> String {
    match counts {
        Ok(c) if mine => {
            let total: usize = c.values().sum();
            let n = c.get(name).copied().unwrap_or(0);
            if total >= COUNT_MAX as usize && n > 0 {
                format!("{n}+")
            } else {
                n.to_string()
            }
        }
        _ => "—".into(),
    }
}

/// Whether `p` is the `overseer` the console registered for operator sends
/// (`compose.rs`): its "last seen" is the operator composing, not an agent
/// being online, so it has no online state.
fn is_console_identity(p: &meshgate_proto::Peer) -> bool {
    p.name == super::compose::OVERSEER
        && p.capabilities.get("role").and_then(|r| r.as_str()) == Some(super::compose::OVERSEER_ROLE)
}
