//! Post-match validators. All are O(len(value)); the two that look at the
//! whole line (connection-string keys, SAS `sv=`) compute that fact once per
//! line ([`LineFacts`]), so many matches on one long line stay linear.

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

/// Whether the whole value is a reference to a value kept elsewhere, in
/// real reference syntax: `$VAR` / `${VAR}` / `${VAR:-default}` /
/// `${{ secrets.X }}` / `$(command)`, `%(name)s`, `%s`, `%VAR%`,
/// `{{ var }}`, `{name}`, `<placeholder>`, or a concatenation of these with
/// `:/@._-` glue (`${USER}:${PASS}`). `$VAR` names are one case
/// (`DB_PASS`, `db_pass`): `$ecretPassw0rd` is a literal. A value that only
/// starts a template (`{{`, `${{`, `<your`, cut at a space) counts too.
/// Anything else — `Pa$$w0rd!(x`, `Ab$$cd(ef` — is a literal.
/// End of a `$NAME` variable starting at `b[i] == b'$'`: NAME is an
/// identifier in one case (`DB_PASS`, `db_pass`), the environment-variable
/// convention; `$ecretPassw0rd` is not one.
fn dollar_var(b: &[u8], i: usize) -> Option<usize> {
    let name = &b[i + 1..];
    let n = name.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
    let name = &name[..n];
    let one_case = name.iter().all(|c| !c.is_ascii_lowercase()) || name.iter().all(|c| !c.is_ascii_uppercase());
    (n > 0 && !name[0].is_ascii_digit() && one_case).then_some(i + 1 + n)
}

pub(crate) fn is_reference(v: &str) -> bool {
    if v.is_empty() {
        return true;
    }
    if v.starts_with("{{") || v.starts_with("${{") || v == "%s" {
        return true;
    }
    // `<placeholder words` cut at a space, or `<placeholder>`.
    if let Some(rest) = v.strip_prefix('<') {
        let inner = rest.strip_suffix('>').unwrap_or(rest);
        if !inner.is_empty()
            && inner.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b' '))
        {
            return true;
        }
    }
    let b = v.as_bytes();
    let ident = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
    let (mut i, mut refs) = (0, 0);
    while i < b.len() {
        let closing = |open: u8, close: u8, from: usize| -> Option<usize> {
            let mut depth = 0usize;
            for (k, &c) in b[from..].iter().enumerate() {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        return Some(from + k + 1);
                    }
                }
            }
            None
        };
        let end = match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => closing(b'{', b'}', i + 1),
            b'$' if b.get(i + 1) == Some(&b'(') => closing(b'(', b')', i + 1),
            b'$' => dollar_var(b, i),
            b'%' if b.get(i + 1) == Some(&b'(') => {
                closing(b'(', b')', i + 1).filter(|&e| e < b.len() && b[e].is_ascii_alphabetic()).map(|e| e + 1)
            }
            b'%' => {
                let n = ident(i + 1);
                (n > 0 && b.get(i + 1 + n) == Some(&b'%')).then_some(i + 2 + n)
            }
            b'{' => closing(b'{', b'}', i).filter(|&e| {
                let inner = &b[i + 1..e - 1];
                inner.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b' '))
            }),
            b':' | b'/' | b'@' | b'.' | b'_' | b'-' => {
                i += 1;
                continue;
            }
            _ => None,
        };
        match end {
            Some(e) => {
                i = e;
                refs += 1;
            }
            None => return false,
        }
    }
    refs > 0
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

fn looks_like_email(v: &str) -> bool {
    // A byte loop, not `split_once`: values are short, a memchr call costs more.
    let at = v.bytes().position(|c| c == b'@');
    match at.map(|i| (&v[..i], &v[i + 1..])) {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && domain.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        }
        None => false,
    }
}

/// Whether an unquoted value reads as code rather than a literal: brackets,
/// Rust paths (`::`), shell/JS variables (`$x`), or an identifier made of
/// words (`SHA256_DIGEST_LENGTH`, `node.colon2_token`).
fn looks_like_code(v: &str) -> bool {
    let b = v.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let (mut ident_only, mut has_sep, mut bang, mut op) = (true, false, None, None);
    for (i, &c) in b.iter().enumerate() {
        let prev = if i > 0 { b[i - 1] } else { 0 };
        match c {
            // Calls, indexing, generics, closers, escapes, paths: `f(x`, `a[0]`,
            // `Vec<u8>`, `x?`, `x::Y`; a leading bracket or `:`.
            b'(' | b'[' | b'<' | b'{' if i == 0 || word(prev) => return true,
            b')' | b']' | b'}' | b'>' | b'\\' | b'?' => return true,
            b':' if i == 0 || prev == b':' => return true,
            // A variable (`$x`, `$DB_PASS`); `$$` is an escaped dollar (compose files).
            b'$' if prev != b'$' && dollar_var(b, i).is_some() => return true,
            b'!' if bang.is_none() => bang = Some(i),
            b'+' | b'*' | b'/' | b'-' => op = Some(i),
            _ => {}
        }
        has_sep |= c == b'_' || c == b'.';
        ident_only &= word(c) || c == b'.' || c == b':';
    }
    // A macro call `quote!(…`, `vec![…` (not `…$w0rd!(x`: a password).
    if let Some(i) = bang {
        let name = &b[..i];
        if !name.is_empty()
            && name.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
            && matches!(b.get(i + 1), Some(b'(' | b'[' | b'{'))
        {
            return true;
        }
    }
    // Arithmetic on an identifier: `nToken+1`, `params.shared_secret_len/2`.
    if let Some(i) = op {
        let (lhs, rhs) = (&v[..i], &b[i + 1..]);
        if (1..=3).contains(&rhs.len())
            && rhs.iter().all(u8::is_ascii_digit)
            && lhs.bytes().all(|c| word(c) || c == b'.')
            && is_wordy(lhs)
        {
            return true;
        }
    }
    ident_only && has_sep && is_wordy(v)
}

/// Whether a string literal interpolates something: `${name}`, `{{ … }}`,
/// `%(name)s`, `{}`, `{0}`, `{name}` — an identifier between the delimiters,
/// so a password such as `Zk{9$pQ!2mW(x7` is not a template.
fn has_template(v: &str) -> bool {
    let b = v.as_bytes();
    let ident =
        |s: &[u8]| !s.is_empty() && s.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b' '));
    let closed = |from: usize, close: u8| b[from..].iter().position(|&c| c == close).map(|k| from + k);
    (0..b.len()).any(|i| match b[i] {
        b'{' => closed(i + 1, b'}').is_some_and(|e| e == i + 1 || ident(&b[i + 1..e]) || b[i + 1] == b'{'),
        b'%' if b.get(i + 1) == Some(&b'(') => closed(i + 2, b')')
            .is_some_and(|e| ident(&b[i + 2..e]) && b.get(e + 1).is_some_and(u8::is_ascii_alphabetic)),
        _ => false,
    })
}

/// `algo:digest` / `algo-digest` (`sha256:…`, `sha512-…`, `md5:…`, `h1:…`):
/// a content hash written with its algorithm, not a secret.
fn is_digest(v: &str) -> bool {
    let b = v.as_bytes();
    let Some(i) = b.iter().take(8).position(|&c| c == b':' || c == b'-') else { return false };
    let known = ["sha1", "sha224", "sha256", "sha384", "sha512", "md5", "h1", "blake2b", "blake3", "sha3"];
    b.len() - i > 16 && known.iter().any(|k| b[..i].eq_ignore_ascii_case(k.as_bytes()))
}

/// `name.ext` with a short alphabetic extension (`.md`, `.tar.gz`, `.json`).
fn has_extension(v: &str) -> bool {
    v.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && (1..=5).contains(&ext.len()) && ext.bytes().all(|c| c.is_ascii_alphabetic())
    })
}

/// Generic `key = value` assignment: the value must look like a literal random
/// secret, not code, a reference, a word or a placeholder. A quoted value is a
/// string literal, so brackets, `$` and `!` in it are password characters; an
/// unquoted one with them is code.
fn generic<'a>(v: &'a str, quoted: bool, is_placeholder: &mut impl FnMut(&'a str) -> bool) -> bool {
    let raw = v;
    let v = if quoted { v } else { v.trim_end_matches(['.', ']', '}', '>']) };
    let n = v.len();
    let b = v.as_bytes();
    if !(8..=512).contains(&n) {
        return false;
    }
    // The cheap class tests first: they reject most candidates.
    let (mut digits, mut upper, mut lower, mut eqs) = (0, 0, 0, 0);
    for c in b {
        digits += usize::from(c.is_ascii_digit());
        upper += usize::from(c.is_ascii_uppercase());
        lower += usize::from(c.is_ascii_lowercase());
        eqs += usize::from(*c == b'=');
    }
    let other = n - digits - upper - lower;
    // numbers, versions, dates: mostly non-letters
    if upper + lower < 3 || (digits + upper + lower) * 2 < n {
        return false;
    }
    // A value without digits must be long to pass (see below).
    if digits == 0 && n < 16 && !quoted {
        return false;
    }
    if (!quoted && looks_like_code(raw)) || is_reference(v) || is_digest(v) || b.windows(3).any(|w| w == b"://") {
        return false;
    }
    // Templates inside a string: `"Bearer ${token}"`, `"%(pw)s"`, `"{}"`.
    if quoted && has_template(v) {
        return false;
    }
    // nested assignments (min_length=12) — '=' only allowed as base64 padding
    let padding = n - b.iter().rposition(|&c| c != b'=').map_or(0, |i| i + 1);
    if eqs > padding {
        return false;
    }
    // paths, file names and e-mail addresses
    if v.starts_with(['/', '~']) || v.starts_with("./") || v.starts_with("../") || looks_like_email(v) {
        return false;
    }
    // Slugs and file names (`release-notes-2024-11-03-final-v3.md`); a quoted
    // passphrase of words (`"correct-horse-battery-staple"`) stays a secret.
    if b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.iter().any(|c| matches!(c, b'-' | b'_' | b'.'))
        && is_wordy(v)
        && (!quoted || has_extension(v) || !v.contains('-'))
    {
        return false;
    }
    // A quoted value with password symbols is not an identifier.
    let symbols = b.iter().any(|c| {
        matches!(
            c,
            b'!' | b'@' | b'#' | b'$' | b'%' | b'^' | b'&' | b'*' | b'(' | b')' | b'+' | b'{' | b'}' | b'[' | b']'
        ) || matches!(c, b'<' | b'>' | b'?' | b'~' | b'|')
    });
    if digits == 0 && !(quoted && symbols) {
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
        generic(v, false, &mut is_placeholder)
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
        assert!(not_words("sk-Abc-123x9QzLm"));
        assert!(!not_words("sk-hynix-memory-bandwidth-roadmap-2027"));
        assert!(!not_words("sk-Release-Notes-For-Q3-2027"));
        assert!(!not_words("xai-grok-adapter-integration-test-suite-runner-v2"));
        assert!(not_words("pypi-ab12cd34ef56gh78ij90-kl"));
    }
}
