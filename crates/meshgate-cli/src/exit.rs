//! The exit-code contract, in one place.

use meshgate_client::Error as ClientError;

/// Success.
pub const OK: u8 = 0;
/// Refused (locally or by the gateway), not found, or `scan` found a credential.
pub const REFUSED: u8 = 1;
/// `wait` saw no message before `--timeout` (same code as [`REFUSED`]).
pub const TIMED_OUT: u8 = 1;
/// Bad command line or missing identity/content (clap uses 2 as well).
pub const USAGE: u8 = 2;
/// The gateway could not be reached or is unavailable (5xx from a proxy).
pub const UNREACHABLE: u8 = 3;
/// The gateway refused the credential.
pub const AUTH: u8 = 4;

/// Shown at the end of `meshgate --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok (`wait`: a message arrived; `watch`: stopped by Ctrl-C/SIGTERM)
  1  refused or not found (unknown recipient, credential in content, gateway said no);
     `scan` found a credential; `wait` timed out; `watch --exec` CMD failed (that message
     stays unacknowledged and the next watch retries it); the gateway lacks wait/watch
  2  usage error (bad flags, no identity, no content)
  3  gateway unreachable (`serve`/`import`/`export`: the store)
  4  authentication failed (token missing, wrong or revoked)

Environment:
  MESH_NODE             identity when --as is not given
  MESH_GATEWAY_URL      gateway when --gateway is not given (default http://127.0.0.1:8788)
  MESH_GATEWAY_TOKEN    shared token, used when no per-peer token is stored for the identity
  MESHGATE_CONFIG_DIR   where per-peer tokens live (default $XDG_CONFIG_HOME/meshgate)";

/// A command-line mistake found after parsing (exit 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`].
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

fn client_error(err: &anyhow::Error) -> Option<&ClientError> {
    err.chain().find_map(|e| e.downcast_ref::<ClientError>())
}

/// Maps any failure to the documented exit code.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<UsageError>()) {
        return USAGE;
    }
    if err.chain().any(|e| {
        matches!(e.downcast_ref::<meshgate_store::StoreError>(), Some(meshgate_store::StoreError::Unavailable(_)))
    }) {
        return UNREACHABLE;
    }
    match client_error(err) {
        Some(ClientError::Auth { .. }) => AUTH,
        Some(ClientError::Unreachable { .. }) => UNREACHABLE,
        Some(ClientError::Gateway { status: 502..=504, .. }) => UNREACHABLE,
        Some(ClientError::Config(_)) => USAGE,
        _ => REFUSED,
    }
}

/// What to do next, when the error alone does not say.
pub fn hint(err: &anyhow::Error) -> Option<String> {
    if err.chain().any(|e| e.is::<UsageError>()) {
        return Some("see `meshgate --help`".into());
    }
    Some(match client_error(err)? {
        ClientError::Auth { status: 403, .. } => {
            "the token is valid but may not do this; act as the peer the token belongs to (--as), or use that peer's token".into()
        }
        ClientError::Auth { .. } => {
            "register this identity (`meshgate register --as NAME --url URL`) to mint a per-peer token, or set MESH_GATEWAY_TOKEN to the gateway's shared token".into()
        }
        ClientError::Unreachable { gateway, .. } => format!(
            "is the gateway running at {gateway}? pass --gateway or set MESH_GATEWAY_URL"
        ),
        ClientError::NotInRegistry { .. } => {
            "check the name with `meshgate peers`; a peer must register before it can receive".into()
        }
        ClientError::SecretDetected { .. } => {
            "remove the credential and share it out of band; for a known false positive pass --skip-secret-check".into()
        }
        ClientError::InvalidName(_) => "peer names look like `lab-ovh`: a-z, 0-9 and '-'".into(),
        ClientError::Gateway { status: 409, .. } => {
            "an idempotency key was reused with different content; pick a new key".into()
        }
        ClientError::Unsupported { .. } => return None,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_contract() {
        let auth = anyhow::Error::new(ClientError::Auth {
            status: 401,
            token_source: "MESH_GATEWAY_TOKEN".into(),
            detail: "bad token".into(),
        });
        assert_eq!(exit_code(&auth), AUTH);
        let down =
            anyhow::Error::new(ClientError::Unreachable { gateway: "http://x".into(), reason: "refused".into() })
                .context("sending");
        assert_eq!(exit_code(&down), UNREACHABLE);
        let refused = anyhow::Error::new(ClientError::NotInRegistry { name: "x".into(), suggestions: vec![] });
        assert_eq!(exit_code(&refused), REFUSED);
        assert_eq!(exit_code(&usage("no identity")), USAGE);
        assert_eq!(exit_code(&anyhow::anyhow!("other")), REFUSED);
    }
}
