//! `/ui/compose`: send a DM from the console.
//!
//! A peer session sends as itself (with its own token, so the DM is
//! `sender_verified`). The operator sends as [`OVERSEER`] with the operator
//! token: the recipient sees `from_node: overseer` and, since the operator
//! token may write as anyone, the unverified-sender marking every surface
//! already shows for operator sends (`framing`: "identity NOT verified: it
//! may have been sent with a shared operator token"). The first operator
//! send registers `overseer` as a peer when it is not one (its minted token
//! is discarded), so replies to `overseer` are stored and shown on its page.

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use meshgate_proto::{Kind, PeerList, RegisterRequest, SendResponse};
use serde_json::{json, Map, Value};

use super::super::api::{enc, Failure};
use super::super::csrf::Form;
use super::super::layout::{respond, shell};
use super::super::session::Session;
use super::super::{see_other, SignedIn, Ui};
use super::actions::{checked_form, csrf_field, field};

/// The name the operator sends as.
pub const OVERSEER: &str = "overseer";

/// The `role` capability the console registers [`OVERSEER`] with.
pub(crate) const OVERSEER_ROLE: &str = "operator console";

/// `GET /ui/compose` (`?to=NAME&kind=K&thread_id=T&in_reply_to=ID` fill the form).
pub(crate) async fn form(console: Ui, SignedIn(session): SignedIn, req: Request) -> Response {
    let draft = Form::from_query(req.uri().query().unwrap_or_default());
    page(&console, &session, StatusCode::OK, &draft, None).await
}

/// `POST /ui/compose`: sends through `POST /messages`, then shows the DM.
pub(crate) async fn submit(console: Ui, SignedIn(session): SignedIn, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let form = match checked_form(&session, &parts.headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let from = session.peer().unwrap_or(OVERSEER).to_owned();
    let mut msg = Map::new();
    msg.insert("from_node".into(), json!(from));
    for (key, name) in [("to_node", "to"), ("kind", "kind"), ("thread_id", "thread_id")] {
        if let Some(v) = field(&form, name) {
            msg.insert(key.into(), json!(v));
        }
    }
    // A reply (from a message page's Reply link): the gateway checks it.
    if let Some(parent) = field(&form, "in_reply_to") {
        msg.insert("in_reply_to".into(), parent.parse::<i64>().map_or_else(|_| json!(parent), |id| json!(id)));
    }
    // The body as typed: surrounding blank lines may matter to its reader.
    msg.insert("content".into(), json!(form.get("content").unwrap_or_default()));
    let msg = Value::Object(msg);
    let mut sent = console.call::<SendResponse>(&session, Method::POST, "/messages", Some(&msg)).await;
    if session.peer().is_none() && matches!(&sent, Err(f) if f.code == "unknown_sender") {
        let overseer = RegisterRequest {
            name: OVERSEER.to_owned(),
            url: None,
            capabilities: json!({"role": OVERSEER_ROLE}).as_object().cloned(),
            adopt_history: false,
        };
        let overseer = json!(overseer);
        if let Err(f) = console.call::<Value>(&session, Method::POST, "/peers/register", Some(&overseer)).await {
            return page(&console, &session, f.status, &form, Some(&f)).await;
        }
        tracing::info!("console: registered {OVERSEER} for operator sends");
        sent = console.call::<SendResponse>(&session, Method::POST, "/messages", Some(&msg)).await;
    }
    match sent {
        Ok(s) => see_other(&format!("/ui/messages/{}", s.id)),
        Err(f) => page(&console, &session, f.status, &form, Some(&f)).await,
    }
}

/// The form, filled with `draft`, saying why the last send failed.
async fn page(console: &Ui, session: &Session, status: StatusCode, draft: &Form, error: Option<&Failure>) -> Response {
    // The peer list only helps typing; the send itself resolves names.
    let peers = console.get::<PeerList>(session, "/peers").await.map(|l| l.peers).unwrap_or_default();
    let me = session.peer().unwrap_or(OVERSEER);
    let kind = draft.get("kind").unwrap_or("fyi");
    let main = html! {
        h1 { "Compose" }
        @if session.peer().is_none() {
            p.note data-testid="compose-as" {
                "You send as " strong { (OVERSEER) } " with the operator token. The recipient sees the sender "
                (OVERSEER) " marked as not verified by a peer token, as every operator send is."
            }
        } @else {
            p.note data-testid="compose-as" { "You send as " strong { (me) } "." }
        }
        @if let Some(f) = error {
            p.error role="alert" data-testid="compose-error" data-code=(f.code) { (console_advice(f)) }
        }
        form #compose-form method="post" action="/ui/compose" data-testid="compose-form" {
            (csrf_field(session))
            @if let Some(parent) = draft.get("in_reply_to").filter(|p| !p.is_empty()) {
                input type="hidden" name="in_reply_to" value=(parent) data-testid="compose-in-reply-to";
                p.note { "In reply to " a href={ "/ui/messages/" (enc(parent)) } { "message " (parent) } "." }
            }
            label for="to" { "To" }
            input #to name="to" required list="peer-names" autocomplete="off" spellcheck="false"
                value=(draft.get("to").unwrap_or_default()) data-testid="compose-to";
            datalist #peer-names { @for p in &peers { @if p.name != me { option value=(p.name) {} } } }
            label for="kind" { "Kind" }
            select #kind name="kind" data-testid="compose-kind" {
                @for k in Kind::ALL { option value=(k.as_str()) selected[k.as_str() == kind] { (k.as_str()) } }
            }
            label for="thread_id" { "Thread (optional UUID)" }
            input #thread_id name="thread_id" autocomplete="off" spellcheck="false"
                value=(draft.get("thread_id").unwrap_or_default()) data-testid="compose-thread";
            label for="content" { "Message" }
            textarea #content name="content" required rows="8" data-testid="compose-content" {
                (draft.get("content").unwrap_or_default())
            }
            button type="submit" data-testid="compose-send" { "Send" }
        }
    };
    respond(status, shell("Compose", Some(session), main))
}

/// A refusal's text for a console user: the credential guard's API advice
/// (a `skip_secret_check` flag, a PATCH) is replaced by what the form allows.
fn console_advice(f: &Failure) -> String {
    if f.code != "secret_detected" {
        return f.detail.clone();
    }
    let found = f.detail.split(" Send secrets out of band").next().unwrap_or_default();
    format!(
        "{found} Remove it and share the secret out of band: the console cannot skip this check. For a known false \
         positive, send from the CLI with `meshgate send --skip-secret-check`."
    )
}
