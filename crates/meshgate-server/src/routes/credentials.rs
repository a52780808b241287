//! Live credentials of this gateway in a message body.
//!
//! The scanner guesses from shapes, so its findings can be overridden
//! (`skip_secret_check`, a `warn`/`off` policy). This module owns the check
//! that needs no guess: the gateway knows its operator token and can look up
//! whether an `mgp_…` string is a live peer token, so such a body is refused
//! whatever the policy or the flag says. The refusal never says which
//! credential matched. It still answers yes or no for a whole body of
//! candidate strings at once (hostile review, session 10: a 8-character
//! operator token found by bisection in 22 s, ~22,000 guesses a request), so
//! the operator token is looked for only when it is long enough
//! ([`MIN_OPERATOR_TOKEN`]) that no number of guesses finds it; `meshgate
//! serve` warns at start about a shorter one. The operator's own requests
//! are checked for it whatever its length (their bearer token).

use std::collections::HashSet;

use meshgate_store::TokenHash;

use crate::config::MIN_OPERATOR_TOKEN;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Distinct `mgp_` token shapes one body may hold: each costs a store lookup,
/// so beyond this the body is refused instead of checked.
pub(crate) const MAX_TOKEN_SHAPES: usize = 64;

/// `mgp_` + 43 URL-safe base64 characters (`crate::tokens::mint`).
const PEER_TOKEN_BODY: usize = 43;

/// 422 `secret_detected` when `content` carries the operator token or a
/// live peer token of this gateway (revoked and rotated ones are harmless).
pub(crate) async fn refuse_live_credentials(state: &AppState, content: &str) -> ApiResult<()> {
    let operator = state.config().operator_token.expose();
    if operator.len() >= MIN_OPERATOR_TOKEN && content.contains(operator) {
        return Err(live_credential());
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for (at, _) in content.match_indices("mgp_") {
        let Some(candidate) = peer_token_at(content, at) else { continue };
        if !seen.insert(candidate) {
            continue;
        }
        if seen.len() > MAX_TOKEN_SHAPES {
            return Err(ApiError::invalid(
                "secret_detected",
                format!(
                    "refusing to store: the content holds more than {MAX_TOKEN_SHAPES} distinct meshgate \
                     peer-token shapes (mgp_...), too many to check against the live tokens"
                ),
            ));
        }
        if state.store().token_owner(&TokenHash::of(candidate)).await?.is_some() {
            return Err(live_credential());
        }
    }
    Ok(())
}

/// The same exact checks for the short fields of a send besides `content`
/// (`related_task_id` is shown to the recipient): the caller's own token, the
/// operator token, a live peer token. The scanner's shape rules are not
/// applied there: these are opaque identifiers, and its findings are content
/// policy (`skip_secret_check`, `--secret-guard`).
pub(crate) async fn refuse_in_fields(
    state: &AppState,
    own_token: &str,
    fields: &[(&str, Option<&str>)],
) -> ApiResult<()> {
    for &(field, value) in fields {
        let Some(value) = value else { continue };
        if value.contains(own_token) {
            return Err(ApiError::invalid(
                "secret_detected",
                format!(
                    "refusing to store: field {field:?} contains the bearer token of this request; \
                     rotate it if it was shared"
                ),
            ));
        }
        refuse_live_credentials(state, value).await.map_err(|mut e| {
            e.detail = format!("field {field:?}: {}", e.detail);
            e
        })?;
    }
    Ok(())
}

/// The peer-token shape starting at byte `at` (where `mgp_` was found).
fn peer_token_at(content: &str, at: usize) -> Option<&str> {
    let end = at + 4 + PEER_TOKEN_BODY;
    let body = content.as_bytes().get(at + 4..end)?;
    body.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')).then(|| &content[at..end])
}

fn live_credential() -> ApiError {
    ApiError::invalid(
        "secret_detected",
        "refusing to store: the content contains a live credential of this gateway (a peer or operator \
         token); this check cannot be skipped or relaxed. Rotate the token if it was shared elsewhere",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_token_shapes_are_cut_at_43_characters() {
        let tok = format!("mgp_{}", "aZ9-_".repeat(9));
        let text = format!("x{tok}yz");
        assert_eq!(peer_token_at(&text, 1), Some(&tok[..47]));
        assert_eq!(peer_token_at("mgp_short", 0), None);
        assert_eq!(peer_token_at(&format!("mgp_{}", "a b".repeat(20)), 0), None);
    }
}
