//! `/ui/messages/{id}`: one DM with its receipts ladder.

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use meshgate_proto::MessageStatus;

use super::super::api::enc;
use super::super::layout::{cut, failure_page, respond, shell, short_time};
use super::super::{SignedIn, Ui};

/// Characters of a body shown before "show all".
pub(crate) const BODY_CHARS: usize = 4000;

/// `GET /ui/messages/{id}` (`?full=1`: the whole body).
pub(crate) async fn page(
    console: Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let full = form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).any(|(k, v)| k == "full" && v == "1");
    let s = match console.get::<MessageStatus>(&session, &format!("/messages/{}", enc(&id))).await {
        Ok(s) => s,
        Err(f) => return failure_page(Some(&session), &f),
    };
    let m = &s.message;
    let (body, was_cut) = if full { (m.content.as_str(), false) } else { cut(&m.content, BODY_CHARS) };
    let step = |label: &str, at: Option<&str>| {
        html! {
            li.step.done[at.is_some()] {
                span.label { (label) }
                " "
                @match at { Some(t) => time datetime=(t) { (short_time(t)) }, None => span.pending { "not yet" } }
            }
        }
    };
    let main = html! {
        h1 { "Message " (m.id) }
        dl.meta {
            dt { "From" } dd.from { (m.from_node) @if m.sender_verified { " " span.badge title="sent with its own token" { "verified" } } }
            dt { "To" } dd.to { (m.to_node) }
            dt { "Kind" } dd.kind { (m.kind.as_str()) }
            @if let Some(t) = &m.thread_id { dt { "Thread" } dd { a href={ "/ui/threads/" (enc(t)) } { (t) } } }
            @if let Some(t) = &m.related_task_id { dt { "Task" } dd { (t) } }
            @if let Some(r) = s.in_reply_to { dt { "In reply to" } dd { a href={ "/ui/messages/" (r) } { "message " (r) } } }
            @if let Some(d) = &s.due_at { dt { "Due" } dd { time datetime=(d) { (short_time(d)) } } }
        }
        ol.ladder data-testid="ladder" aria-label="Receipts" {
            (step("Sent", Some(&m.created_at)))
            (step("Delivered", s.delivered_at.as_deref()))
            (step("Read", m.read_at.as_deref()))
            @if let Some(a) = s.answer_id {
                li.step.done { span.label { "Answered" } " " a href={ "/ui/messages/" (a) } { "message " (a) } }
            }
        }
        pre.body data-testid="body" { (body) @if was_cut { "…" } }
        @if was_cut {
            p { a href={ "/ui/messages/" (m.id) "?full=1" } data-testid="show-all" { "Show all " (m.content.chars().count()) " characters" } }
        }
    };
    respond(StatusCode::OK, shell(&format!("Message {}", m.id), Some(&session), main))
}
