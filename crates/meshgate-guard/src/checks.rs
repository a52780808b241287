//! Post-match validators. All are O(len(value)); the two that look at the
//! whole line (connection-string keys, SAS `sv=`) compute that fact once per
//! line ([`LineFacts`]), so many matches on one long line stay linear.

use crate::Check;

/// The line a gated match was found on, with lazily computed, cached facts.
pub(crate) struct LineFacts<'a> {
    text: &'a str,
    conn_keys: Option<bool>,
    sas: Option<bool>,
    /// The last [`is_placeholder`] answer: (value address, length, answer).
    placeholder: Option<(usize, usize, bool)>,
}

impl<'a> LineFacts<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        LineFacts { text, conn_keys: None, sas: None, placeholder: None }
    }

    /// [`is_placeholder`], remembered for the last value: rules that overlap
    /// (a connection-string password is also a generic assignment) check the
    /// same span in turn. Values borrow the scanned text for `'a`, so the same
    /// address and length are the same bytes.
    fn placeholder(&mut self, v: &'a str) -> bool {
        let key = (v.as_ptr() as usize, v.len());
        match self.placeholder {
            Some((at, len, answer)) if (at, len) == key => answer,
            _ => {
                let answer = is_placeholder(v);
                self.placeholder = Some((key.0, key.1, answer));
                answer
            }
        }
    }

    fn conn_keys(&mut self) -> bool {
        const KEYS: &[&str] =
            &["server=", "data source=", "host=", "uid=", "user id=", "initial catalog=", "database=", "hostname="];
        let text = self.text;
        *self.conn_keys.get_or_insert_with(|| KEYS.iter().any(|k| contains_ci(text, k)))
    }

    fn sas(&mut self) -> bool {
        let text = self.text;
        *self.sas.get_or_insert_with(|| contains_ci(text, "sv="))
    }
}

pub(crate) fn check<'a>(check: Check, value: &'a str, line: &mut LineFacts<'a>) -> bool {
    let mut placeholder = |v: &'a str| line.placeholder(v);
    match check {
        Check::None => true,
        Check::NotWords => not_words(value),
        Check::MixedAws => mixed_aws(value),
        Check::Generic => generic(value, &mut placeholder),
        Check::UrlPassword => url_password(value, &mut placeholder),
        Check::ConnString => conn_string(value, &mut placeholder) && line.conn_keys(),
        Check::NotRef => not_ref(value),
        Check::NotPlaceholder => not_ref(value) && !placeholder(value),
        Check::HasPercent => value.contains('%'),
        Check::AzureSas => line.sas(),
    }
}

/// Rejects prefixed matches whose body (after the first `-`/`_`/`.`) is a run
/// of lowercase words, e.g. `sk-learn-model-selection`, `pypi-publish-workflow`.
/// Placeholders such as `sk-xxxxxxxxxxxxxxxxxxxxxxxx` are kept.
fn not_words(value: &str) -> bool {
    let body = match value.bytes().position(|b| matches!(b, b'-' | b'_' | b'.')) {
        Some(i) => &value[i + 1..],
        None => value,
    };
    let (mut has_upper, mut has_sep) = (false, false);
    for b in body.bytes() {
        has_upper |= b.is_ascii_uppercase();
        has_sep |= b == b'-' || b == b'_';
    }
    if has_upper || !has_sep {
        return true;
    }
    // Every segment is a lowercase word or a short token such as `v2`.
    let wordy = body.split(['-', '_']).all(|seg| seg.bytes().all(|b| b.is_ascii_lowercase()) || seg.len() <= 3);
    !wordy
}

fn mixed_aws(v: &str) -> bool {
    let b = v.as_bytes();
    b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(|c| c.is_ascii_digit() || *c == b'/' || *c == b'+')
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    let n = needle.as_bytes();
    // Cheap first-byte filter (both cases) before the case-insensitive compare.
    let (lo, up) = (n[0].to_ascii_lowercase(), n[0].to_ascii_uppercase());
    let h = hay.as_bytes();
    memchr::memchr2_iter(lo, up, h).any(|i| h.len() - i >= n.len() && h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// A reference to a variable / expression rather than a literal value.
fn not_ref(v: &str) -> bool {
    let first = v.as_bytes().first().copied().unwrap_or(b'$');
    !matches!(first, b'$' | b'<' | b'{' | b'%' | b'(' | b'*')
        && !v.bytes().any(|b| matches!(b, b'(' | b'[' | b'{' | b'<' | b'$'))
}

const PLACEHOLDER_WORDS: &[&str] = &[
    "xxxx",
    "****",
    "....",
    "your_",
    "your-",
    "yourpass",
    "changeme",
    "change_me",
    "placeholder",
    "redacted",
    "example",
    "dummy",
    "sample",
    "replace",
    "insert",
    "todo",
    "fixme",
];

fn is_placeholder(v: &str) -> bool {
    static WORDS: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(PLACEHOLDER_WORDS)
            .expect("placeholder automaton builds")
    });
    const EXACT: &[&str] = &["password", "passwd", "pass", "pwd", "secret", "pw", "token", "apikey", "api_key"];
    EXACT.iter().any(|w| v.eq_ignore_ascii_case(w)) || WORDS.is_match(v)
}

fn url_password<'a>(v: &'a str, is_placeholder: &mut impl FnMut(&'a str) -> bool) -> bool {
    if v.starts_with("%s") || v.starts_with("%(") {
        return false;
    }
    not_ref(v) && !is_placeholder(v) && !v.bytes().all(|b| b == b'*' || b == b'x' || b == b'X')
}

fn conn_string<'a>(v: &'a str, is_placeholder: &mut impl FnMut(&'a str) -> bool) -> bool {
    v.len() >= 3 && not_ref(v) && !is_placeholder(v)
}

fn looks_like_email(v: &str) -> bool {
    match v.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && domain.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        }
        None => false,
    }
}

/// Generic `key = value` assignment: the value must look like a literal random
/// secret, not code, a reference, a word or a placeholder.
fn generic<'a>(v: &'a str, is_placeholder: &mut impl FnMut(&'a str) -> bool) -> bool {
    let v = v.trim_end_matches(['.', ')', ']', '}', '>', '\\']);
    let n = v.len();
    let b = v.as_bytes();
    if !(8..=512).contains(&n) || !not_ref(v) || v.contains("://") {
        return false;
    }
    if b.iter().any(|c| matches!(c, b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<' | b'>' | b'\\' | b'$')) {
        return false;
    }
    let (mut digits, mut upper, mut lower) = (0, 0, 0);
    for c in b {
        digits += usize::from(c.is_ascii_digit());
        upper += usize::from(c.is_ascii_uppercase());
        lower += usize::from(c.is_ascii_lowercase());
    }
    let other = n - digits - upper - lower;
    // numbers, versions, dates: mostly non-letters
    if upper + lower < 3 || (digits + upper + lower) * 2 < n {
        return false;
    }
    // nested assignments (min_length=12) — '=' only allowed as base64 padding
    if v.trim_end_matches('=').contains('=') {
        return false;
    }
    // paths and e-mail addresses
    if v.starts_with(['/', '~']) || v.starts_with("./") || v.starts_with("../") || looks_like_email(v) {
        return false;
    }
    if digits == 0 {
        // No digit: identifiers, words, dotted paths (self.password, X-API-Key,
        // get_password_from_vault) — accept only random-looking mixed case.
        let uu = b.windows(2).filter(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase()).count();
        let lu = b.windows(2).filter(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase()).count();
        return n >= 16 && upper >= 3 && lower >= 3 && uu >= 2 && lu >= 2 && other * 4 <= n && !is_placeholder(v);
    }
    let classes = [digits, upper, lower, other].iter().filter(|&&c| c > 0).count();
    if classes < 2 {
        return false;
    }
    // distinct characters: rejects aaaaaaa1, 12121212ab …
    let mut seen = [false; 256];
    let mut distinct = 0;
    for &c in b {
        if !seen[c as usize] {
            seen[c as usize] = true;
            distinct += 1;
        }
    }
    // Placeholders (`your_token_here`) last: the most expensive test.
    distinct >= 6.max(n / 4).min(12) && !is_placeholder(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_generic(v: &str) -> bool {
        generic(v, &mut is_placeholder)
    }

    #[test]
    fn generic_values() {
        assert!(is_generic("s3cr3tP4ss!"));
        assert!(is_generic("Zx81kLq0pWm2"));
        assert!(!is_generic("get_password_from_vault"));
        assert!(!is_generic("self.password"));
        assert!(!is_generic("12345678"));
        assert!(!is_generic("${DB_PASSWORD}"));
        assert!(!is_generic("os.environ.get"));
        assert!(!is_generic("your_token_here"));
        assert!(!is_generic("aaaaaaa1"));
        assert!(!is_generic("MySecretPassword"));
        assert!(!is_generic("X-API-Key"));
        assert!(!is_generic("min_length=12"));
        assert!(!is_generic("/run/secrets/db_password"));
        assert!(!is_generic("security@example.com"));
        assert!(!is_generic("2024-05-01T12:00:00Z"));
        assert!(is_generic("dGhpcyBpcyBhIHRlc3Q2MQ=="));
    }

    #[test]
    fn not_words_rejects_kebab_only() {
        assert!(!not_words("sk-learn-model-selection-cv"));
        assert!(not_words("sk-xxxxxxxxxxxxxxxxxxxxxxxx"));
        assert!(not_words("sk-Abc-123"));
        assert!(!not_words("xai-grok-adapter-integration-test-suite-runner-v2"));
        assert!(not_words("pypi-ab12cd34ef56gh78ij90-kl"));
    }
}
