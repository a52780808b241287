//! Receipts, replies and obligations: `GET /messages/{id}` (a message with
//! its delivery ladder), `GET /obligations` (open questions), and the
//! reply rules of `POST /messages` (who may reply, what a reply inherits;
//! proto's `SendRequest::read` reads `in_reply_to`, `due_at`, `due_in`).
//!
//! Who sees what: a message's ladder is shown to its sender, its recipient
//! and the operator; to anyone else the answer is the same 404
//! `unknown_message` as for an id that does not exist, so a stranger
//! learns nothing, not even that the id is taken. The same holds for
//! replying: only a party to a message may reply to it.

use axum::extract::{RawQuery, State};
use axum::Json;
use meshgate_proto::{
    ErrorBody, Message, MessageStatus, Obligations, ObligationsQuery, OBLIGATIONS_LIMIT_DEFAULT, OBLIGATIONS_LIMIT_MAX,
};
use meshgate_store::{now_timestamp, ObligationQuery};

use crate::auth::Auth;
use crate::error::{shown, ApiError, ApiResult};
use crate::input::{PathParams, Query};
use crate::routes::endpoint::responses::{Invalid, Unauthorized};
use crate::routes::endpoint::Endpoints;
use crate::routes::{filter_name, parse_id};
use crate::state::AppState;

/// Routes of this resource.
pub fn routes() -> Endpoints {
    Endpoints::new().add(__path_status, status).add(__path_obligations, obligations)
}

/// The 404 for a message that does not exist or that the caller may not see.
fn unknown_message(id: i64) -> ApiError {
    ApiError::not_found("unknown_message", format!("message {id} does not exist"))
}

/// `GET /messages/{id}`: the message with its ladder (`delivered_at`,
/// `read_at`, `answer_id`, `in_reply_to`, `due_at`), for its sender, its
/// recipient and the operator; anyone else gets the 404 of a missing id.
/// Reading the ladder is no delivery: it records nothing.
#[utoipa::path(
    get,
    path = "/messages/{id}",
    tag = "messages",
    params(("id" = i64, Path, description = "message id")),
    responses(
        (status = 200, body = MessageStatus),
        (status = 403, description = "peer_token_required: the operator token under --require-peer-tokens", body = ErrorBody),
        (status = 404, description = "unknown_message: no such message, or not the caller's", body = ErrorBody),
        Invalid,
        Unauthorized,
    )
)]
pub(crate) async fn status(
    State(state): State<AppState>,
    auth: Auth,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<MessageStatus>> {
    auth.require_peer_token_if_configured(&state)?;
    let id = parse_id(&id)?;
    check_party(&state, id, auth.peer()).await?;
    let status = state.store().message_status(id).await?.ok_or_else(|| unknown_message(id))?;
    Ok(Json(status))
}

/// Refuses (404 `unknown_message`) unless `who` is a party to message `id`:
/// its sender or recipient (`None`, the operator: any existing message).
/// Reads only the message's head (id, sender, recipient), never its body,
/// so a stranger's answer takes the same work whether the id is taken and
/// however large the message is (a timing difference would tell it both).
async fn check_party(state: &AppState, id: i64, who: Option<&str>) -> ApiResult<()> {
    let head = state.store().message_heads(id - 1, 1).await?.into_iter().next().filter(|h| h.id == id);
    match (head, who) {
        (Some(_), None) => Ok(()),
        (Some(h), Some(me)) if h.from_node == me || h.to_node == me => Ok(()),
        _ => Err(unknown_message(id)),
    }
}

/// `GET /obligations`: the caller's open questions, `owed` (to it,
/// unanswered) and `awaiting` (its own, unanswered), oldest first, each with
/// `overdue`. `limit` (1..=1000, default 100) applies per list. The operator
/// names a peer with `peer=NAME`, or gets the whole mesh (both lists then
/// hold every open question); a peer token naming another peer is 403.
#[utoipa::path(
    get,
    path = "/obligations",
    tag = "messages",
    params(ObligationsQuery),
    responses(
        (status = 200, body = Obligations),
        (status = 400, description = "unknown parameter", body = ErrorBody),
        (
            status = 403,
            description = "forbidden: a peer token asking for another peer; \
                           peer_token_required: the operator token under --require-peer-tokens",
            body = ErrorBody
        ),
        Invalid,
        Unauthorized,
    )
)]
pub(crate) async fn obligations(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Obligations>> {
    auth.require_peer_token_if_configured(&state)?;
    let query = Query::parse(raw.as_deref(), ObligationsQuery::PARAMS, "/obligations")?;
    let named = query.get("peer").filter(|p| !p.is_empty()).map(str::to_owned);
    let named = filter_name(&state, &auth, named).await?;
    let peer = match (auth.peer(), named) {
        (Some(me), Some(other)) if other != me => {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("a peer token sees only its own obligations; this token belongs to {me:?}"),
            ))
        }
        (Some(me), _) => Some(me.to_owned()),
        (None, named) => named,
    };
    let limit = query.int("limit", 1, OBLIGATIONS_LIMIT_MAX.into())?.map_or(OBLIGATIONS_LIMIT_DEFAULT, |l| l as u32);
    let q = ObligationQuery { peer, limit, now: now_timestamp() };
    let mut out = state.store().obligations(&q).await?;
    // Overdue first, then oldest first (the store's order).
    out.owed.sort_by_key(|o| !o.overdue);
    out.awaiting.sort_by_key(|o| !o.overdue);
    Ok(Json(out))
}

/// The message a reply answers, as far as the send route needs it.
pub(crate) struct ReplyLink {
    parent: Message,
}

/// Loads the message `in_reply_to` names, if any. Only a party to
/// it may reply: for anyone else (and for a missing id) the answer is the
/// 404 `unknown_message`, before any other check could tell the two apart.
/// The operator token acting for `from` is held to the same rule, as that
/// peer.
pub(crate) async fn reply_link(state: &AppState, in_reply_to: Option<i64>, from: &str) -> ApiResult<Option<ReplyLink>> {
    let Some(id) = in_reply_to else { return Ok(None) };
    check_party(state, id, Some(from)).await?;
    let parent = state.store().message(id).await?.ok_or_else(|| unknown_message(id))?;
    Ok(Some(ReplyLink { parent }))
}

impl ReplyLink {
    /// The other party of the parent, seen from its party `from`.
    fn other(&self, from: &str) -> &str {
        let p = &self.parent;
        if p.from_node == from {
            &p.to_node
        } else {
            &p.from_node
        }
    }

    /// Fills what the reply inherits: the recipient when none was given
    /// (the other party) and the thread. An explicit thread other than the
    /// parent's is 422 `reply_thread_mismatch`.
    pub(crate) fn inherit(&self, from: &str, thread_id: &mut Option<String>, to_node: &mut String) -> ApiResult<()> {
        let p = &self.parent;
        match (&p.thread_id, thread_id.as_ref()) {
            (Some(theirs), Some(mine)) if theirs != mine => {
                return Err(ApiError::invalid(
                    "reply_thread_mismatch",
                    format!("message {} is in thread {theirs}; a reply stays in its thread", p.id),
                ))
            }
            (Some(theirs), None) => *thread_id = Some(theirs.clone()),
            _ => {}
        }
        if to_node.is_empty() {
            *to_node = self.other(from).to_owned();
        }
        Ok(())
    }

    /// The (resolved) recipient must be the other party (else 422
    /// `reply_recipient_mismatch`).
    pub(crate) fn check_recipient(&self, from: &str, to: &str) -> ApiResult<()> {
        let p = &self.parent;
        let other = self.other(from);
        if other != to {
            return Err(ApiError::invalid(
                "reply_recipient_mismatch",
                format!("a reply to message {} goes to {other:?}, not {}", p.id, shown(to)),
            ));
        }
        Ok(())
    }
}
