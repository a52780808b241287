//! `/messages`: send, list (with cursor and long-poll), mark read, stream.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use meshgate_proto::{
    validate_peer_name, Kind, MarkRead, MarkReadBulkResponse, MessageList, MessageListJson, SendResponse,
    CONTENT_MAX_CHARS, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, PAGE_BYTES_DEFAULT, WAIT_MAX_SECS,
};
use meshgate_store::{MessageQuery, NewMessage, Order, Refusal, StoreError};
use serde_json::Value;

use crate::auth::Auth;
use crate::config::SecretGuard;
use crate::error::{ApiError, ApiResult, Class};
use crate::input::{type_name, JsonObject, PathParams, Query};
use crate::routes::{parse_id, suggestions};
use crate::session::{LiveKind, Session};
use crate::state::AppState;
use crate::traffic::Admission;
use meshgate_proto::{ErrorBody, MarkReadBulk, SendRequest};

/// Query parameters `GET /messages` accepts; anything else is a 400.
pub const LIST_PARAMS: &[&str] = &[
    "to",
    "to_node",
    "from",
    "from_node",
    "thread_id",
    "kind",
    "unread_only",
    "since",
    "limit",
    "after_id",
    "wait",
    "peek",
];

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/messages", post(send).get(list))
        .route("/messages/read", post(mark_read_bulk))
        .route("/messages/{id}/read", post(mark_read))
        .route("/messages/stream", get(crate::live::stream))
}

/// `POST /messages`: validate, guard, resolve the recipient, store.
#[utoipa::path(post, path = "/messages", tag = "messages", request_body = SendRequest, responses((status = 200, body = SendResponse), (status = 400, description = "unknown kind, self-DM", body = ErrorBody), (status = 403, description = "caller binding, disabled peer", body = ErrorBody), (status = 404, description = "unknown recipient, with suggestions", body = ErrorBody), (status = 409, description = "idempotency key reused with another body", body = ErrorBody), (status = 422, description = "malformed body, secret detected", body = ErrorBody), (status = 401, description = "missing, unknown or revoked token", body = ErrorBody), (status = 429, description = "rate_limited (the sender's --send-rate) or conversation_loop (the pair's --loop-limit), with Retry-After", body = ErrorBody)))]
async fn send(State(state): State<AppState>, auth: Auth, body: JsonObject) -> ApiResult<Json<SendResponse>> {
    auth.require_peer_token_if_configured(&state)?;
    let mut draft = Draft::parse(&body, &auth)?;
    let reply = super::receipts::reply_link(&state, &draft.reply, &draft.from_node).await?;
    if let Some(reply) = &reply {
        reply.inherit(&draft.from_node, &mut draft.thread_id, &mut draft.to_node)?;
    }
    let overridden = guard_content(&state, &auth, &draft).await?;

    let to_node = resolve_recipient(&state, &draft.to_node).await?;
    if let Some(reply) = &reply {
        reply.check_recipient(&draft.from_node, &to_node)?;
    }
    // After alias resolution: `lab` -> `lab-ovh` must not let lab-ovh DM
    // itself (the store refuses it too).
    if to_node == draft.from_node {
        return Err(StoreError::Refused(Refusal::SelfMessage, String::new()).into());
    }
    check_sender(&state, &auth, &draft.from_node).await?;
    let (from, to) = (draft.from_node.clone(), to_node.clone());

    let resolved_from = (to_node != draft.to_node).then(|| draft.to_node.clone());
    // Sent with the sender's own per-peer token: the gateway vouches for
    // from_node (the operator token may write as anyone).
    let sender_verified = auth.peer().is_some_and(|p| p == draft.from_node);
    let msg = NewMessage {
        from_node: draft.from_node,
        to_node,
        kind: draft.kind,
        content: draft.content,
        thread_id: draft.thread_id,
        related_task_id: draft.related_task_id,
        idempotency_key: draft.idempotency_key,
        in_reply_to: draft.reply.in_reply_to,
        due_at: draft.reply.due_at,
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

/// A `POST /messages` body after field validation.
struct Draft {
    from_node: String,
    to_node: String,
    kind: Kind,
    content: String,
    thread_id: Option<String>,
    related_task_id: Option<String>,
    idempotency_key: Option<String>,
    skip_secret_check: bool,
    reply: super::receipts::ReplyFields,
}

impl Draft {
    fn parse(body: &JsonObject, auth: &Auth) -> ApiResult<Draft> {
        if body.0.get("channel").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::bad_request(
                "unsupported",
                "channel posts are not supported; send a DM with to_node",
            ));
        }
        let from_node = match (body.opt_string("from_node", 1, 64)?, auth.peer()) {
            (Some(from), _) => from.to_owned(),
            (None, Some(me)) if !body.0.contains_key("from_node") => me.to_owned(),
            (None, _) => return Err(ApiError::invalid("missing_field", "field \"from_node\" is required")),
        };
        if !auth.may_act_as(&from_node) {
            return Err(ApiError::forbidden(
                "caller_binding",
                format!("this token belongs to {:?}; it cannot send as {from_node:?}", auth.peer().unwrap_or_default()),
            ));
        }
        let reply = super::receipts::ReplyFields::parse(body)?;
        // A reply may leave the recipient to the gateway (the other party).
        let to_node = match reply.in_reply_to {
            Some(_) => body.opt_string("to_node", 1, 64)?.unwrap_or_default().to_owned(),
            None => body.string("to_node", 1, 64)?.to_owned(),
        };
        let kind = match body.0.get("kind") {
            None | Some(Value::Null) => return Err(ApiError::invalid("missing_field", "field \"kind\" is required")),
            Some(Value::String(k)) => {
                k.parse::<Kind>().map_err(|e| ApiError::bad_request("unknown_kind", e.to_string()))?
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    "invalid_field",
                    format!("field \"kind\" must be a string, not {}", type_name(other)),
                ))
            }
        };
        let content = body.string("content", 1, CONTENT_MAX_CHARS)?.to_owned();
        let thread_id = match body.opt_string("thread_id", 0, 64)? {
            None => None,
            Some(t) => Some(
                uuid::Uuid::parse_str(t)
                    .map_err(|_| {
                        ApiError::invalid("invalid_thread_id", "thread_id must be a UUID (mint one with POST /threads)")
                    })?
                    .hyphenated()
                    .to_string(),
            ),
        };
        Ok(Draft {
            from_node,
            to_node,
            kind,
            content,
            thread_id,
            related_task_id: body.opt_string_or_int("related_task_id", 128)?,
            idempotency_key: body.opt_string("idempotency_key", 1, 128)?.map(str::to_owned),
            skip_secret_check: body.opt_bool("skip_secret_check")?.unwrap_or(false),
            reply: reply.for_kind(kind)?,
        })
    }
}

/// Applies the credential policy (the sender's own, set by the operator,
/// else the gateway's); returns the label of an overridden finding.
async fn guard_content(state: &AppState, auth: &Auth, draft: &Draft) -> ApiResult<Option<&'static str>> {
    if let Err(e) = refuse_live_credentials(state, auth, draft).await {
        if let (Some(m), "secret_detected") = (state.metrics(), e.code) {
            m.guard_refused("live_credential");
        }
        return Err(e);
    }
    // The sender's own policy is read only when it can matter: when the
    // gateway does not scan at all, or when the scan finds something.
    let mut own: Option<Option<SecretGuard>> = None;
    if state.config().secret_guard == SecretGuard::Off {
        let policy = sender_policy(state, &draft.from_node).await?;
        if matches!(policy, None | Some(SecretGuard::Off)) {
            return Ok(None);
        }
        own = Some(policy);
    }
    let findings = meshgate_guard::scan(&draft.content);
    let Some(first) = findings.first() else { return Ok(None) };
    let label = first.label();
    if draft.skip_secret_check {
        return Ok(Some(label));
    }
    let own = match own {
        Some(policy) => policy,
        None => sender_policy(state, &draft.from_node).await?,
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
            tracing::warn!(from = %draft.from_node, label, line = first.line, policy, whose, "credential-like content stored");
            Ok(None)
        }
    }
}

/// Refuses this gateway's live credentials (whatever the policies say):
/// the request's own token, any live peer token, in the content or the
/// fields shown to the recipient.
async fn refuse_live_credentials(state: &AppState, auth: &Auth, draft: &Draft) -> ApiResult<()> {
    if draft.content.contains(auth.token()) {
        return Err(ApiError::invalid(
            "secret_detected",
            "refusing to store: the content contains the bearer token of this request; rotate it if it was shared",
        ));
    }
    super::credentials::refuse_live_credentials(state, &draft.content).await?;
    let fields =
        [("related_task_id", draft.related_task_id.as_deref()), ("idempotency_key", draft.idempotency_key.as_deref())];
    super::credentials::refuse_in_fields(state, auth.token(), &fields).await
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

/// `GET /messages`: filters, `after_id` cursor (oldest first), `wait` long-poll.
#[utoipa::path(get, path = "/messages", tag = "messages", params(("to" = Option<String>, Query, description = "recipient (alias: to_node)"), ("from" = Option<String>, Query, description = "sender (alias: from_node)"), ("thread_id" = Option<String>, Query), ("kind" = Option<Kind>, Query), ("unread_only" = Option<bool>, Query), ("since" = Option<String>, Query, description = "ISO 8601 instant; strictly after"), ("limit" = Option<u32>, Query, description = "1..1000, default 100"), ("after_id" = Option<i64>, Query, description = "cursor: ids above, oldest first"), ("wait" = Option<u64>, Query, description = "long-poll seconds, <= 60")), responses((status = 200, body = MessageList), (status = 400, description = "unknown parameter or kind, bad since", body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, description = "missing, unknown or revoked token; token_revoked when it died during a long-poll", body = ErrorBody), (status = 429, description = "too_many_requests / too_many_bytes: the peer has too much in flight (at its long-poll cap, the oldest waiting long-poll answers instead)", body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    auth.require_peer_token_if_configured(&state)?;
    let (mut q, wait, _) = parse_list_query(&auth, raw.as_deref(), LIST_PARAMS)?;
    q.max_bytes = state.config().page_max_bytes;
    // The store encodes the `MessageList` body itself, as it reads the rows.
    let list = if wait.is_zero() {
        state.store().list_messages_json(&q).await?
    } else {
        long_poll(&state, &auth, &q, wait).await?
    };
    state.deliveries().enqueue(&list.delivered);
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], list.body).into_response())
}

/// Parses and authorises a list query (shared with the SSE stream, whose
/// `params` add `receipts`, returned as the third value).
pub(crate) fn parse_list_query(
    auth: &Auth,
    raw: Option<&str>,
    params: &[&str],
) -> ApiResult<(MessageQuery, Duration, bool)> {
    let query = Query::parse(raw, params, "/messages")?;
    let to = query.first_of(&["to", "to_node"]).map(str::to_owned);
    let from = query.first_of(&["from", "from_node"]).map(str::to_owned);
    let (kind, since) = super::search::kind_and_since(&query)?;
    let after_id = query.int("after_id", 0, i64::MAX)?;
    let limit = query.int("limit", 1, LIST_LIMIT_MAX.into())?.map_or(LIST_LIMIT_DEFAULT, |l| l as u32);
    let wait = Duration::from_secs(query.int("wait", 0, WAIT_MAX_SECS as i64)?.unwrap_or(0) as u64);
    let involving = match auth.peer() {
        None => None,
        Some(me) => {
            let own = to.as_deref() == Some(me) || from.as_deref() == Some(me);
            if !own && (to.is_some() || from.is_some()) {
                return Err(ApiError::forbidden(
                    "forbidden",
                    format!("a peer token reads only its own messages; this token belongs to {me:?}"),
                ));
            }
            Some(me.to_owned())
        }
    };
    // Who this read hands messages over to (recorded as `delivered_at`):
    // a peer reading with its own token, or a shared-token agent reading
    // `to=X`; `peek=true` records nothing.
    let deliver_to = match query.bool("peek")? {
        true => None,
        false => auth.peer().map(str::to_owned).or_else(|| to.clone()),
    };
    let q = MessageQuery {
        to,
        from,
        involving,
        thread_id: query.get("thread_id").filter(|t| !t.is_empty()).map(str::to_owned),
        kind,
        unread_only: query.bool("unread_only")?,
        since,
        after_id,
        limit,
        order: if after_id.is_some() { Order::OldestFirst } else { Order::NewestFirst },
        max_bytes: PAGE_BYTES_DEFAULT,
        deliver_to,
    };
    Ok((q, wait, query.bool("receipts")?))
}

/// Answers at once if anything matches, else waits for a matching commit.
/// Subscribes before reading, so a commit between the read and the wait
/// is never missed. Counts against the peer's `--max-polls-per-peer`, and
/// answers 401 `token_revoked` once its token dies (see [`Session`]).
async fn long_poll(state: &AppState, auth: &Auth, q: &MessageQuery, wait: Duration) -> ApiResult<MessageListJson> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut session = Session::open(state, auth, LiveKind::Poll, crate::live::live_peer(auth, q)).await?;
    let mut wake = state.hub().subscribe(wake_key(q));
    loop {
        wake.borrow_and_update();
        if session.dead().await {
            return Err(Session::revoked_error());
        }
        let list = state.store().list_messages_json(q).await?;
        if list.n > 0 {
            return Ok(list);
        }
        let evicted = session.on_evicted();
        tokio::select! {
            woken = tokio::time::timeout_at(deadline, wake.changed()) => match woken {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(list),
            },
            _ = state.stopping() => return Ok(list),
            _ = session.revoked() => return Err(Session::revoked_error()),
            // A newer long-poll of the same peer took this one's slot.
            _ = evicted => return Ok(list),
        }
    }
}

/// The peer whose messages can satisfy `q`: its recipient, sender or
/// scoping peer; `None` (any commit) for an unscoped operator query.
pub(crate) fn wake_key(q: &MessageQuery) -> Option<&str> {
    q.to.as_deref().or(q.from.as_deref()).or(q.involving.as_deref())
}

/// `POST /messages/{id}/read`: idempotent; keeps the first `read_at`.
#[utoipa::path(post, path = "/messages/{id}/read", tag = "messages", params(("id" = i64, Path, description = "message id")), responses((status = 200, body = MarkRead), (status = 403, description = "not the recipient", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, description = "missing, unknown or revoked token", body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    auth: Auth,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<MarkRead>> {
    auth.require_peer_token_if_configured(&state)?;
    let id = parse_id(&id)?;
    let Some(msg) = state.store().message(id).await? else {
        return Err(ApiError::not_found("unknown_message", format!("message {id} does not exist")));
    };
    if !auth.may_act_as(&msg.to_node) {
        return Err(ApiError::forbidden("forbidden", "only the recipient can mark a message read"));
    }
    let marked = state.store().mark_read(&[id], auth.peer()).await?;
    marked
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("unknown_message", format!("message {id} does not exist")))
}

/// `POST /messages/read {"ids": [...]}`: the bulk form the Python CLI tries first.
#[utoipa::path(post, path = "/messages/read", tag = "messages", request_body = MarkReadBulk, responses((status = 200, body = MarkReadBulkResponse), (status = 422, body = ErrorBody), (status = 401, description = "missing, unknown or revoked token", body = ErrorBody)))]
async fn mark_read_bulk(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonObject,
) -> ApiResult<Json<MarkReadBulkResponse>> {
    auth.require_peer_token_if_configured(&state)?;
    let ids: Vec<i64> = match body.0.get("ids") {
        Some(Value::Array(items)) if items.len() <= 1000 => items
            .iter()
            .map(|v| v.as_i64().ok_or_else(|| ApiError::invalid("invalid_field", "ids must be integers")))
            .collect::<ApiResult<_>>()?,
        Some(Value::Array(_)) => return Err(ApiError::invalid("invalid_field", "at most 1000 ids per request")),
        Some(_) => return Err(ApiError::invalid("invalid_field", "field \"ids\" must be an array of integers")),
        None => return Err(ApiError::invalid("missing_field", "field \"ids\" is required")),
    };
    let marked = state.store().mark_read(&ids, auth.peer()).await?;
    let not_found = ids.iter().copied().filter(|id| !marked.iter().any(|m| m.id == *id)).collect();
    Ok(Json(MarkReadBulkResponse { marked, not_found }))
}

/// Validates a peer name given in a path or body.
pub(crate) fn check_name(name: &str) -> ApiResult<()> {
    validate_peer_name(name).map_err(|e| ApiError::invalid("invalid_name", e.to_string()))
}
