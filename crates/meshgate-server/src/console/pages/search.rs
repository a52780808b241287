//! `/ui/search`: the search form (query and filters) and its hits, through
//! `GET /messages/search` with the session's token, so a peer finds only
//! its own DMs. Matched words are `<mark>`ed segment by segment; every
//! segment is text that maud escapes.

use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use meshgate_proto::{Kind, SearchResults};

use super::super::api::{enc, Failure};
use super::super::csrf::Form;
use super::super::layout::{respond, shell, short_time};
use super::super::{SignedIn, Ui};
use super::actions::field;

/// The form's fields, passed on to the API as they are.
const FILTERS: [&str; 6] = ["q", "from", "to", "kind", "thread_id", "since"];

/// `GET /ui/search?q=...&from=&to=&kind=&thread_id=&since=`.
pub(crate) async fn page(console: Ui, SignedIn(session): SignedIn, RawQuery(raw): RawQuery) -> Response {
    let form = Form::from_query(raw.as_deref().unwrap_or_default());
    let mut answer: Option<Result<SearchResults, Failure>> = None;
    if field(&form, "q").is_some() {
        let params: Vec<String> =
            FILTERS.iter().filter_map(|k| field(&form, k).map(|v| format!("{k}={}", enc(v)))).collect();
        answer = Some(console.get::<SearchResults>(&session, &format!("/messages/search?{}", params.join("&"))).await);
    }
    let status = match &answer {
        Some(Err(f)) => f.status,
        _ => StatusCode::OK,
    };
    let value = |k: &str| form.get(k).unwrap_or_default().to_owned();
    let kind = value("kind");
    let main = html! {
        h1 { "Search" }
        form #search-form method="get" action="/ui/search" role="search" data-testid="search-form" {
            label for="q" { "Words" }
            input #q type="search" name="q" required value=(value("q")) data-testid="search-q"
                aria-describedby="q-help";
            p #q-help.note { "All words must match; \"a phrase\", word* (prefix), a OR b, -word (exclude)." }
            div.filters {
                div {
                    label for="from" { "From" }
                    input #from name="from" value=(value("from")) autocomplete="off" spellcheck="false"
                        data-testid="search-from";
                }
                div {
                    label for="to" { "To" }
                    input #to name="to" value=(value("to")) autocomplete="off" spellcheck="false" data-testid="search-to";
                }
                div {
                    label for="kind" { "Kind" }
                    select #kind name="kind" data-testid="search-kind" {
                        option value="" selected[kind.is_empty()] { "any" }
                        @for k in Kind::ALL { option value=(k.as_str()) selected[k.as_str() == kind] { (k.as_str()) } }
                    }
                }
                div {
                    label for="thread_id" { "Thread" }
                    input #thread_id name="thread_id" value=(value("thread_id")) autocomplete="off" spellcheck="false"
                        data-testid="search-thread";
                }
                div {
                    label for="since" { "Since (RFC 3339)" }
                    input #since name="since" value=(value("since")) autocomplete="off" spellcheck="false"
                        placeholder="2026-12-01T00:00:00Z" data-testid="search-since";
                }
            }
            button type="submit" data-testid="search-submit" { "Search" }
        }
        @match &answer {
            None => {}
            Some(Err(f)) => { p.error role="alert" data-testid="search-error" data-code=(f.code) { (f.detail) } }
            Some(Ok(r)) => {
                p.note role="status" data-testid="search-count" {
                    (r.hits.len()) @if r.hits.len() == 1 { " hit" } @else { " hits" } ", best first"
                    @if r.truncated { "; too many matches to rank them all: these are the best of the newest" }
                    "."
                }
                ol.dms.hits data-testid="search-hits" {
                    @for h in &r.hits {
                        li.dm data-message-id=(h.message.id) data-testid="hit" {
                            a.head href={ "/ui/messages/" (h.message.id) } {
                                span.from { (h.message.from_node) } " → " span.to { (h.message.to_node) } " "
                                span.kind { (h.message.kind.as_str()) } " "
                                time datetime=(h.message.created_at) { (short_time(&h.message.created_at)) }
                            }
                            p.preview.snippet {
                                @for s in &h.snippet { @if s.hit { mark { (s.text) } } @else { (s.text) } }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(status, shell("Search", Some(&session), main))
}
