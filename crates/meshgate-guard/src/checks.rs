//! Post-match validators. All are O(len(value)); the two that look at the
//! whole line (connection-string keys, SAS `sv=`) compute that fact once per
//! line ([`LineFacts`]), so many matches on one long line stay linear.
//! The value-only predicates (reference, placeholder, code, the generic
//! assignment check) are in [`value`].

mod value;

use self::value::{generic, is_placeholder, is_reference};
use crate::rules::Check;

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

    /// The bytes just before and just after `v` (0 at the ends of the text),
    /// when `v` lies inside this line's text.
    fn around(&self, v: &str) -> (u8, u8) {
        let (base, at) = (self.text.as_ptr() as usize, v.as_ptr() as usize);
        if at < base || at + v.len() > base + self.text.len() {
            return (0, 0);
        }
        let (b, start) = (self.text.as_bytes(), at - base);
        let end = start + v.len();
        (if start > 0 { b[start - 1] } else { 0 }, b.get(end).copied().unwrap_or(0))
    }

    /// At most the last [`BEFORE_WINDOW`] bytes of this line's text before
    /// `v` (empty when `v` is not in it): what the checks look back at stays
    /// bounded, so many matches on one long line cost linear time.
    fn before(&self, v: &str) -> &'a str {
        let (base, at) = (self.text.as_ptr() as usize, v.as_ptr() as usize);
        if at < base || at > base + self.text.len() {
            return "";
        }
        let end = at - base;
        let mut start = end.saturating_sub(BEFORE_WINDOW);
        while !self.text.is_char_boundary(start) {
            start += 1;
        }
        &self.text[start..end]
    }

    /// Whether `needle` (ASCII lowercase, not after an ASCII letter) occurs
    /// within `dist` bytes of `v` on this line.
    fn near(&self, v: &str, needle: &str, dist: usize) -> bool {
        let (base, at) = (self.text.as_ptr() as usize, v.as_ptr() as usize);
        if at < base || at + v.len() > base + self.text.len() {
            return false;
        }
        let start = at - base;
        let b = self.text.as_bytes();
        let lo = start.saturating_sub(dist);
        let hi = (start + v.len() + dist).min(b.len());
        let n = needle.as_bytes();
        let (first_lo, first_up) = (n[0].to_ascii_lowercase(), n[0].to_ascii_uppercase());
        // Candidates by their first byte (SIMD), then the case-insensitive compare.
        memchr::memchr2_iter(first_lo, first_up, &b[lo..hi]).map(|k| lo + k).any(|i| {
            i + n.len() <= hi
                && b[i..i + n.len()].eq_ignore_ascii_case(n)
                && (i == 0 || !b[i - 1].is_ascii_alphabetic())
        })
    }

    fn sas(&mut self) -> bool {
        let text = self.text;
        *self.sas.get_or_insert_with(|| contains_ci(text, "sv="))
    }
}

pub(crate) fn check<'a>(check: Check, value: &'a str, line: &mut LineFacts<'a>) -> bool {
    let (prev, next) = line.around(value);
    // Written inside quotes (`"v`, `'v`, `\"v`): a string literal.
    let quoted = matches!(prev, b'"' | b'\'');
    match check {
        Check::None => true,
        Check::NotWords => not_words(value),
        Check::MixedAws => mixed_aws(value) && next != b'=' && line.near(value, "aws", AWS_NEAR),
        Check::MeshShape => mesh_shape(value, prev, next, line.before(value)),
        Check::Generic => {
            // The value's own tests first: they reject most candidates cheaply.
            generic(value, quoted, &mut |v| line.placeholder(v)) && {
                let before = line.before(value);
                let key = key_before(before);
                // A public badge token (`badge.svg?token=…`) is meant to be published.
                let at = key.as_ptr() as usize - before.as_ptr() as usize;
                let query = at > 0 && matches!(before.as_bytes()[at - 1], b'?' | b'&');
                let badge = prev == b'=' && query && {
                    let url = tail_after(before, |c| c.is_ascii_whitespace());
                    url.contains("badge") || url.contains(".svg?") || url.contains("shields.io")
                };
                !badge && !names_metadata(key)
            }
        }
        Check::UrlPassword => url_password(value, &mut |v| line.placeholder(v)),
        Check::ConnString => conn_string(value, &mut |v| line.placeholder(v)) && line.conn_keys(),
        Check::NotRef => !is_reference(value),
        Check::NotPlaceholder => !is_reference(value) && !line.placeholder(value),
        Check::HasPercent => value.contains('%'),
        Check::AzureSas => line.sas(),
    }
}

/// Most bytes of the line before a value that the checks look at.
const BEFORE_WINDOW: usize = 256;

/// Most bytes between an `aws` keyword and a 40-char run for the AWS line
/// heuristic: on a long line (minified JSON, a search index) a keyword far
/// away says nothing about the run.
const AWS_NEAR: usize = 64;

/// Rejects prefixed matches whose body (after the first `-`/`_`/`.`) is a
/// slug or identifier made of words, e.g. `sk-learn-model-selection`,
/// `sk-hynix-memory-bandwidth-roadmap-2027`, `pypi-publish-workflow`.
/// Placeholders without separators such as `sk-xxxxxxxxxxxxxxxxxxxxxxxx` are kept.
fn not_words(value: &str) -> bool {
    let body = match value.bytes().position(|b| matches!(b, b'-' | b'_' | b'.')) {
        Some(i) => &value[i + 1..],
        None => value,
    };
    !(body.bytes().any(|b| b == b'-' || b == b'_') && is_wordy(body))
}

/// A slug, file name or identifier: every segment between `-`, `_`, `.`, `:` is a
/// word (`word`, `Word`, `WORD`, camel-case words), a number, or at most 4
/// chars (`v2`, `x86`, `rc1`). Random tokens have long segments of mixed
/// letters and digits.
pub(crate) fn is_wordy(v: &str) -> bool {
    v.split(['-', '_', '.', ':']).all(|seg| {
        let b = seg.as_bytes();
        if b.len() <= 4 || b.iter().all(u8::is_ascii_digit) {
            return true;
        }
        if !b.iter().all(u8::is_ascii_alphanumeric) {
            return false;
        }
        // Pieces: `Word`, `word`, `WORD`, digit runs (`fts5CreateTokenizer`
        // = fts·5·Create·Tokenizer, `MLKEM768`, `x25519`). Words average 3+
        // chars a piece; random text changes class every 1-2 chars.
        // Counted until the segment cannot average 3 chars a piece any more.
        let (digit, up, low) = (u8::is_ascii_digit, u8::is_ascii_uppercase, u8::is_ascii_lowercase);
        let mut pieces = 1;
        for i in 1..b.len() {
            let (p, c) = (&b[i - 1], &b[i]);
            pieces += usize::from(digit(p) != digit(c) || (low(p) && up(c)));
            pieces += usize::from(i >= 2 && up(&b[i - 2]) && up(p) && low(c));
            if 3 * pieces > b.len() {
                return false;
            }
        }
        true
    })
}

/// Key names that hold data about a secret, not the secret: lengths, sizes,
/// types, names, files, URLs (`secret_key_len`, `token_stream`,
/// `xCreateTokenizer`, `password_file`).
fn names_metadata(key: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "len", "length", "size", "count", "buffer", "buf", "type", "kind", "name", "file", "path", "dir", "url", "uri",
        "endpoint", "hint", "expander", "index", "idx", "stream", "policy", "format", "header", "ttl", "expiry",
        "expires", "timeout", "_id", "-id", ".id", "ids",
    ];
    let k = key.as_bytes();
    let ends = |s: &str| k.len() > s.len() && k[k.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes());
    key.ends_with("Id") || SUFFIXES.iter().any(|s| ends(s)) || k.windows(7).any(|w| w.eq_ignore_ascii_case(b"tokeniz"))
}

/// The part of `s` after the last ASCII byte matching `stop` (all of `s` if
/// none). Bytes of multi-byte chars never match an ASCII predicate, so the cut
/// is on a char boundary.
fn tail_after(s: &str, stop: impl Fn(u8) -> bool) -> &str {
    match s.bytes().rposition(|c| c.is_ascii() && stop(c)) {
        Some(i) => &s[i + 1..],
        None => s,
    }
}

/// The key of an assignment: the identifier just before the separator that
/// precedes the value (`secret_key_len` in `out->secret_key_len = …`).
fn key_before(before: &str) -> &str {
    let b = before.as_bytes();
    let end = b
        .iter()
        .rposition(|c| {
            !(c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'`' | b':' | b'=' | b'>' | b']' | b'\\'))
        })
        .map_or(0, |i| i + 1);
    tail_after(&before[..end], |c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')))
}

/// The shape of a mesh-gateway token found by the line heuristic: random
/// url-safe base64 (upper, lower and digits; not a slug), not hex, not part of
/// a path, URL, standard-base64 string or `algo:digest` / `algo-digest`.
fn mesh_shape(v: &str, prev: u8, next: u8, before: &str) -> bool {
    // Inside a path, URL, base64 string or another key's `key=value`.
    if matches!(prev, b'/' | b'+' | b'.' | b'@' | b'#' | b'~' | b'%' | b'=')
        || matches!(next, b'/' | b'+' | b'=' | b'@' | b'%')
    {
        return false;
    }
    let b = v.as_bytes();
    let (mut upper, mut lower, mut digit) = (false, false, false);
    for c in b {
        upper |= c.is_ascii_uppercase();
        lower |= c.is_ascii_lowercase();
        digit |= c.is_ascii_digit();
    }
    if !(upper && lower && digit) {
        return false;
    }
    // `AAAA…` is base64 of length-prefixed binary (`ssh-ed25519 AAAAC3Nz…`).
    if v.starts_with("AAAA") || (b.iter().any(|&c| c == b'-' || c == b'_') && is_wordy(v)) {
        return false;
    }
    // `sha256:…`, `sha512-…`, `h1:…`, `md5=`: a digest, not a token.
    let head = before.trim_end_matches([':', '-', '=']);
    if head.len() == before.len() {
        return true;
    }
    let w = tail_after(head, |c| !c.is_ascii_alphanumeric()).as_bytes();
    let starts = |p: &[u8]| w.len() >= p.len() && w[..p.len()].eq_ignore_ascii_case(p);
    !(starts(b"sha") || starts(b"md5") || starts(b"blake") || w.eq_ignore_ascii_case(b"h1"))
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

/// Shortest URL password reported: `http://a:b@c` and `https://abc:xyz@host`
/// are parser test data, not credentials; services ask for 8+ characters.
const MIN_URL_PASSWORD: usize = 6;

fn url_password<'a>(v: &'a str, is_placeholder: &mut impl FnMut(&'a str) -> bool) -> bool {
    // `cvs://:pserver:user@host`: a CVSROOT access method, not a password.
    if v.starts_with("%s") || v.starts_with("%(") || v.starts_with("pserver:") || v.len() < MIN_URL_PASSWORD {
        return false;
    }
    !is_reference(v) && !is_placeholder(v) && !v.bytes().all(|b| b == b'*' || b == b'x' || b == b'X')
}

fn conn_string<'a>(v: &'a str, is_placeholder: &mut impl FnMut(&'a str) -> bool) -> bool {
    v.len() >= 3 && !is_reference(v) && !is_placeholder(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_words_rejects_kebab_only() {
        assert!(!not_words("sk-learn-model-selection-cv"));
        assert!(not_words("sk-xxxxxxxxxxxxxxxxxxxxxxxx"));
        assert!(not_words("sk-Abc-123x9QzLm"));
        assert!(!not_words("sk-hynix-memory-bandwidth-roadmap-2027"));
        assert!(!not_words("sk-Release-Notes-For-Q3-2027"));
        assert!(!not_words("xai-grok-adapter-integration-test-suite-runner-v2"));
        assert!(not_words("pypi-ab12cd34ef56gh78ij90-kl"));
    }
}
