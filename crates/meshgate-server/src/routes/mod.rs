//! HTTP resources; each module owns its routes.

pub mod aliases;
mod credentials;
pub mod health;
pub mod messages;
pub mod openapi;
pub mod peers;
pub mod threads;

use meshgate_store::Store;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Parses a numeric path id (422 otherwise, as the reference answers).
pub(crate) fn parse_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid("invalid_id", format!("message id {raw:?} is not a positive integer")))
}

/// Close names for a misaddressed `name`: aliases first, then peers by
/// prefix or edit distance.
pub(crate) async fn suggestions(state: &AppState, name: &str) -> ApiResult<Vec<String>> {
    let store: &dyn Store = state.store();
    let aliases = store.aliases().await?;
    let peers = store.list_peers().await?;
    let mut out: Vec<String> = Vec::new();
    for a in &aliases {
        if close(name, &a.alias) && !out.contains(&a.canonical) {
            out.push(a.canonical.clone());
        }
    }
    let mut ranked: Vec<(usize, &str)> = peers
        .iter()
        .filter(|p| p.enabled)
        .filter_map(|p| {
            let d = edit_distance(name, &p.name);
            let prefix = p.name.starts_with(name) || name.starts_with(p.name.as_str());
            (prefix || d <= 2 + name.len() / 8).then_some((if prefix { 0 } else { d }, p.name.as_str()))
        })
        .collect();
    ranked.sort();
    for (_, p) in ranked {
        if !out.iter().any(|o| o == p) {
            out.push(p.to_owned());
        }
    }
    out.truncate(5);
    Ok(out)
}

fn close(a: &str, b: &str) -> bool {
    a == b || b.starts_with(a) || a.starts_with(b) || edit_distance(a, b) <= 2
}

/// Levenshtein distance over chars.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + usize::from(ca != *cb));
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("drop", "droplet"), 3);
        assert_eq!(edit_distance("droplte", "droplet"), 2);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
