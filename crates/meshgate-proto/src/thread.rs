use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{BodyError, Fields, Message};

/// A thread id in its normal form (lower-case, hyphenated), if `text` is a
/// UUID in any spelling the `uuid` crate reads (upper-case, braces, no
/// hyphens, a `urn:uuid:` prefix): the one reading of a `thread_id` for
/// the gateway and the MCP tools.
pub fn normal_thread_id(text: &str) -> Option<String> {
    uuid::Uuid::parse_str(text).ok().map(|u| u.hyphenated().to_string())
}

/// A named conversation; its UUID is what messages carry as `thread_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Thread {
    /// The handle messages carry.
    pub thread_uuid: String,
    /// Human name; minting the same name again returns the same UUID.
    pub thread_name: String,
    /// The part of the name before the first `:` (`a↔b` by convention).
    #[serde(default)]
    pub peer_pair: String,
    /// The part after the first `:`.
    #[serde(default)]
    pub topic: String,
    /// Peer-local session id, if the minter gave one.
    #[serde(default)]
    pub session_id: Option<String>,
    /// When it was minted.
    pub created_at: String,
    /// Last mint or message.
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// On `POST /threads`: whether this call minted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// The peer whose token minted it; absent for the operator's shared
    /// namespace. Thread names are unique per minter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted_by: Option<String>,
}

/// `POST /threads` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewThread {
    /// Human name, 1 to 128 characters.
    pub thread_name: String,
    /// Peer-local session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// Longest `thread_name` and `session_id` of a `POST /threads` body, in
/// characters.
pub const THREAD_NAME_MAX_CHARS: usize = 128;

impl NewThread {
    /// Reads a `POST /threads` body (the gateway's side of this type): a
    /// `thread_name` and an optional `session_id`, each 1 to
    /// [`THREAD_NAME_MAX_CHARS`] characters; other fields are ignored.
    pub fn read(body: &Map<String, Value>) -> Result<NewThread, BodyError> {
        let f = Fields(body);
        Ok(NewThread {
            thread_name: f.string("thread_name", 1, THREAD_NAME_MAX_CHARS)?.to_owned(),
            session_id: f.opt_string("session_id", 1, THREAD_NAME_MAX_CHARS)?.map(str::to_owned),
        })
    }
}

/// `GET /threads` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadList {
    /// Threads, most recently used first.
    pub threads: Vec<Thread>,
}

/// `GET /threads/{uuid}`: metadata and the messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadMessages {
    /// Thread metadata.
    pub thread: Thread,
    /// Its messages, oldest first: one page (`limit`, the byte budget).
    pub messages: Vec<Message>,
    /// More messages follow the last one: read on with `after_id` = its id.
    #[serde(default)]
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<NewThread, BodyError> {
        NewThread::read(v.as_object().unwrap())
    }

    #[test]
    fn a_new_thread_reads_back_what_the_client_writes() {
        for t in [
            NewThread { thread_name: "a↔b:topic".into(), session_id: Some("s1".into()) },
            NewThread { thread_name: "x".repeat(THREAD_NAME_MAX_CHARS), session_id: None },
        ] {
            assert_eq!(read(serde_json::to_value(&t).unwrap()), Ok(t));
        }
    }

    #[test]
    fn a_new_thread_refuses_what_the_gateway_refused() {
        assert_eq!(read(json!({})).unwrap_err().code, "missing_field");
        assert_eq!(read(json!({"thread_name": ""})).unwrap_err().detail, "field \"thread_name\" must not be empty");
        assert_eq!(read(json!({"thread_name": 5})).unwrap_err().code, "invalid_field");
        let long = "x".repeat(THREAD_NAME_MAX_CHARS + 1);
        assert_eq!(read(json!({"thread_name": "t", "session_id": long})).unwrap_err().code, "invalid_field");
        assert_eq!(read(json!({"thread_name": "t", "session_id": null})).unwrap().session_id, None);
    }
}
