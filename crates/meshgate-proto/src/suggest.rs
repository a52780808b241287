//! "Did you mean": the registered peers close to a misaddressed recipient.
//!
//! One definition for both sides that refuse an unknown name: the gateway
//! (404 `unknown_recipient`, `suggestions` in the error body) and the client
//! (refusing before the POST), so the same typo gets the same suggestions
//! whichever side refuses it.

use std::collections::{BTreeMap, BTreeSet};

/// Most names a "did you mean" lists.
pub const SUGGESTIONS_MAX: usize = 5;

/// The threshold: a name is close to what was typed when it is at most this
/// many edits away (insert, delete, substitute a character), or shares its
/// first three characters, or shares two and one name is a prefix of the other.
pub const SUGGEST_MAX_EDITS: usize = 2;

/// The registered peers close to `name`, best first.
///
/// `peers` are the names a message can be sent to (enabled peers); `aliases`
/// are `(alias, canonical)` pairs. A peer is suggested when its own name or
/// one of its aliases is close to `name` (see [`SUGGEST_MAX_EDITS`]); the
/// suggestion is always the canonical name, never an alias, and only peers
/// listed in `peers`. Ranked by the peer's best name: one that extends what
/// was typed (or is extended by it) first, then the fewest edits, then by
/// name; at most [`SUGGESTIONS_MAX`].
pub fn suggestions<'a>(
    name: &str,
    peers: impl IntoIterator<Item = &'a str>,
    aliases: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<String> {
    let peers: BTreeSet<&str> = peers.into_iter().collect();
    let mut best: BTreeMap<&str, usize> = BTreeMap::new();
    let mut consider = |candidate: &str, peer: &'a str| {
        if let Some(rank) = rank(name, candidate) {
            let kept = best.entry(peer).or_insert(rank);
            *kept = (*kept).min(rank);
        }
    };
    for &peer in &peers {
        consider(peer, peer);
    }
    for (alias, canonical) in aliases {
        if let Some(&peer) = peers.get(canonical) {
            consider(alias, peer);
        }
    }
    let mut ranked: Vec<(usize, &str)> = best.into_iter().map(|(peer, rank)| (rank, peer)).collect();
    ranked.sort_unstable();
    ranked.into_iter().take(SUGGESTIONS_MAX).map(|(_, peer)| peer.to_owned()).collect()
}

/// When `candidate` is close to `name`, its rank (lower is better): 0 when
/// one extends the other, else the edit distance.
fn rank(name: &str, candidate: &str) -> Option<usize> {
    let edits = edit_distance(name, candidate);
    let prefix = name.chars().zip(candidate.chars()).take_while(|(a, b)| a == b).count();
    let nested = prefix >= 2 && (candidate.starts_with(name) || name.starts_with(candidate));
    if nested {
        Some(0)
    } else {
        (edits <= SUGGEST_MAX_EDITS || prefix >= 3).then_some(edits)
    }
}

/// Levenshtein distance in characters (insert, delete, substitute).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEERS: [&str; 5] = ["droplet", "lab-ovh", "lab-gpu", "workstation-lc", "zz"];

    fn suggest(name: &str, aliases: &[(&'static str, &'static str)]) -> Vec<String> {
        suggestions(name, PEERS, aliases.iter().copied())
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("droplet", "droplet"), 0);
        assert_eq!(edit_distance("droplt", "droplet"), 1);
        assert_eq!(edit_distance("droplte", "droplet"), 2);
        assert_eq!(edit_distance("drop", "droplet"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("é", "e"), 1, "characters, not bytes");
    }

    #[test]
    fn close_by_edits_or_shared_prefix() {
        assert_eq!(suggest("droplt", &[]), ["droplet"]);
        assert_eq!(suggest("droplte", &[]), ["droplet"]);
        assert_eq!(suggest("lab-x", &[]), ["lab-gpu", "lab-ovh"], "same distance: by name");
        assert_eq!(suggest("work", &[]), ["workstation-lc"], "a prefix of the peer");
        assert_eq!(suggest("dr", &[]), ["droplet", "zz"], "a name that extends the typed one first");
        assert_eq!(suggest("da", &[]), ["zz"], "two edits away, nothing shared");
        assert!(suggest("qqqqqq", &[]).is_empty());
        assert_eq!(suggest("dx", &[]), ["zz"], "one shared character is not enough for droplet");
    }

    #[test]
    fn aliases_lead_to_their_canonical_peer() {
        // `drp` is one edit from the alias `drop`, four from `droplet`.
        assert_eq!(suggest("drp", &[]), Vec::<String>::new());
        assert_eq!(suggest("drp", &[("drop", "droplet")]), ["droplet"]);
        // The best of a peer's names ranks it: `lab-cl` is close to the alias.
        assert_eq!(suggest("lab-claud", &[("lab-claude", "lab-ovh")]), ["lab-ovh", "lab-gpu"]);
        // An alias of a peer that cannot receive (absent, disabled) is no suggestion.
        assert!(suggest("ws-l", &[("ws-lc", "ws-gone")]).is_empty());
        // One entry per peer, whatever number of its names are close.
        assert_eq!(suggest("droplets", &[("droplet2", "droplet"), ("droplets1", "droplet")]), ["droplet"]);
    }

    #[test]
    fn at_most_five_best_first() {
        let peers = ["node-1", "node-22", "node-3", "node-4", "node-5", "node-6", "nodex"];
        let got = suggestions("node-", peers, []);
        assert_eq!(got, ["node-1", "node-22", "node-3", "node-4", "node-5"]);
        assert_eq!(suggestions("nodes", peers, []).first().map(String::as_str), Some("nodex"));
    }
}
