//! `/ui/messages/{id}`: one DM with its receipts ladder.

use axum::extract::{Path, RawQuery, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use meshgate_proto::{Kind, MarkRead, Message, MessageStatus};
use serde_json::{Map, Value};

use super::super::api::enc;
use super::super::layout::{cut, error_page, failure_page, respond, shell, short_time};
use super::super::session::Session;
use super::super::{see_other, SignedIn, Ui};
use super::actions::{checked_form, csrf_field};
use super::compose::OVERSEER;
use crate::error::ApiError;

/// Characters of a body shown before "show all".
pub(crate) const BODY_CHARS: usize = 4000;

/// `GET /ui/messages/{id}` (`?full=1`: the whole body).
pub(crate) async fn page(
    console: Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Response> {
    let full = form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).any(|(k, v)| k == "full" && v == "1");
    let s = console.read::<MessageStatus>(&session, &format!("/messages/{}", enc(&id))).await?;
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
        @if is_recipient(&session, m) { (actions(&session, m)) }
        @if was_cut {
            p { a href={ "/ui/messages/" (m.id) "?full=1" } data-testid="show-all" { "Show all " (m.content.chars().count()) " characters" } }
        }
    };
    Ok(respond(StatusCode::OK, shell(&format!("Message {}", m.id), Some(&session), main)))
}

/// Whether `session` reads `m` as its recipient: a peer its own DMs, the
/// operator the DMs to [`OVERSEER`] (its console identity). Only then does
/// the page offer Reply and Mark read.
fn is_recipient(session: &Session, m: &Message) -> bool {
    session.peer().unwrap_or(OVERSEER) == m.to_node
}

/// Reply (compose, prefilled) and, while unread, Mark read (a POST form).
/// Contract: `message-reply` (link), `mark-read-form`, `mark-read`.
fn actions(session: &Session, m: &Message) -> Markup {
    let kind = if m.kind == Kind::Question { Kind::Answer } else { Kind::Fyi };
    let mut reply = form_urlencoded::Serializer::new(String::new());
    reply
        .append_pair("to", &m.from_node)
        .append_pair("kind", kind.as_str())
        .append_pair("in_reply_to", &m.id.to_string());
    if let Some(t) = &m.thread_id {
        reply.append_pair("thread_id", t);
    }
    html! {
        p.actions {
            a href={ "/ui/compose?" (reply.finish()) } data-testid="message-reply" { "Reply" }
            @if m.read_at.is_none() {
                " "
                form.inline method="post" action={ "/ui/messages/" (m.id) "/read" } data-testid="mark-read-form" {
                    (csrf_field(session))
                    button type="submit" data-testid="mark-read" { "Mark read" }
                }
            }
        }
    }
}

/// `POST /ui/messages/{id}/read`: marks a DM the session received read
/// (`POST /messages/{id}/read`), then shows it again. The operator marks
/// only DMs to [`OVERSEER`]: the console does not ack for an agent.
pub(crate) async fn mark_read(
    console: Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, Response> {
    let (parts, body) = req.into_parts();
    checked_form(&session, &parts.headers, body).await?;
    let path = format!("/messages/{}", enc(&id));
    let s = console.read::<MessageStatus>(&session, &path).await?;
    if !is_recipient(&session, &s.message) {
        let detail =
            format!("message {} is addressed to {}; only its recipient marks it read", s.message.id, s.message.to_node);
        return Err(error_page(Some(&session), &ApiError::forbidden("not_in_inbox", detail)));
    }
    let empty = Value::Object(Map::new());
    match console.call::<MarkRead>(&session, Method::POST, &format!("{path}/read"), Some(&empty)).await {
        Ok(_) => Ok(see_other(&format!("/ui/messages/{}", s.message.id))),
        Err(f) => Err(failure_page(Some(&session), &f)),
    }
}
