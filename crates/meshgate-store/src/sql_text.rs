//! Text rules both SQL backends share: how a thread name splits, and
//! LIKE patterns with their wildcards escaped.

/// Splits `pair:topic` at the first `:` (both trimmed), as the reference
/// gateway does; no `:` means the whole name is the pair.
pub fn parse_thread_name(name: &str) -> (String, String) {
    match name.split_once(':') {
        Some((pair, topic)) => (pair.trim().to_owned(), topic.trim().to_owned()),
        None => (name.to_owned(), String::new()),
    }
}

/// A thread's peer pair as a LIKE subject whose sides are whole names:
/// spaces removed, the separators `<->` and `--` written `↔`, and a `↔`
/// on each end, so [`pair_side_pattern`] matches one side exactly (SQL,
/// the same on SQLite and PostgreSQL).
pub const PAIR_SIDES_SQL: &str =
    "('\u{2194}' || replace(replace(replace(peer_pair, ' ', ''), '<->', '\u{2194}'), '--', '\u{2194}') || '\u{2194}')";

/// The LIKE pattern (`\` escapes) that finds `name` as a whole side of
/// [`PAIR_SIDES_SQL`]; the name is normalised as the pair is.
pub fn pair_side_pattern(name: &str) -> String {
    let name = name.replace(' ', "").replace("<->", "\u{2194}").replace("--", "\u{2194}");
    format!("%\u{2194}{}\u{2194}%", like_escape(&name))
}

/// `%text%` with LIKE's wildcards escaped (`\` is the escape character).
pub fn like_pattern(text: &str) -> String {
    format!("%{}%", like_escape(text))
}

/// Escapes LIKE wildcards (`%`, `_`) and the escape character itself.
pub fn like_escape(text: &str) -> String {
    let mut p = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p
}

/// `COLUMN = <the peer a name means>`: the rule of
/// [`Store::resolve_name`](crate::Store::resolve_name) as SQL over the name
/// (bound to both `?`): an alias of a registered peer that is not itself a
/// peer's name gives that peer; any other name stands for itself. An
/// uncorrelated subquery, so both backends evaluate it once per statement
/// and walk the column's index with its value.
macro_rules! resolved_name_sql {
    ($column:literal) => {
        concat!(
            $column,
            " = coalesce((SELECT a.canonical FROM aliases a WHERE a.alias = ? \
             AND EXISTS (SELECT 1 FROM peers p WHERE p.name = a.canonical) \
             AND NOT EXISTS (SELECT 1 FROM peers p WHERE p.name = a.alias)), ?)"
        )
    };
}

/// `to_node` is the peer the name means, with
/// [`MessageQuery::resolve_aliases`](crate::MessageQuery::resolve_aliases)
/// (see `resolved_name_sql!`); the same on SQLite and PostgreSQL.
pub const TO_NODE_RESOLVED_SQL: &str = resolved_name_sql!("to_node");

/// `from_node` is the peer the name means (as [`TO_NODE_RESOLVED_SQL`]).
pub const FROM_NODE_RESOLVED_SQL: &str = resolved_name_sql!("from_node");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names_split_at_the_first_colon() {
        assert_eq!(parse_thread_name("lab\u{2194}gpu: phase:7 "), ("lab\u{2194}gpu".into(), "phase:7".into()));
        assert_eq!(parse_thread_name("plain"), ("plain".into(), String::new()));
    }

    #[test]
    fn pair_side_patterns_are_whole_names() {
        assert_eq!(pair_side_pattern("lab-ovh"), "%\u{2194}lab-ovh\u{2194}%");
        assert_eq!(pair_side_pattern("a_b"), "%\u{2194}a\\_b\u{2194}%");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%_\\b"), "%a\\%\\_\\\\b%");
    }
}
