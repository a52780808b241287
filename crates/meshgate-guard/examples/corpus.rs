//! False positives on ordinary text nobody here wrote: scans directory trees
//! (documentation and sources installed on the machine) and lists every
//! finding with its reviewed verdict.
//!
//! ```text
//! cargo run -p meshgate-guard --example corpus --release -- \
//!     --verdicts bench/guard/corpus-verdicts.tsv --out bench/guard/CORPUS.md DIR...
//! ```
//!
//! `bench/guard/corpus.sh` runs it on the default roots. Files that are not
//! UTF-8 or contain a NUL byte in their first 8 KiB are skipped (binaries,
//! compressed files); symlinks are not followed. A finding is printed as
//! path, line, rule and the line with the finding replaced by
//! `[REDACTED:<label>]` (cut to 160 chars around it) plus the value's shape
//! (length, character classes): never the matched bytes.
//!
//! Verdicts are written by a reviewer in a TSV file: `rule-id<TAB>path
//! pattern<TAB>verdict<TAB>note`, where the pattern may use `*` (any run of
//! characters) and `~` stands for `$HOME`; the first matching row wins.
//! Verdicts: `secret` (a real credential), `fixture` (a test fixture or
//! documentation example shaped like a credential), `fp` (a false positive).
//! Findings without a row are reported as `unreviewed`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

struct Verdict {
    rule: String,
    pattern: String,
    verdict: String,
    note: String,
}

/// `*`-glob match (no other metacharacters).
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&e.path(), out);
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
}

/// Length and character classes of a value, e.g. `43 chars [A-Z a-z 0-9 _-]`.
fn shape(v: &str) -> String {
    let b = v.as_bytes();
    let mut classes = Vec::new();
    for (name, f) in [
        ("A-Z", u8::is_ascii_uppercase as fn(&u8) -> bool),
        ("a-z", u8::is_ascii_lowercase),
        ("0-9", u8::is_ascii_digit),
    ] {
        if b.iter().any(f) {
            classes.push(name.to_string());
        }
    }
    let mut other: Vec<char> = v.chars().filter(|c| !c.is_ascii_alphanumeric()).collect();
    other.sort_unstable();
    other.dedup();
    if !other.is_empty() {
        // Control chars and spaces escaped: the shape stays on one table row.
        classes.push(other.into_iter().take(12).flat_map(char::escape_default).collect());
    }
    format!("{} chars [{}]", v.chars().count(), classes.join(" "))
}

/// The finding's line with every finding on it redacted, cut around the
/// finding, table-safe.
fn excerpt(text: &str, all: &[meshgate_guard::Finding], f: &meshgate_guard::Finding) -> String {
    let span = &f.span;
    let ls = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let le = text[span.end..].find('\n').map_or(text.len(), |i| span.end + i);
    let redact = |a: usize, b: usize| {
        let mut s = String::new();
        let mut at = a;
        for g in all.iter().filter(|g| g.span.end > a && g.span.start < b) {
            s.push_str(&text[at..g.span.start.max(at)]);
            s.push_str("[REDACTED]");
            at = g.span.end.min(b);
        }
        s.push_str(&text[at..b]);
        s
    };
    let cut_l = text[ls..span.start].char_indices().rev().nth(69).map_or(ls, |(i, _)| ls + i);
    let cut_r = text[span.end..le].char_indices().nth(70).map_or(le, |(i, _)| span.end + i);
    let before = redact(cut_l, span.start);
    let after = redact(span.end, cut_r);
    let line = format!("{before}[REDACTED:{}]{after}", f.label());
    line.replace('|', "\\|").replace('`', "'").replace('\t', " ").replace('\r', "")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut verdicts_path, mut out_path, mut roots) = (None, None, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--verdicts" => verdicts_path = args.next(),
            "--out" => out_path = args.next(),
            _ => roots.push(a),
        }
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let tilde = |p: &str| {
        if !home.is_empty() && p.starts_with(&home) {
            format!("~{}", &p[home.len()..])
        } else {
            p.to_string()
        }
    };
    let verdicts: Vec<Verdict> = verdicts_path
        .as_deref()
        .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.splitn(4, '\t');
            let mut next = || f.next().unwrap_or("").trim().to_string();
            Verdict { rule: next(), pattern: next(), verdict: next(), note: next() }
        })
        .collect();
    let scanner = meshgate_guard::Scanner::new();
    let (mut files, mut bytes, mut skipped) = (0usize, 0u64, 0usize);
    let mut rows = Vec::new();
    let mut per_root = Vec::new();
    let started = std::time::Instant::now();
    for root in &roots {
        let mut paths = Vec::new();
        walk(Path::new(root), &mut paths);
        let (mut rf, mut rb) = (0usize, 0u64);
        for path in paths {
            let Ok(data) = std::fs::read(&path) else { continue };
            if data[..data.len().min(8192)].contains(&0) {
                skipped += 1;
                continue;
            }
            let Ok(text) = String::from_utf8(data) else {
                skipped += 1;
                continue;
            };
            rf += 1;
            rb += text.len() as u64;
            let shown = tilde(&path.to_string_lossy());
            let found = scanner.scan(&text);
            for f in &found {
                let v = verdicts.iter().find(|v| (v.rule == "*" || v.rule == f.rule_id()) && glob(&v.pattern, &shown));
                rows.push((
                    shown.clone(),
                    f.line,
                    f.rule_id(),
                    shape(&text[f.span.clone()]),
                    excerpt(&text, &found, f),
                    v.map_or("unreviewed".to_string(), |v| v.verdict.clone()),
                    v.map_or(String::new(), |v| v.note.clone()),
                ));
            }
        }
        per_root.push((tilde(root), rf, rb));
        files += rf;
        bytes += rb;
    }
    let elapsed = started.elapsed();
    let count = |v: &str| rows.iter().filter(|r| r.5 == v).count();
    let mut md = String::new();
    let _ = writeln!(md, "# meshgate-guard on ordinary text\n");
    let _ = writeln!(
        md,
        "Generated by `bench/guard/corpus.sh` (`examples/corpus.rs`): every text file under the roots below \
         (documentation and sources installed on the machine, written by no one here) scanned with the default \
         rules. Each finding shows the line with the finding redacted and the value's shape, never the value. \
         Verdicts come from `bench/guard/corpus-verdicts.tsv` (a reviewer read every finding): `secret` = a real \
         credential, `fixture` = a test fixture or documentation example shaped like a credential (blocking it \
         is the intended behaviour), `fp` = a false positive.\n"
    );
    let _ = writeln!(md, "| root | text files | MB |\n|---|---:|---:|");
    for (root, rf, rb) in &per_root {
        let _ = writeln!(md, "| `{root}` | {rf} | {:.1} |", *rb as f64 / 1e6);
    }
    let _ = writeln!(
        md,
        "| **all** | **{files}** | **{:.1}** |\n\n{skipped} binary / non-UTF-8 files skipped. Scan time {:.1} s (including reading).\n",
        bytes as f64 / 1e6,
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "**Findings: {}** — secret {} · fixture {} · **false positive {}** · unreviewed {} · \
         false-positive files: {} of {files} ({:.4}%), {:.3} per 100 MB.\n",
        rows.len(),
        count("secret"),
        count("fixture"),
        count("fp"),
        count("unreviewed"),
        {
            let mut fp_files: Vec<&str> = rows.iter().filter(|r| r.5 == "fp").map(|r| r.0.as_str()).collect();
            fp_files.dedup();
            fp_files.len()
        },
        100.0 * {
            let mut fp_files: Vec<&str> = rows.iter().filter(|r| r.5 == "fp").map(|r| r.0.as_str()).collect();
            fp_files.dedup();
            fp_files.len()
        } as f64
            / files.max(1) as f64,
        count("fp") as f64 / (bytes as f64 / 1e8).max(1e-9)
    );
    let _ = writeln!(
        md,
        "| file | line | rule | value shape | verdict | note | line (redacted) |\n|---|---:|---|---|---|---|---|"
    );
    for (path, line, rule, shape, ex, verdict, note) in &rows {
        let _ = writeln!(md, "| `{path}` | {line} | {rule} | {shape} | {verdict} | {note} | `{ex}` |");
    }
    match out_path {
        Some(p) => std::fs::write(&p, md).unwrap_or_else(|e| panic!("{p}: {e}")),
        None => print!("{md}"),
    }
    eprintln!(
        "{} findings ({} unreviewed) in {files} files, {:.1} MB",
        rows.len(),
        count("unreviewed"),
        bytes as f64 / 1e6
    );
}
