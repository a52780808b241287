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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names_split_at_the_first_colon() {
        assert_eq!(parse_thread_name("lab\u{2194}gpu: phase:7 "), ("lab\u{2194}gpu".into(), "phase:7".into()));
        assert_eq!(parse_thread_name("plain"), ("plain".into(), String::new()));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%_\\b"), "%a\\%\\_\\\\b%");
    }
}
