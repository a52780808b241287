//! The exit-code contract, in one place.

use meshgate_client::{Error as ClientError, GATEWAY_TOKEN_ENV};

use crate::commands::Global;
use crate::tokens::{stored_token_path, TokenStore};

/// Success.
pub const OK: u8 = 0;
/// Refused (locally or by the gateway), not found, or `scan` found a credential.
pub const REFUSED: u8 = 1;
/// `wait` saw no message before `--timeout` (same code as [`REFUSED`]).
pub const TIMED_OUT: u8 = 1;
/// Bad command line or missing identity/content (clap uses 2 as well).
pub const USAGE: u8 = 2;
/// The gateway could not be reached, its TLS certificate was refused, or it
/// is unavailable (5xx from a proxy).
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
  2  usage error (bad flags, an invalid peer name or kind, no identity, no content, `--thread`
     not a UUID, `scan` FILE unreadable, `serve --listen` address in use, a --db or import FILE
     that is not what the command needs: a swarph mesh.db, another application's database)
  3  gateway unreachable or its TLS certificate refused (`serve`/`import`/`export`: the store)
  4  authentication failed (token missing, wrong, rotated or revoked), or the token may not
     do this (operator only, peer disabled, another peer's action)

Environment:
  MESH_NODE             identity when --as is not given
  MESH_GATEWAY_URL      gateway when --gateway is not given (default http://127.0.0.1:8788)
  MESH_GATEWAY_TOKEN    shared token, used when no per-peer token is stored for the identity
  MESHGATE_CA_FILE      PEM bundle of CAs trusted for an https:// gateway besides the system roots
  MESHGATE_CONFIG_DIR   where per-peer tokens live (default $XDG_CONFIG_HOME/meshgate, else
                        ~/.config/meshgate; `meshgate token show-path --as NAME` prints the file)";

/// A command-line mistake found after parsing (exit 2). `advised`: the
/// text already says what to do, so no generic `see meshgate --help` hint
/// follows it.
#[derive(Debug)]
pub struct UsageError {
    message: String,
    advised: bool,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`] that gets the generic hint.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError { message: message.into(), advised: false })
}

/// A [`UsageError`] whose text carries its own advice (no generic hint).
pub fn advised(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError { message: message.into(), advised: true })
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
        // The token is fine: the message is not this peer's (or missing).
        Some(ClientError::Auth { code, .. }) if code == "not_in_inbox" => REFUSED,
        Some(ClientError::Auth { .. }) => AUTH,
        Some(ClientError::Unreachable { .. }) => UNREACHABLE,
        Some(ClientError::Gateway { status: 502..=504, .. }) => UNREACHABLE,
        // A name or kind that can never be valid is a command-line mistake.
        Some(ClientError::Config(_) | ClientError::InvalidName(_) | ClientError::InvalidKind(_)) => USAGE,
        _ => REFUSED,
    }
}

/// What to do about an unreachable `gateway` (transport failure `reason`):
/// for a refused certificate, which CA to trust; else where to point.
pub fn unreachable_hint(gateway: &str, reason: &str) -> String {
    if reason.contains("CaUsedAsEndEntity") {
        "the certificate is a CA certificate used as the server's own; issue a leaf certificate signed by it \
         (see README Deployment)"
            .into()
    } else if gateway.starts_with("http://") && reason.contains("invalid HTTP version") {
        format!("the gateway may be serving TLS: try {}", gateway.replacen("http://", "https://", 1))
    } else if meshgate_client::is_certificate_problem(reason) {
        format!(
            "the TLS certificate of {gateway} was not accepted: if a private CA signed it, set {}=CA.pem (the CA \
             that signed the gateway's certificate); the host in the URL must be a name the certificate was issued \
             for",
            meshgate_client::CA_FILE_ENV
        )
    } else {
        format!("is the gateway running at {gateway}? pass --gateway or set MESH_GATEWAY_URL")
    }
}

/// What to do next, when the error alone does not say. Chosen by the
/// failure's kind and, for gateway answers, by its stable `error` code;
/// `global` supplies the identity and gateway the hint names.
pub fn hint(err: &anyhow::Error, global: &Global) -> Option<String> {
    if let Some(usage) = err.chain().find_map(|e| e.downcast_ref::<UsageError>()) {
        return (!usage.advised).then(|| "see `meshgate --help`".into());
    }
    let name = global.identity.as_deref().filter(|n| !n.is_empty()).unwrap_or("NAME");
    Some(match client_error(err)? {
        ClientError::Auth { status: 401, token_source, .. } => unauthorized_hint(token_source, name, global),
        ClientError::Auth { code, .. } => forbidden_hint(code, name),
        ClientError::Unreachable { gateway, reason } => unreachable_hint(gateway, reason),
        ClientError::NotInRegistry { .. } => {
            "check the name with `meshgate peers`; a peer must register before it can receive".into()
        }
        ClientError::RecipientDisabled { name } => {
            format!("the operator disabled {name}; `meshgate peers enable {name}` (operator token) turns it back on")
        }
        ClientError::SecretDetected { .. } => SECRET_HINT.into(),
        ClientError::Gateway { code, .. } if code == "secret_detected" => SECRET_HINT.into(),
        ClientError::InvalidName(_) => "peer names look like `lab-ovh`: a-z, 0-9 and '-'".into(),
        ClientError::Gateway { status: 409, code, detail } => conflict_hint(code, detail, name)?,
        ClientError::Throttled { code, .. } if code == "conversation_loop" => {
            "the two peers answered each other too often; the operator lifts it with `meshgate loops reset A B` \
             (see `meshgate loops`) or by sending either of them a DM"
                .into()
        }
        ClientError::Throttled { .. } => {
            "this sender is over the gateway's --send-rate; slow down and retry after the wait given".into()
        }
        _ => return None,
    })
}

/// After a credential refusal, local or by the gateway (whose detail names
/// the API's `skip_secret_check`): the CLI's flag for it.
const SECRET_HINT: &str =
    "remove the credential and share it out of band; for a known false positive pass --skip-secret-check";

/// A 401: the token was missing, unknown, revoked or rotated. Names the
/// token file and the ways to a working token.
fn unauthorized_hint(token_source: &str, name: &str, global: &Global) -> String {
    let register = format!(
        "register {name} with the operator token (`MESH_GATEWAY_TOKEN=<operator token> meshgate register --as {name}`; \
         the gateway's operator token is the `operator-token` file in its data directory)"
    );
    let set = format!("store a token minted elsewhere with `meshgate token set --as {name} < FILE` (reads stdin)");
    if let Some(path) = stored_token_path(token_source) {
        return format!(
            "the token stored in {path} is not valid at this gateway (rotated, revoked, or the peer was removed): \
             {set}, or delete it with `meshgate token forget --as {name}` and {register}"
        );
    }
    let file = TokenStore::locate()
        .map(|s| s.path(&global.gateway, name).display().to_string())
        .unwrap_or_else(|_| "the config directory".into());
    if token_source == GATEWAY_TOKEN_ENV {
        return format!(
            "{GATEWAY_TOKEN_ENV} is not a token this gateway accepts: set it to the gateway's operator token or a \
             peer's current token; no per-peer token is stored for {name} ({file}): {set}, or {register}"
        );
    }
    let what = if token_source.starts_with("missing token") { "no token".to_owned() } else { token_source.to_owned() };
    format!("{what}: {register}, {set} (it goes to {file}), or set {GATEWAY_TOKEN_ENV}")
}

/// A 403 by its code: the token is valid but may not do this.
fn forbidden_hint(code: &str, name: &str) -> String {
    match code {
        "operator_only" => format!(
            "this needs the operator token: set {GATEWAY_TOKEN_ENV} to it (the `operator-token` file in the \
             gateway's data directory) and leave out --as (and MESH_NODE)"
        ),
        "peer_disabled" | "sender_disabled" => format!(
            "the operator disabled {name}: ask them to enable it (`meshgate peers enable {name}`, i.e. \
             PATCH /peers/{name} {{\"enabled\": true}})"
        ),
        "not_in_inbox" => format!(
            "no message with that id is addressed to {name}: check the id (`meshgate inbox --as {name}`); \
             only a message's recipient marks it read"
        ),
        "peer_token_required" => format!(
            "this gateway refuses the operator token for messages: act as a peer with its own token (--as {name}; \
             `meshgate register --as {name}` mints one, `meshgate token set --as {name}` stores one)"
        ),
        _ => "the token is valid but may not do this; act as the peer the token belongs to (--as), or use that \
              peer's token"
            .into(),
    }
}

/// A 409 by its code; `None` for a conflict with no known remedy.
fn conflict_hint(code: &str, detail: &str, name: &str) -> Option<String> {
    Some(match code {
        "name_retired" => format!(
            "the name's old DMs are kept: take it over with them (`meshgate register --as {name} --adopt-history`, \
             operator token) or free it by deleting them (`meshgate peers rm {name} --purge`)"
        ),
        "name_taken" => "peers and aliases share one namespace and this name is taken by one of them (see \
                         `meshgate peers` and `meshgate alias list`): pick another name, or remove the alias first"
            .into(),
        c if c == "idempotency_conflict" || detail.to_ascii_lowercase().contains("idempotency") => {
            "an idempotency key was reused with different content; pick a new key".into()
        }
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
            code: "invalid_token".into(),
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

    #[test]
    fn hints_follow_the_code() {
        let global = Global { identity: Some("carol".into()), gateway: "http://127.0.0.1:1".into(), timeout: None };
        let auth = |status, code: &str, source: &str| ClientError::Auth {
            status,
            code: code.into(),
            token_source: source.into(),
            detail: "d".into(),
        };
        let conflict = |code: &str| ClientError::Gateway { status: 409, code: code.into(), detail: "d".into() };
        let cases: Vec<(ClientError, u8, &str)> = vec![
            (auth(401, "invalid_token", "per-peer token from /t/carol"), AUTH, "token stored in /t/carol"),
            (auth(401, "invalid_token", "MESH_GATEWAY_TOKEN"), AUTH, "MESH_GATEWAY_TOKEN is not a token"),
            (auth(401, "missing_token", "missing token (x)"), AUTH, "no token: register carol"),
            (auth(403, "operator_only", "per-peer token from /t/carol"), AUTH, "needs the operator token"),
            (auth(403, "peer_disabled", "per-peer token from /t/carol"), AUTH, "meshgate peers enable carol"),
            (auth(403, "peer_token_required", "MESH_GATEWAY_TOKEN"), AUTH, "refuses the operator token"),
            (auth(403, "caller_binding", "per-peer token from /t/carol"), AUTH, "act as the peer"),
            (auth(403, "not_in_inbox", "per-peer token from /t/carol"), REFUSED, "addressed to carol"),
            (conflict("name_retired"), REFUSED, "meshgate register --as carol --adopt-history"),
            (conflict("name_taken"), REFUSED, "one namespace"),
            (conflict("idempotency_conflict"), REFUSED, "idempotency key"),
            (ClientError::RecipientDisabled { name: "bob".into() }, REFUSED, "meshgate peers enable bob"),
        ];
        for (error, code, wanted) in cases {
            let shown = format!("{error:?}");
            let err = anyhow::Error::new(error);
            assert_eq!(exit_code(&err), code, "{shown}");
            let hint = hint(&err, &global).unwrap_or_default();
            assert!(hint.contains(wanted), "{shown}: {hint}");
            assert!(!hint.contains("--url"), "{shown}: {hint}");
        }
        assert_eq!(hint(&anyhow::Error::new(conflict("conflict")), &global), None);
    }

    #[test]
    fn errors_that_say_what_to_do_get_no_generic_hint() {
        let global = Global { identity: None, gateway: "http://127.0.0.1:1".into(), timeout: None };
        let shown = |err: anyhow::Error| hint(&err, &global).unwrap_or_default();
        assert_eq!(shown(usage("--timeout must be a number")), "see `meshgate --help`");
        let advice = advised("x is not valid JSON (line 2, column 3); fix it first").context("installing");
        assert_eq!(hint(&advice, &global), None);
        assert_eq!(exit_code(&advice), USAGE);
        let unreachable = |gateway: &str, reason: &str| {
            anyhow::Error::new(ClientError::Unreachable { gateway: gateway.into(), reason: reason.into() })
        };
        let tls = shown(unreachable("http://127.0.0.1:8443", "connection closed: invalid HTTP version parsed"));
        assert!(tls.contains("serving TLS: try https://127.0.0.1:8443"), "{tls}");
        let ca = shown(unreachable("https://localhost:8443", "invalid peer certificate: CaUsedAsEndEntity"));
        assert!(ca.contains("CA certificate used as the server's own; issue a leaf certificate"), "{ca}");
        let refused = ClientError::Gateway { status: 400, code: "secret_detected".into(), detail: "d".into() };
        assert!(shown(anyhow::Error::new(refused)).contains("--skip-secret-check"));
    }
}
