//! `POST /messages`: validate, guard, resolve the recipient, admit
//! (traffic control), store.

use axum::extract::State;
use axum::Json;
use meshgate_proto::{ErrorBody, SendContext, SendRequest, SendResponse};
use meshgate_store::{parse_timestamp, timestamp_in, NewMessage, Refusal, StoreError};

use crate::auth::Auth;
use crate::config::SecretGuard;
use crate::error::{ApiError, ApiResult, Class};
use crate::input::JsonObject;
use crate::routes::endpoint::responses::Unauthorized;
use crate::routes::suggestions;
use crate::state::AppState;
use crate::traffic::Admission;

/// `POST /messages`: validate, guard, resolve the recipient, store.
#[utoipa::path(
    post,
    path = "/messages",
    tag = "messages",
    request_body = SendRequest,
    responses(
        (status = 200, body = SendResponse),
        (status = 400, description = "unknown kind, self-DM", body = ErrorBody),
        (status = 403, description = "caller binding, disabled peer", body = ErrorBody),
        (status = 404, description = "unknown recipient, with suggestions", body = ErrorBody),
        (status = 409, description = "idempotency key reused with another body", body = ErrorBody),
        (status = 422, description = "malformed body, secret detected", body = ErrorBody),
        Unauthorized,
        (
            status = 429,
            description = "rate_limited (the sender's --send-rate) or conversation_loop (the pair's --loop-limit), \
                           with Retry-After",
            body = ErrorBody
        ),
    )
)]
pub(super) async fn send(State(state): State<AppState>, auth: Auth, body: JsonObject) -> ApiResult<Json<SendResponse>> {
    auth.require_peer_token_if_configured(&state)?;
    let context = SendContext { token_peer: auth.peer(), instant: parse_timestamp };
    let (from_node, mut req) = SendRequest::read(&body.0, &context)?;
    drop(body);
    let due_at = req.due_at.take().or_else(|| req.due_in.map(timestamp_in));
    let reply = crate::routes::receipts::reply_link(&state, req.in_reply_to, &from_node).await?;
    if let Some(reply) = &reply {
        reply.inherit(&from_node, &mut req.thread_id, &mut req.to_node)?;
    }
    let overridden = guard_content(&state, &auth, &from_node, &req).await?;

    let to_node = resolve_recipient(&state, &req.to_node).await?;
    if let Some(reply) = &reply {
        reply.check_recipient(&from_node, &to_node)?;
    }
    // After alias resolution: `lab` -> `lab-ovh` must not let lab-ovh DM
    // itself (the store refuses it too).
    if to_node == from_node {
        return Err(StoreError::Refused(Refusal::SelfMessage, String::new()).into());
    }
    check_sender(&state, &auth, &from_node).await?;
    let (from, to) = (from_node.clone(), to_node.clone());

    let resolved_from = (to_node != req.to_node).then(|| req.to_node.clone());
    // Sent with the sender's own per-peer token: the gateway vouches for
    // from_node (the operator token may write as anyone).
    let sender_verified = auth.peer().is_some_and(|p| p == from_node);
    let msg = NewMessage {
        from_node,
        to_node,
        kind: req.kind,
        content: req.content,
        thread_id: req.thread_id,
        related_task_id: req.related_task_id,
        idempotency_key: req.idempotency_key,
        in_reply_to: req.in_reply_to,
        due_at,
        sender_verified,
    };
    let inserted = match crate::traffic::admit(&state, &msg).await? {
        Admission::Prior(prior) => prior,
        Admission::Store(admitted) => {
            // With unknown names refused, the store re-checks both ends in the
            // insert's transaction (a concurrent delete of either is 404 not_found).
            let inserted = if state.config().allow_unknown_recipients {
                state.store().insert_message(msg).await
            } else {
                state.store().insert_message_between_peers(msg).await
            };
            crate::traffic::settle(&state, &auth, admitted, &inserted, &from, &to);
            inserted
        }
    };
    let stored = inserted.as_ref().is_ok_and(|i| !i.duplicate);
    if let (true, Some(m)) = (stored, state.metrics()) {
        m.dm_sent();
    }
    let inserted = inserted.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::new(
            Class::Conflict,
            "idempotency_conflict",
            "idempotency_key was already used by this sender for a different message",
        ),
        other => other.into(),
    })?;
    let m = inserted.message;
    if let Some(alias) = &resolved_from {
        tracing::info!(id = m.id, alias = %alias, canonical = %m.to_node, "recipient alias resolved");
    }
    if let Some(label) = overridden {
        tracing::warn!(id = m.id, from = %m.from_node, label, "credential guard overridden by skip_secret_check");
    }
    tracing::debug!(id = m.id, from = %m.from_node, to = %m.to_node, kind = %m.kind, duplicate = inserted.duplicate, "message stored");
    Ok(Json(SendResponse {
        id: m.id,
        from_node: m.from_node,
        to_node: m.to_node,
        kind: m.kind,
        thread_id: m.thread_id,
        created_at: m.created_at,
        resolved_from,
    }))
}

/// Applies the credential policy (the sender's own, set by the operator,
/// else the gateway's); returns the label of an overridden finding.
async fn guard_content(
    state: &AppState,
    auth: &Auth,
    from: &str,
    req: &SendRequest,
) -> ApiResult<Option<&'static str>> {
    if let Err(e) = refuse_live_credentials(state, auth, req).await {
        if let (Some(m), "secret_detected") = (state.metrics(), e.code) {
            m.guard_refused(crate::metrics::LIVE_CREDENTIAL);
        }
        return Err(e);
    }
    // The sender's own policy is read only when it can matter: when the
    // gateway does not scan at all, or when the scan finds something.
    let mut own: Option<Option<SecretGuard>> = None;
    if state.config().secret_guard == SecretGuard::Off {
        let policy = sender_policy(state, from).await?;
        if matches!(policy, None | Some(SecretGuard::Off)) {
            return Ok(None);
        }
        own = Some(policy);
    }
    let findings = meshgate_guard::scan(&req.content);
    let Some(first) = findings.first() else { return Ok(None) };
    let label = first.label();
    if req.skip_secret_check {
        return Ok(Some(label));
    }
    let own = match own {
        Some(policy) => policy,
        None => sender_policy(state, from).await?,
    };
    match own.unwrap_or(state.config().secret_guard) {
        SecretGuard::Block => Err({
            if let Some(m) = state.metrics() {
                m.guard_refused(label);
            }
            ApiError::invalid(
                "secret_detected",
                format!(
                "refusing to store: the content looks like it carries a credential ({label} at line {}, column {}). \
                 Send secrets out of band; if this is a false positive, resend with skip_secret_check=true. \
                 A client that cannot send that flag (the Python MeshClient never does) needs the operator to \
                 relax this sender's own policy: PATCH /peers/{{name}} {{\"secret_guard\": \"warn\"}} \
                 (meshgate peers guard NAME warn)",
                first.line, first.column
            ),
            )
        }),
        policy => {
            let policy = if policy == SecretGuard::Warn { "warn" } else { "off" };
            let whose = if own.is_some() { "the sender's own" } else { "the gateway's" };
            tracing::warn!(from = %from, label, line = first.line, policy, whose, "credential-like content stored");
            Ok(None)
        }
    }
}

/// Refuses this gateway's live credentials (whatever the policies say):
/// the request's own token, any live peer token, in the content or the
/// fields shown to the recipient.
async fn refuse_live_credentials(state: &AppState, auth: &Auth, req: &SendRequest) -> ApiResult<()> {
    if req.content.contains(auth.token()) {
        return Err(ApiError::invalid(
            "secret_detected",
            "refusing to store: the content contains the bearer token of this request; rotate it if it was shared",
        ));
    }
    crate::routes::credentials::refuse_live_credentials(state, &req.content).await?;
    let fields =
        [("related_task_id", req.related_task_id.as_deref()), ("idempotency_key", req.idempotency_key.as_deref())];
    crate::routes::credentials::refuse_in_fields(state, auth.token(), &fields).await
}

/// The sender's own guard policy, if the operator set one.
async fn sender_policy(state: &AppState, from: &str) -> ApiResult<Option<SecretGuard>> {
    let peer = state.store().peer(from).await?;
    Ok(peer.and_then(|p| p.secret_guard).and_then(|s| s.parse().ok()))
}

/// The canonical recipient for `name`, or a 404 with suggestions.
async fn resolve_recipient(state: &AppState, name: &str) -> ApiResult<String> {
    match state.store().resolve_name(name).await? {
        Some(r) if r.enabled => Ok(r.canonical),
        Some(r) => Err(ApiError::forbidden("recipient_disabled", format!("peer {:?} is disabled", r.canonical))),
        None if state.config().allow_unknown_recipients => Ok(name.to_owned()),
        None => {
            let mut err = ApiError::not_found(
                "unknown_recipient",
                format!("{name:?} is not a registered peer or alias; nothing was stored"),
            );
            err.suggestions = suggestions(state, name).await?;
            if let Some(best) = err.suggestions.first() {
                err.detail.push_str(&format!(" (did you mean {best}?)"));
            }
            Err(err)
        }
    }
}

/// Disabled senders cannot send; with the operator token, the sender must
/// be a registered peer unless unknown names are allowed.
async fn check_sender(state: &AppState, auth: &Auth, from: &str) -> ApiResult<()> {
    if auth.peer().is_some() {
        return Ok(()); // the token lookup already checked the peer is enabled
    }
    // A name resolving to itself is a peer (peers and aliases share one
    // namespace); the resolution is lighter than reading the whole record.
    match state.store().resolve_name(from).await?.filter(|r| !r.via_alias) {
        Some(p) if p.enabled => Ok(()),
        Some(_) => Err(ApiError::forbidden("sender_disabled", format!("peer {from:?} is disabled"))),
        None if state.config().allow_unknown_recipients => Ok(()),
        None => Err(ApiError::invalid(
            "unknown_sender",
            format!("from_node {from:?} is not a registered peer; register it first"),
        )),
    }
}
