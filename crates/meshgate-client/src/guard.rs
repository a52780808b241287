//! The credential check every send runs before any byte leaves the process.
//!
//! Two layers: the exact values of the tokens this process holds (zero false
//! positives, so no escape hatch), then `meshgate_guard`'s pattern scanner
//! (best effort; `skip_secret_check` switches it off for a known false
//! positive). A refusal names the finding's label and position, never the
//! matched text.

use crate::{Error, Result};

/// Shortest token value the exact-match layer looks for; shorter values would
/// match ordinary words.
const MIN_TOKEN_LEN: usize = meshgate_guard::MIN_OWN_TOKEN_LEN;

/// A token value this process holds, with a label for refusals.
pub(crate) struct KnownSecret {
    pub(crate) label: String,
    pub(crate) value: String,
}

impl std::fmt::Debug for KnownSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSecret").field("label", &self.label).finish_non_exhaustive()
    }
}

/// Refuses `content` if it is longer than a DM may be (the gateway would
/// refuse it, and one over its body limit would be cut off mid-upload), if it
/// carries one of `known` or, unless `skip_patterns`, anything the pattern
/// scanner flags.
pub(crate) fn check(content: &str, known: &[KnownSecret], skip_patterns: bool) -> Result<()> {
    let max = meshgate_proto::CONTENT_MAX_CHARS;
    // Bytes bound characters from above: count only when it could be too long.
    if content.len() > max {
        let chars = content.chars().count();
        if chars > max {
            return Err(Error::ContentTooLong { chars, max });
        }
    }
    for secret in known {
        if secret.value.len() < MIN_TOKEN_LEN {
            continue;
        }
        if let Some(offset) = content.find(&secret.value) {
            let (line, column) = position(content, offset);
            return Err(Error::SecretDetected { label: secret.label.clone(), line, column });
        }
    }
    if skip_patterns {
        return Ok(());
    }
    match first_pattern_finding(content) {
        Some((label, line, column)) => Err(Error::SecretDetected { label, line, column }),
        None => Ok(()),
    }
}

/// The first finding of `meshgate_guard`, as `(label, line, column)`.
fn first_pattern_finding(content: &str) -> Option<(String, usize, usize)> {
    meshgate_guard::scan(content).into_iter().next().map(|f| (f.label().to_string(), f.line, f.column))
}

/// 1-based line and character column of byte `offset` in `text`.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(value: &str) -> Vec<KnownSecret> {
        vec![KnownSecret { label: "this client's gateway token".into(), value: value.into() }]
    }

    #[test]
    fn content_longer_than_a_dm_is_refused_even_with_skip() {
        let max = meshgate_proto::CONTENT_MAX_CHARS;
        // Two bytes a character: the byte length alone must not refuse it.
        assert!(check(&"é".repeat(max), &[], true).is_ok());
        match check(&"é".repeat(max + 1), &[], true) {
            Err(Error::ContentTooLong { chars, max: m }) => assert_eq!((chars, m), (max + 1, max)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn position_is_one_based_in_characters() {
        assert_eq!(position("abc", 0), (1, 1));
        assert_eq!(position("ab\ncdé-x", 7), (2, 4));
    }

    #[test]
    fn own_token_is_refused_even_with_skip() {
        let token = "tok_0123456789abcdef";
        let content = format!("hello\n  here: {token}");
        for skip in [false, true] {
            match check(&content, &own(token), skip) {
                Err(Error::SecretDetected { label, line, column }) => {
                    assert_eq!((line, column), (2, 9));
                    assert!(label.contains("gateway token"));
                }
                other => panic!("{other:?}"),
            }
        }
        let msg = check(&content, &own(token), false).unwrap_err().to_string();
        assert!(!msg.contains(token), "{msg}");
    }

    #[test]
    fn short_tokens_are_not_matched() {
        assert!(check("a bit of text", &own("a"), true).is_ok());
    }

    #[test]
    fn pattern_findings_refuse_unless_skipped() {
        let content = format!("key: ghp_{}", "A".repeat(36));
        let err = check(&content, &[], false).unwrap_err();
        match &err {
            Error::SecretDetected { line, column, .. } => assert_eq!((*line, *column), (1, 6)),
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains("ghp_"), "{err}");
        assert!(check(&content, &[], true).is_ok());
        assert!(check("nothing to see here", &[], false).is_ok());
    }
}
