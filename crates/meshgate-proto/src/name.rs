/// The canonical peer-name pattern (kebab-case, 2 to 64 characters).
pub const PEER_NAME_PATTERN: &str = "^[a-z][a-z0-9-]{0,62}[a-z0-9]$";

/// Longest valid peer name, in bytes.
pub const PEER_NAME_MAX: usize = 64;

/// Why a string is not a canonical peer name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Shorter than 2 characters.
    #[error("peer name {0:?} is too short: names have 2 to 64 characters")]
    TooShort(String),
    /// Longer than 64 characters.
    #[error("peer name is {0} characters long: names have 2 to 64 characters")]
    TooLong(usize),
    /// Does not match the canonical pattern.
    #[error("peer name {0:?} is not canonical: lower-case letters, digits and '-', starting with a letter and not ending with '-'")]
    Malformed(String),
}

impl From<NameError> for crate::BodyError {
    /// 422 `invalid_name`: the one answer to a name that is not canonical,
    /// in a body or a path.
    fn from(e: NameError) -> Self {
        crate::BodyError::invalid("invalid_name", e.to_string())
    }
}

/// Checks `name` against [`PEER_NAME_PATTERN`] without a regex engine.
pub fn validate_peer_name(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    if bytes.len() > PEER_NAME_MAX {
        return Err(NameError::TooLong(name.chars().count()));
    }
    if bytes.len() < 2 {
        return Err(NameError::TooShort(name.to_owned()));
    }
    let first_ok = bytes[0].is_ascii_lowercase();
    let last = bytes[bytes.len() - 1];
    let last_ok = last.is_ascii_lowercase() || last.is_ascii_digit();
    let body_ok = bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if first_ok && last_ok && body_ok {
        Ok(())
    } else {
        Err(NameError::Malformed(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_names() {
        for ok in ["ab", "droplet", "lab-ovh", "a1", "x-9", &format!("a{}", "b".repeat(63))] {
            assert_eq!(validate_peer_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in ["", "a", "-ab", "ab-", "Ab", "a_b", "1ab", "a b", "é1", &"a".repeat(65)] {
            assert!(validate_peer_name(bad).is_err(), "{bad:?}");
        }
    }
}
