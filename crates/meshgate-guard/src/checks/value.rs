//! What a matched value is when it is not a secret: a reference to a value kept
//! elsewhere (`$VAR`, `{{ var }}`), a placeholder, code, a template, a digest, a file
//! name or an e-mail address; and the generic `key = value` check built on them.
//! All O(len(value)).

use super::is_wordy;

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

/// Whether the whole value is a reference to a value kept elsewhere, in
/// real reference syntax: `$VAR` / `${VAR}` / `${VAR:-default}` /
/// `${{ secrets.X }}` / `$(command)`, `%(name)s`, `%s`, `%VAR%`,
/// `{{ var }}`, `{name}`, `<placeholder>`, or a concatenation of these with
/// `:/@._-` glue (`${USER}:${PASS}`). `$VAR` names are one case
/// (`DB_PASS`, `db_pass`): `$ecretPassw0rd` is a literal. A value that only
/// starts a template (`{{`, `${{`, `<your`, cut at a space) counts too.
/// Anything else — `Pa$$w0rd!(x`, `Ab$$cd(ef` — is a literal.
pub(super) fn is_reference(v: &str) -> bool {
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

pub(super) fn is_placeholder(v: &str) -> bool {
    static WORDS: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(PLACEHOLDER_WORDS)
            .expect("placeholder automaton builds")
    });
    const EXACT: &[&str] = &["password", "passwd", "pass", "pwd", "secret", "pw", "token", "apikey", "api_key"];
    EXACT.iter().any(|w| v.eq_ignore_ascii_case(w)) || WORDS.is_match(v)
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
pub(super) fn generic<'a>(v: &'a str, quoted: bool, is_placeholder: &mut impl FnMut(&'a str) -> bool) -> bool {
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
}
