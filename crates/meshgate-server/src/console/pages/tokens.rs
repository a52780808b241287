//! `/ui/tokens` (operator): rotate or revoke a peer's token, each after a
//! confirmation page.
//!
//! A rotated token is shown once, in the answer to the confirming POST
//! (`Cache-Control: no-store` like every page): never stored by the console,
//! never in a URL, never logged. Both actions go through the API
//! (`POST /peers/{name}/token`, `POST /peers/{name}/revoke`), whose
//! credential events also end that peer's console sessions.

use axum::extract::{Path, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use meshgate_proto::{PeerList, TokenRotated};
use serde_json::Value;

use super::super::api::enc;
use super::super::layout::{error_page, failure_page, respond, shell};
use super::super::session::Session;
use super::super::{SignedIn, Ui};
use super::actions::{checked_form, csrf_field, operator_only};
use crate::error::ApiError;

const WHAT: &str = "rotating and revoking tokens";

/// What the operator may do to a peer's token.
#[derive(Clone, Copy)]
enum Action {
    Rotate,
    Revoke,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        match s {
            "rotate" => Some(Action::Rotate),
            "revoke" => Some(Action::Revoke),
            _ => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Action::Rotate => "rotate",
            Action::Revoke => "revoke",
        }
    }

    fn warning(self, name: &str) -> String {
        match self {
            Action::Rotate => format!(
                "Rotate {name}'s token? Its current token stops working at once; the new one is shown once, \
                 on the next page, and {name} needs it (meshgate token set --as {name})."
            ),
            Action::Revoke => format!(
                "Revoke {name}'s token? It stops working at once and {name} cannot act until the operator \
                 rotates a new one. Its messages stay."
            ),
        }
    }
}

/// `GET /ui/tokens`: every peer, with its actions.
pub(crate) async fn page(console: Ui, SignedIn(session): SignedIn) -> Response {
    if let Some(r) = operator_only(&session, WHAT) {
        return r;
    }
    let peers = match console.get::<PeerList>(&session, "/peers").await {
        Ok(l) => l.peers,
        Err(f) => return failure_page(Some(&session), &f),
    };
    let main = html! {
        h1 { "Tokens" }
        p.note { "Rotating gives a peer a new token and kills the old one; revoking kills it. Both ask first." }
        div.scroll {
            table data-testid="tokens" {
                thead { tr { th scope="col" { "Peer" } th scope="col" { "State" } th scope="col" { "Actions" } } }
                tbody {
                    @for p in &peers {
                        tr data-peer=(p.name) {
                            th scope="row" { (p.name) }
                            td { @if p.enabled { "enabled" } @else { "disabled" } }
                            td.actions {
                                a href={ "/ui/tokens/" (enc(&p.name)) "/rotate" } data-testid="token-rotate" { "Rotate…" }
                                " "
                                a href={ "/ui/tokens/" (enc(&p.name)) "/revoke" } data-testid="token-revoke" { "Revoke…" }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, shell("Tokens", Some(&session), main))
}

/// `GET /ui/tokens/{name}/{rotate|revoke}`: the confirmation step.
pub(crate) async fn confirm(
    console: Ui,
    SignedIn(session): SignedIn,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    if let Some(r) = operator_only(&session, WHAT) {
        return r;
    }
    let Some(action) = Action::parse(&action) else {
        return no_action(&session);
    };
    // A name that is no peer is refused here already, not after the confirmation.
    if let Err(f) = console.get::<Value>(&session, &format!("/peers/{}", enc(&name))).await {
        return failure_page(Some(&session), &f);
    }
    let main = html! {
        h1 { "Confirm" }
        p data-testid="confirm-text" { (action.warning(&name)) }
        form method="post" action={ "/ui/tokens/" (enc(&name)) "/" (action.path()) } data-testid="confirm-form" {
            (csrf_field(&session))
            button type="submit" data-testid="confirm" { (title(action)) " " (name) "'s token" }
            " "
            a href="/ui/tokens" data-testid="cancel" { "Cancel" }
        }
    };
    respond(StatusCode::OK, shell("Confirm", Some(&session), main))
}

/// `POST /ui/tokens/{name}/{rotate|revoke}` (CSRF-checked): does it and
/// shows the result (a rotated token, once).
pub(crate) async fn act(
    console: Ui,
    SignedIn(session): SignedIn,
    Path((name, action)): Path<(String, String)>,
    req: Request,
) -> Response {
    if let Some(r) = operator_only(&session, WHAT) {
        return r;
    }
    let Some(action) = Action::parse(&action) else {
        return no_action(&session);
    };
    let (parts, body) = req.into_parts();
    if let Err(r) = checked_form(&session, &parts.headers, body).await {
        return r;
    }
    let main = match action {
        Action::Rotate => {
            let uri = format!("/peers/{}/token", enc(&name));
            match console.call::<TokenRotated>(&session, Method::POST, &uri, None).await {
                Ok(t) => rotated(&t),
                Err(f) => return failure_page(Some(&session), &f),
            }
        }
        Action::Revoke => {
            let uri = format!("/peers/{}/revoke", enc(&name));
            if let Err(f) = console.call::<Value>(&session, Method::POST, &uri, None).await {
                return failure_page(Some(&session), &f);
            }
            tracing::info!(peer = %name, "console: peer token revoked");
            html! {
                h1 { "Revoked" }
                p data-testid="result" { (name) "'s token is revoked." }
                p { a href="/ui/tokens" { "Back to tokens" } }
            }
        }
    };
    respond(StatusCode::OK, shell(title(action), Some(&session), main))
}

/// The result of a rotation: the new token, this once.
fn rotated(t: &TokenRotated) -> Markup {
    tracing::info!(peer = %t.name, generation = t.token_generation, "console: peer token rotated");
    html! {
        h1 { "Rotated" }
        p data-testid="result" {
            "The new token of " (t.name) " (generation " (t.token_generation) "). It is shown only now: "
            "copy it to where " (t.name) " runs (" code { "meshgate token set --as " (t.name) } ")."
        }
        label for="new-token" { "New token" }
        input #new-token type="text" readonly value=(t.peer_token) autocomplete="off" spellcheck="false"
            data-testid="new-token";
        p { a href="/ui/tokens" { "Back to tokens" } }
    }
}

fn title(action: Action) -> &'static str {
    match action {
        Action::Rotate => "Rotate",
        Action::Revoke => "Revoke",
    }
}

fn no_action(session: &Session) -> Response {
    error_page(Some(session), &ApiError::not_found("no_page", "there is no such console page"))
}
