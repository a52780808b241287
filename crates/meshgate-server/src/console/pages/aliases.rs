//! `/ui/aliases` (operator): the alias table, with add and delete forms.
//! Writes go through `POST /aliases` and `DELETE /aliases/{alias}`, so the
//! API's name rules and refusals (`name_taken`, `unknown_peer`) apply.

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use meshgate_proto::{Alias, AliasList, NewAlias, PeerList};
use serde_json::{json, Value};

use super::super::api::{enc, Failure};
use super::super::csrf::Form;
use super::super::layout::{failure_page, respond, shell, short_time};
use super::super::session::Session;
use super::super::{see_other, SignedIn, Ui};
use super::actions::{checked_form, csrf_field, field, operator_only};

const WHAT: &str = "managing aliases";

/// `GET /ui/aliases`.
pub(crate) async fn page(console: Ui, SignedIn(session): SignedIn) -> Response {
    if let Some(r) = operator_only(&session, WHAT) {
        return r;
    }
    render(&console, &session, StatusCode::OK, &Form::default(), None).await
}

/// `POST /ui/aliases` (`alias`, `canonical`): adds or repoints an alias.
pub(crate) async fn add(console: Ui, SignedIn(session): SignedIn, req: Request) -> Response {
    let form = match admin_form(&session, req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let body = json!(NewAlias {
        alias: field(&form, "alias").unwrap_or_default().to_owned(),
        canonical: field(&form, "canonical").unwrap_or_default().to_owned(),
    });
    match console.call::<Alias>(&session, Method::POST, "/aliases", Some(&body)).await {
        Ok(_) => see_other("/ui/aliases"),
        Err(f) => render(&console, &session, f.status, &form, Some(&f)).await,
    }
}

/// `POST /ui/aliases/delete` (`alias`).
pub(crate) async fn delete(console: Ui, SignedIn(session): SignedIn, req: Request) -> Response {
    let form = match admin_form(&session, req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let uri = format!("/aliases/{}", enc(field(&form, "alias").unwrap_or_default()));
    match console.call::<Value>(&session, Method::DELETE, &uri, None).await {
        Ok(_) => see_other("/ui/aliases"),
        Err(f) => render(&console, &session, f.status, &Form::default(), Some(&f)).await,
    }
}

/// The checked form of an operator's POST.
async fn admin_form(session: &Session, req: Request) -> Result<Form, Response> {
    if let Some(r) = operator_only(session, WHAT) {
        return Err(r);
    }
    let (parts, body) = req.into_parts();
    checked_form(session, &parts.headers, body).await
}

/// The table and the add form (filled with `draft`), saying why the last write failed.
async fn render(
    console: &Ui,
    session: &Session,
    status: StatusCode,
    draft: &Form,
    error: Option<&Failure>,
) -> Response {
    let aliases = match console.get::<AliasList>(session, "/aliases").await {
        Ok(l) => l.aliases,
        Err(f) => return failure_page(Some(session), &f),
    };
    let peers = console.get::<PeerList>(session, "/peers").await.map(|l| l.peers).unwrap_or_default();
    let main = html! {
        h1 { "Aliases" }
        p.note { "A DM to an alias is stored for the peer it stands for. Peers and aliases share one namespace." }
        @if let Some(f) = error {
            p.error role="alert" data-testid="alias-error" data-code=(f.code) { (f.detail) }
        }
        @if aliases.is_empty() {
            p.empty { "No aliases." }
        } @else {
            div.scroll {
                table data-testid="aliases" {
                    thead { tr { th scope="col" { "Alias" } th scope="col" { "Peer" } th scope="col" { "Since" } th scope="col" { "Action" } } }
                    tbody {
                        @for a in &aliases {
                            tr data-alias=(a.alias) {
                                th scope="row" { (a.alias) }
                                td data-testid="canonical" { (a.canonical) }
                                td { (a.created_at.as_deref().map(short_time).unwrap_or_default()) }
                                td {
                                    form method="post" action="/ui/aliases/delete" {
                                        (csrf_field(session))
                                        input type="hidden" name="alias" value=(a.alias);
                                        button type="submit" data-testid="alias-delete" aria-label={ "Delete alias " (a.alias) } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add an alias" }
        form #alias-form method="post" action="/ui/aliases" data-testid="alias-form" {
            (csrf_field(session))
            label for="alias" { "Alias" }
            input #alias name="alias" required autocomplete="off" spellcheck="false"
                value=(draft.get("alias").unwrap_or_default()) data-testid="alias-name";
            label for="canonical" { "For peer" }
            select #canonical name="canonical" required data-testid="alias-canonical" {
                @for p in &peers {
                    option value=(p.name) selected[draft.get("canonical") == Some(p.name.as_str())] { (p.name) }
                }
            }
            button type="submit" data-testid="alias-add" { "Add" }
        }
    };
    respond(status, shell("Aliases", Some(session), main))
}
