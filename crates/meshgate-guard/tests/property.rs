//! Bounded, deterministic fuzzing (the `cargo fuzz` target in /fuzz needs a
//! nightly toolchain; this test runs on stable in CI). Random byte/char soup
//! mixed with rule fragments; asserts the invariants of `scan`: no panic,
//! spans in bounds and on char boundaries, sorted, non-overlapping, correct
//! line/column. Time-boxed (default 10 s, `GUARD_FUZZ_SECS` to change).

use std::time::{Duration, Instant};

use meshgate_guard::{redact, scan_with_token, Finding};

const FRAGMENTS: &[&str] = &[
    "sk-",
    "sk-ant-",
    "sk-admin-",
    "sk-proj-",
    "ghp_",
    "github_pat_",
    "AKIA",
    "ASIA",
    "eyJ",
    ".eyJ",
    "xoxb-",
    "-----BEGIN ",
    "PRIVATE KEY-----",
    "-----END ",
    "://",
    ":",
    "@",
    "password=",
    "Password=",
    ";",
    "aws",
    "AWS_SECRET_ACCESS_KEY=",
    "MESH_GATEWAY_TOKEN",
    "MESH_GATEWAY_TOKEN=",
    "=",
    "\"",
    "'",
    " ",
    "\n",
    "\r\n",
    "\t",
    "AIza",
    "hf_",
    "glpat-",
    "SK",
    "AccountKey=",
    "Authorization: Bearer ",
    "bearer ",
    ":AA",
    "-us",
    "Q~",
    "é",
    "ü",
    "€",
    "😀",
    "\u{0}",
    "\\",
    "\\n",
    "_",
    "-",
    ".",
    "/",
    "+",
    "%",
    "~",
    "0x",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn soup(r: &mut Rng) -> String {
    let n = r.below(400);
    let mut s = String::new();
    for _ in 0..n {
        match r.below(4) {
            0 => s.push_str(FRAGMENTS[r.below(FRAGMENTS.len())]),
            1 => {
                let k = 1 + r.below(60);
                for _ in 0..k {
                    let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"[r.below(64)];
                    s.push(c as char);
                }
            }
            2 => {
                if let Some(c) = char::from_u32(r.below(0x11000) as u32) {
                    s.push(c);
                }
            }
            _ => s.push((r.below(128) as u8) as char),
        }
    }
    s
}

fn check(text: &str, findings: &[Finding]) {
    let mut prev_end = 0;
    for f in findings {
        assert!(f.span.start < f.span.end);
        assert!(f.span.end <= text.len());
        assert!(text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end));
        assert!(f.span.start >= prev_end, "sorted and non-overlapping");
        prev_end = f.span.end;
        assert_eq!(f.line, 1 + text[..f.span.start].matches('\n').count());
        let ls = text[..f.span.start].rfind('\n').map_or(0, |i| i + 1);
        assert_eq!(f.column, 1 + text[ls..f.span.start].chars().count());
    }
    let _ = redact(text, findings);
}

#[test]
fn random_soup_invariants() {
    let secs = std::env::var("GUARD_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut r = Rng(0x5EED_1234_ABCD_0001);
    let mut cases = 0u64;
    let mut with_findings = 0u64;
    while Instant::now() < deadline && cases < 200_000 {
        let text = soup(&mut r);
        let tok = if r.below(4) == 0 && text.len() > 12 {
            let mut end = 12;
            while !text.is_char_boundary(end) {
                end += 1;
            }
            Some(text[..end].to_string())
        } else {
            None
        };
        let f = scan_with_token(&text, tok.as_deref());
        if !f.is_empty() {
            with_findings += 1;
        }
        check(&text, &f);
        cases += 1;
    }
    println!("{cases} cases, {with_findings} with findings");
    assert!(cases > 100);
}
