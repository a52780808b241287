//! The `POST /messages` body: the limits of its fields and the gateway's
//! reading of it ([`SendRequest::read`]). [`SendRequest`] is the one
//! definition of the body: the client writes it, the gateway reads it, and
//! the OpenAPI document shows it (its `schema` limits are these constants;
//! the gateway's tests hold the two equal).

use serde_json::{Map, Value};

use crate::body::{shown, BodyError, Fields};
use crate::{Kind, SendRequest, CONTENT_MAX_CHARS, DUE_IN_MAX_SECS};

/// Longest `from_node` and `to_node` (a peer name or an alias), in characters.
pub const SEND_NAME_MAX_CHARS: usize = 64;
/// Longest `thread_id` as written, in characters (a UUID in any of its
/// spellings: hyphenated, simple, braced, URN).
pub const THREAD_ID_MAX_CHARS: usize = 64;
/// Longest `related_task_id` (a string; an integer is taken as its digits).
pub const TASK_ID_MAX_CHARS: usize = 128;
/// Longest `idempotency_key`, in characters.
pub const IDEMPOTENCY_KEY_MAX_CHARS: usize = 128;
/// Longest `due_at` as written, in characters.
pub const DUE_AT_MAX_CHARS: usize = 64;

/// What the gateway brings to reading a body: who the request's token is
/// bound to, and its reader of an instant (whose normal form needs a time
/// crate a client does not carry). A thread id is read by
/// [`crate::normal_thread_id`].
#[derive(Debug, Clone, Copy)]
pub struct SendContext<'a> {
    /// The peer the request's token belongs to: an omitted `from_node` is
    /// this peer, another one is refused (403 `caller_binding`). `None`
    /// for the operator token, which sends as any peer it names.
    pub token_peer: Option<&'a str>,
    /// An instant in the gateway's normal form, `None` when the text is not
    /// one.
    pub instant: fn(&str) -> Option<String>,
}

impl SendRequest {
    /// A DM of `kind` to `to_node` with nothing optional set (no sender:
    /// a per-peer token's own), to fill in with struct update syntax.
    pub fn new(to_node: impl Into<String>, kind: Kind, content: impl Into<String>) -> SendRequest {
        SendRequest {
            from_node: None,
            to_node: to_node.into(),
            kind,
            content: content.into(),
            thread_id: None,
            related_task_id: None,
            idempotency_key: None,
            skip_secret_check: false,
            in_reply_to: None,
            due_at: None,
            due_in: None,
        }
    }

    /// Reads a `POST /messages` body as the gateway does, returning the
    /// sender (given, or `ctx.token_peer`) and the request with
    /// `from_node` taken out, `thread_id` and `due_at` in normal form, and
    /// `to_node` empty when a reply leaves it to the gateway.
    ///
    /// The checks run in a fixed order whatever the order of the keys, and
    /// the first failing one is the answer: `channel`, `from_node` and the
    /// token's binding, the reply fields (`in_reply_to`, `due_at`,
    /// `due_in`), `to_node`, `kind`, `content`, `thread_id`,
    /// `related_task_id`, `idempotency_key`, `skip_secret_check`, then a
    /// deadline on anything but a question. Unknown fields are ignored.
    pub fn read(body: &Map<String, Value>, ctx: &SendContext<'_>) -> Result<(String, SendRequest), BodyError> {
        let f = Fields(body);
        if f.get("channel").is_some() {
            return Err(BodyError::bad_request(
                "unsupported",
                "channel posts are not supported; send a DM with to_node",
            ));
        }
        let from_node = match (f.opt_string("from_node", 1, SEND_NAME_MAX_CHARS)?, ctx.token_peer) {
            (Some(from), _) => from.to_owned(),
            // An explicit null is a missing sender, token or not.
            (None, Some(me)) if !body.contains_key("from_node") => me.to_owned(),
            (None, _) => return Err(BodyError::missing("from_node")),
        };
        if let Some(me) = ctx.token_peer.filter(|me| *me != from_node) {
            return Err(BodyError::forbidden(
                "caller_binding",
                format!("this token belongs to {me:?}; it cannot send as {from_node:?}"),
            ));
        }
        let in_reply_to = match f.get("in_reply_to") {
            None => None,
            Some(v) => Some(v.as_i64().filter(|id| *id > 0).ok_or_else(|| {
                BodyError::invalid("invalid_field", "field \"in_reply_to\" must be a message id (a positive integer)")
            })?),
        };
        let (due_at, due_in) = deadline(&f, ctx)?;
        // A reply may leave the recipient to the gateway (the other party).
        let to_node = match in_reply_to {
            Some(_) => f.opt_string("to_node", 1, SEND_NAME_MAX_CHARS)?.unwrap_or_default(),
            None => f.string("to_node", 1, SEND_NAME_MAX_CHARS)?,
        };
        let kind = match f.get("kind") {
            None => return Err(BodyError::missing("kind")),
            Some(Value::String(k)) => {
                k.parse::<Kind>().map_err(|e| BodyError::bad_request("unknown_kind", e.to_string()))?
            }
            Some(other) => return Err(BodyError::mistyped("kind", "a string", other)),
        };
        let content = f.string("content", 1, CONTENT_MAX_CHARS)?;
        let thread_id = match f.opt_string("thread_id", 0, THREAD_ID_MAX_CHARS)? {
            None => None,
            Some(t) => Some(crate::normal_thread_id(t).ok_or_else(|| {
                BodyError::invalid("invalid_thread_id", "thread_id must be a UUID (mint one with POST /threads)")
            })?),
        };
        let related_task_id = f.opt_string_or_int("related_task_id", TASK_ID_MAX_CHARS)?;
        let idempotency_key = f.opt_string("idempotency_key", 1, IDEMPOTENCY_KEY_MAX_CHARS)?.map(str::to_owned);
        let skip_secret_check = f.opt_bool("skip_secret_check")?.unwrap_or(false);
        if (due_at.is_some() || due_in.is_some()) && kind != Kind::Question {
            return Err(BodyError::invalid("invalid_due", "only a question can carry due_at or due_in"));
        }
        let request = SendRequest {
            from_node: None,
            to_node: to_node.to_owned(),
            kind,
            content: content.to_owned(),
            thread_id,
            related_task_id,
            idempotency_key,
            skip_secret_check,
            in_reply_to,
            due_at,
            due_in,
        };
        Ok((from_node, request))
    }
}

/// `due_at` (normalised) or `due_in`, at most one of them.
fn deadline(f: &Fields<'_>, ctx: &SendContext<'_>) -> Result<(Option<String>, Option<u64>), BodyError> {
    let due_at = f.opt_string("due_at", 1, DUE_AT_MAX_CHARS)?;
    let due_in = match f.get("due_in") {
        None => None,
        Some(v) => Some(v.as_u64().filter(|s| (1..=DUE_IN_MAX_SECS).contains(s)).ok_or_else(|| {
            BodyError::invalid(
                "invalid_due",
                format!("due_in must be a whole number of seconds from 1 to {DUE_IN_MAX_SECS}"),
            )
        })?),
    };
    match (due_at, due_in) {
        (Some(_), Some(_)) => Err(BodyError::invalid("invalid_due", "give due_at or due_in, not both")),
        (Some(at), None) => {
            let at = (ctx.instant)(at).ok_or_else(|| {
                BodyError::invalid(
                    "invalid_due",
                    format!("due_at must be an RFC 3339 instant, e.g. 2026-01-01T12:00:00Z, not {}", shown(at)),
                )
            })?;
            Ok((Some(at), None))
        }
        (None, due_in) => Ok((None, due_in)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(token_peer: Option<&str>) -> SendContext<'_> {
        SendContext { token_peer, instant: |t| t.starts_with("2026").then(|| format!("{t}!")) }
    }

    fn read(body: Value, who: Option<&str>) -> Result<(String, SendRequest), BodyError> {
        SendRequest::read(body.as_object().unwrap(), &ctx(who))
    }

    #[test]
    fn a_written_request_reads_back() {
        let written = SendRequest {
            from_node: Some("a1".into()),
            to_node: "b1".into(),
            kind: Kind::Question,
            content: "x".into(),
            thread_id: Some("7f1c1f7e-0000-4000-8000-000000000001".into()),
            related_task_id: Some("77".into()),
            idempotency_key: Some("k".into()),
            skip_secret_check: true,
            in_reply_to: Some(3),
            due_at: None,
            due_in: Some(60),
        };
        let (from, read) = read(serde_json::to_value(&written).unwrap(), None).unwrap();
        assert_eq!(from, "a1");
        assert_eq!(read, SendRequest { from_node: None, ..written });
    }

    #[test]
    fn the_token_fills_or_binds_the_sender() {
        let body = json!({"to_node": "b1", "kind": "fyi", "content": "x"});
        assert_eq!(read(body.clone(), Some("a1")).unwrap().0, "a1");
        assert_eq!(read(body.clone(), None).unwrap_err().code, "missing_field");
        let mut other = body;
        other["from_node"] = json!("c1");
        assert_eq!(read(other.clone(), None).unwrap().0, "c1");
        let e = read(other, Some("a1")).unwrap_err();
        assert_eq!((e.kind, e.code), (crate::BodyErrorKind::Forbidden, "caller_binding"));
    }

    #[test]
    fn normal_forms_come_from_the_context() {
        let body = json!({"to_node": "b1", "kind": "question", "content": "x",
            "thread_id": "7F1C1F7E-0000-4000-8000-000000000001", "due_at": "2026-01-01T00:00:00Z"});
        let (_, r) = read(body, Some("a1")).unwrap();
        assert_eq!(r.thread_id.as_deref(), Some("7f1c1f7e-0000-4000-8000-000000000001"));
        assert_eq!(r.due_at.as_deref(), Some("2026-01-01T00:00:00Z!"));
    }
}
