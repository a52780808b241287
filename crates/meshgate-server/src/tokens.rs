//! Minting bearer tokens.

use base64::Engine;
use meshgate_store::TokenHash;

/// Prefix of per-peer tokens: makes them recognisable to credential
/// scanners (and to people) wherever they leak.
pub const PEER_TOKEN_PREFIX: &str = "mgp_";

/// A fresh random token (256 bits from the OS) with `prefix`, and its hash.
pub fn mint(prefix: &str) -> (String, TokenHash) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source failed");
    let token = format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = TokenHash::of(&token);
    (token, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_hash_consistently() {
        let (a, ha) = mint(PEER_TOKEN_PREFIX);
        let (b, _) = mint(PEER_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("mgp_") && a.len() == 4 + 43);
        assert_eq!(ha, TokenHash::of(&a));
    }
}
