//! The client's one error type.
//!
//! Each variant is a distinct thing a caller may want to act on: a refusal the
//! client made locally before any byte left ([`Error::InvalidName`],
//! [`Error::NotInRegistry`], [`Error::SecretDetected`], [`Error::ContentTooLong`], [`Error::InvalidKind`]),
//! a credential problem ([`Error::Auth`]), a network problem
//! ([`Error::Unreachable`]) or an answer the gateway gave ([`Error::Gateway`]).
//! No variant ever carries a token or a message body.

use meshgate_proto::{NameError, UnknownKind};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a [`crate::Client`] call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The gateway answered with an error status other than 401/403.
    #[error("gateway answered {status} ({code}): {detail}")]
    Gateway {
        /// HTTP status.
        status: u16,
        /// Stable machine code (`unknown_kind`, `idempotency_conflict`, ...).
        /// The reference gateway sends none; the client then derives one from
        /// the status (`not_found`, `validation`, ...).
        code: String,
        /// The gateway's human explanation.
        detail: String,
    },

    /// The gateway refused the credential (401) or what it may do (403).
    #[error("gateway refused the {token_source} ({status}): {detail}")]
    Auth {
        /// 401 or 403.
        status: u16,
        /// The gateway's stable code (`invalid_token`, `operator_only`,
        /// `peer_disabled`, ...); derived from the status when it sends none.
        code: String,
        /// Where the token came from (never the token itself), e.g.
        /// `MESH_GATEWAY_TOKEN` or `per-peer token from /path/NAME`.
        token_source: String,
        /// The gateway's explanation.
        detail: String,
    },

    /// No HTTP answer: connection refused, DNS failure, timeout.
    #[error("gateway {gateway} unreachable: {reason}")]
    Unreachable {
        /// Base URL that was tried.
        gateway: String,
        /// What went wrong at the transport level.
        reason: String,
    },

    /// The gateway answered 2xx with a body that is not the expected JSON.
    #[error("could not decode the answer of {endpoint}: {reason}")]
    Decode {
        /// `METHOD /path` of the request.
        endpoint: String,
        /// Parser message.
        reason: String,
    },

    /// A peer name that is not canonical (format check, before any request).
    #[error(transparent)]
    InvalidName(#[from] NameError),

    /// A well-formed recipient that the gateway's registry does not know.
    #[error("peer {name:?} is not registered at the gateway{}", did_you_mean(.suggestions))]
    NotInRegistry {
        /// The recipient after alias resolution.
        name: String,
        /// Registered names (or aliases) close to it, best first.
        suggestions: Vec<String>,
    },

    /// The recipient is registered but disabled by the operator; nothing
    /// was sent.
    #[error("peer {name:?} is disabled at the gateway; nothing was sent")]
    RecipientDisabled {
        /// The recipient after alias resolution.
        name: String,
    },

    /// The credential guard found a secret in the content; nothing was sent.
    #[error(
        "refusing to send: content looks like it carries a credential ({label}) at line {line}, column {column}; \
         remove it (share secrets out of band) or pass skip_secret_check for a known false positive"
    )]
    SecretDetected {
        /// What kind of credential it looks like.
        label: String,
        /// 1-based line of the finding.
        line: usize,
        /// 1-based column (in characters) of the finding.
        column: usize,
    },

    /// The content is longer than a DM may be
    /// ([`meshgate_proto::CONTENT_MAX_CHARS`] characters); nothing was sent.
    #[error("refusing to send: the content is {chars} characters, more than a DM may hold ({max}); nothing was sent")]
    ContentTooLong {
        /// Characters in the content.
        chars: usize,
        /// The most a DM may hold.
        max: usize,
    },

    /// A kind string that is not one of the five the gateway accepts.
    #[error(transparent)]
    InvalidKind(#[from] UnknownKind),

    /// The gateway does not implement an endpoint (the Python reference
    /// gateway lacks aliases, bulk read and token rotation).
    #[error("this gateway does not support {feature}: {detail}")]
    Unsupported {
        /// What was asked for, e.g. `token rotation`.
        feature: &'static str,
        /// What the client did instead or what to do.
        detail: String,
    },

    /// The gateway refused a send with 429 (`rate_limited`,
    /// `conversation_loop`) and the client stopped retrying: after
    /// [`crate::SEND_RETRIES_MAX`] retries, or because the wait it asked
    /// for was beyond [`crate::SEND_RETRY_WAIT_MAX`]. Nothing was stored.
    #[error("gateway refused the send (429 {code}) after {attempts} attempt(s){}; nothing was stored: {detail}",
            retry_after.map(|s| format!(", retry after {s} s")).unwrap_or_default())]
    Throttled {
        /// `rate_limited`, `conversation_loop`, ...
        code: String,
        /// The gateway's explanation (a loop's names the pair and how to reset it).
        detail: String,
        /// The last `Retry-After`, in seconds.
        retry_after: Option<u64>,
        /// Requests made.
        attempts: u32,
    },

    /// The client was configured wrongly (bad URL, missing node name).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl Error {
    /// True for a 404 from the gateway (unknown peer, message or thread).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Gateway { status: 404, .. })
    }

    /// True when the client refused locally, before sending anything.
    pub fn is_local_refusal(&self) -> bool {
        matches!(
            self,
            Error::InvalidName(_)
                | Error::NotInRegistry { .. }
                | Error::RecipientDisabled { .. }
                | Error::SecretDetected { .. }
                | Error::ContentTooLong { .. }
                | Error::InvalidKind(_)
        )
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        many => format!("; did you mean one of {}?", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_in_registry_suggests() {
        let e = Error::NotInRegistry { name: "droplt".into(), suggestions: vec!["droplet".into()] };
        assert_eq!(e.to_string(), "peer \"droplt\" is not registered at the gateway; did you mean droplet?");
    }

    #[test]
    fn secret_detected_names_position_only() {
        let e = Error::SecretDetected { label: "github token".into(), line: 2, column: 5 };
        let s = e.to_string();
        assert!(s.contains("(github token) at line 2, column 5"), "{s}");
    }
}
