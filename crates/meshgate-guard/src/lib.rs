//! # meshgate-guard — the credential guard engine
//!
//! AI agents exchange messages through the mesh gateway; a message must never
//! carry a credential. This crate owns the single question *"does this text
//! contain something that looks like a secret, and where?"*. It is a pure
//! library: no I/O, no async, no global state besides the lazily compiled
//! default [`Scanner`]. Both the client (refuse to send) and the server
//! (refuse to store/relay) call [`scan`] / [`scan_with_token`].
//!
//! It replaces the Python reference guard (`swarph_mesh.mesh_client._CRED_PATTERNS`)
//! and keeps its labels for the shapes it covered (`"github token"`,
//! `"aws secret key"`, `"possible mesh-gateway token"`, …), while fixing its
//! three problems:
//!
//! 1. **Linear time, always.** The Python guard used `(?=.*aws)` lookaheads that
//!    backtrack super-linearly (minutes on a 200 KB line). Here matching is
//!    two-stage: a SIMD literal scan (Teddy) finds the positions of every
//!    rule's literal prefix or *gate* keyword, and only there are finite
//!    automata (`regex-automata`'s meta engine) run — anchored for prefixed
//!    rules, resuming where the previous search of the same rule stopped for
//!    gated ones, so no rule searches the same bytes twice. Clean text costs
//!    little more than the literal scan (> 1 GB/s); no input takes
//!    super-linear time (see `examples/bench.rs` and `bench/guard/RESULTS.md`).
//! 2. **Coverage.** About a hundred formats (see [`rules()`], the source of
//!    truth; every rule documents where its format comes from in
//!    [`Rule::source`]).
//! 3. **The most specific label wins.** When several rules match overlapping
//!    spans, the finding with the highest [`Rule::specificity`] is kept (ties:
//!    longer span, then earlier start). The tiers are, from strongest to weakest:
//!
//!    | specificity | meaning |
//!    |---|---|
//!    | [`SPEC_OWN_TOKEN`] (100) | exact occurrence of the caller's own bearer token |
//!    | [`SPEC_NESTED`] (90) | vendor shape nested in a broader one (`sk-ant-admin01-` ⊂ `sk-ant-`, DeepSeek `sk-<32 hex>` ⊂ OpenAI `sk-…`, `sk-admin-`) |
//!    | [`SPEC_VENDOR`] (80) | vendor format with a distinctive prefix or keyword |
//!    | [`SPEC_BROAD`] (70) | broad shapes (OpenAI-style `sk-…`, generic PEM key, JWT) |
//!    | [`SPEC_ASSIGNMENT`] (60) | recognised from the key name (`AWS_SECRET_ACCESS_KEY=`, `MESH_GATEWAY_TOKEN=`, `user:pass@host`, `Password=…;`) |
//!    | [`SPEC_LINE_HEURISTIC`] (40) | keyword-on-the-same-line heuristics (40-char AWS secret, 48+-char mesh token) |
//!    | [`SPEC_GENERIC`] (20) | generic high-entropy `password = …` / `Bearer …` |
//!
//! ## Never echoing secrets
//!
//! A [`Finding`] carries the rule and the byte span, never the matched bytes.
//! Its `Display` and `Debug` output print the label and position only
//! (`"github token at line 3, column 5"`), so findings can be logged and sent
//! back in error messages safely. Use [`redact`] to produce a copy of the text
//! with the secrets replaced.
//!
//! ## Example
//!
//! ```
//! let token = format!("ghp_{}", "x".repeat(36)); // placeholders count too
//! let text = format!("deploy with\n  GH={token}\n");
//! let findings = meshgate_guard::scan(&text);
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].label(), "github token");
//! assert_eq!(findings[0].to_string(), "github token at line 2, column 6");
//! assert!(meshgate_guard::scan("nothing to see here").is_empty());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::{packed, AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};
use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

mod checks;
mod rules;

pub use rules::{
    SPEC_ASSIGNMENT, SPEC_BROAD, SPEC_GENERIC, SPEC_LINE_HEURISTIC, SPEC_NESTED, SPEC_OWN_TOKEN, SPEC_VENDOR,
};

/// Minimum length (in bytes) of an own token for it to be searched for.
pub const MIN_OWN_TOKEN_LEN: usize = 8;

/// One detection rule. The list returned by [`rules()`] is the source of truth
/// for what the guard detects.
pub struct Rule {
    /// Stable identifier (kebab-case), e.g. `"github-pat"`.
    pub id: &'static str,
    /// Human-readable label reported to users, e.g. `"github token"`.
    /// Several rules may share a label (all GitHub prefixes are `"github token"`).
    pub label: &'static str,
    /// Where the format comes from: a vendor documentation URL and/or the
    /// gitleaks default-config rule id it mirrors.
    pub source: &'static str,
    /// Overlap resolution rank: the higher value wins when findings overlap.
    /// See the crate docs for the tiers.
    pub specificity: u8,
    pub(crate) kind: Kind,
}

impl Rule {
    /// How the rule is evaluated: `"prefixed"` (multi-pattern regex run
    /// anchored at occurrences of its literal prefixes), `"gated"` (regex run
    /// around occurrences of a gate literal),
    /// `"line-heuristic"` (token run on lines containing a keyword) or
    /// `"exact"` (own token).
    pub fn engine(&self) -> &'static str {
        match self.kind {
            Kind::Prefixed { .. } => "prefixed",
            Kind::Gated { .. } => "gated",
            Kind::Run { .. } => "line-heuristic",
            Kind::OwnToken => "exact",
        }
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("specificity", &self.specificity)
            .field("engine", &self.engine())
            .finish()
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Prefixed { pattern: &'static str, check: Check, block_end: Option<&'static str> },
    Gated { gates: &'static [&'static str], pattern: &'static str, check: Check, scope: Scope },
    Run { gates: &'static [&'static str], class: RunClass, min: usize, max: usize, check: Check },
    OwnToken,
}

/// Where a gated rule's regex is evaluated relative to a gate occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The gate lies inside the match, at most `back` bytes after its start:
    /// search from `gate - back` (within the line).
    Local { back: usize },
    /// The gate may be anywhere on the line: evaluate the whole line once.
    Line,
}

/// Post-match validation applied to the secret value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    None,
    NotWords,
    MixedAws,
    Generic,
    UrlPassword,
    ConnString,
    NotRef,
    NotPlaceholder,
    HasPercent,
    AzureSas,
}

/// Alphabet of a line-heuristic token run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunClass {
    /// `[A-Za-z0-9/+]`
    AwsSecret,
    /// `[A-Za-z0-9_-]`
    UrlSafe,
}

impl RunClass {
    #[inline]
    fn contains(self, b: u8) -> bool {
        match self {
            RunClass::AwsSecret => b.is_ascii_alphanumeric() || b == b'/' || b == b'+',
            RunClass::UrlSafe => b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
        }
    }
}

/// All detection rules, in table order. Index 0 is the own-token rule.
pub fn rules() -> &'static [Rule] {
    rules::RULES
}

/// A detected credential. Carries the rule and the location, never the
/// matched bytes: `Display` and `Debug` are safe to log.
#[derive(Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule that matched.
    pub rule: &'static Rule,
    /// Byte span of the secret in the scanned text (always on char boundaries).
    pub span: Range<usize>,
    /// 1-based line number of the start of the span.
    pub line: usize,
    /// 1-based column (in chars) of the start of the span.
    pub column: usize,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Rule {}

impl Finding {
    /// The human-readable label of the rule, e.g. `"github token"`.
    pub fn label(&self) -> &'static str {
        self.rule.label
    }

    /// The stable rule id, e.g. `"github-pat"`.
    pub fn rule_id(&self) -> &'static str {
        self.rule.id
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {}, column {}", self.rule.label, self.line, self.column)
    }
}

impl fmt::Debug for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finding")
            .field("rule", &self.rule.id)
            .field("label", &self.rule.label)
            .field("span", &self.span)
            .field("line", &self.line)
            .field("column", &self.column)
            .finish()
    }
}

/// A compiled guard. Compilation is expensive (tens of milliseconds); build
/// once and share (`Scanner` is `Send + Sync`). [`Scanner::global`] returns a
/// lazily built process-wide instance, used by [`scan`].
///
/// Scanning is two-stage. Stage 1 finds *trigger* literals with two SIMD
/// (Teddy) literal scans: one case-sensitive over the text (the literal
/// prefixes of all prefixed rules, and case-sensitive gates such as `://` or
/// `:AA`), one over an ASCII-lowercased copy of the text, made in small
/// cache-resident chunks (case-insensitive gates such as `password`,
/// `token`, `aws`). Stage 2 only runs at trigger positions: the multi-pattern
/// regex of the prefixed rules *anchored* at the trigger, or a gated rule's
/// regex from just before the gate (resuming where its previous search on the
/// same line stopped, so no byte is searched twice by the same rule).
pub struct Scanner {
    /// Multi-pattern regex over all prefixed rules (run anchored only).
    prefixed: Regex,
    /// Pattern id of `prefixed` → rule index.
    prefixed_rules: Vec<usize>,
    /// Rule index → (end regex, literal prefix of the end line) for PEM-style blocks.
    block_ends: Vec<Option<(Regex, &'static [u8])>>,
    /// Case-sensitive trigger scan over the text.
    exact: LitScan,
    /// Trigger scan over the ASCII-lowercased text.
    folded: LitScan,
    /// Gated/run rules by slot.
    slots: Vec<Slot>,
}

struct Slot {
    rule: usize,
    /// Compiled regex and capture group index of `s` (None = whole match).
    regex: Option<(Regex, Option<usize>)>,
    /// `Some(back)`: local search starting `back` bytes before the gate; `None`: whole line.
    back: Option<usize>,
}

/// What a trigger literal stands for.
#[derive(Clone, Copy, Debug)]
enum What {
    /// Start of a prefixed rule: run the prefixed regex anchored here.
    Prefixed,
    /// A gate of the gated/run rule in `slot`.
    Gate { slot: usize, word_start: bool },
}

/// A literal confirmed around a trigger occurrence.
struct Entry {
    /// The full literal (lowercase in a folded scan).
    lit: Box<[u8]>,
    /// Offset of the trigger inside `lit`.
    offset: usize,
    what: What,
}

enum Finder {
    Packed(packed::Searcher),
    Ac(AhoCorasick),
    /// A single trigger shorter than 3 bytes (Teddy needs 3 to stay selective).
    Memmem(memchr::memmem::Finder<'static>),
}

impl Finder {
    fn build(triggers: &[Vec<u8>], ids: Vec<usize>) -> (Finder, Vec<usize>) {
        if let [id] = ids[..] {
            if triggers[id].len() < 3 {
                return (Finder::Memmem(memchr::memmem::Finder::new(&triggers[id]).into_owned()), ids);
            }
        }
        let pats: Vec<&[u8]> = ids.iter().map(|&i| &triggers[i][..]).collect();
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .heuristic_pattern_limits(false)
            .builder()
            .extend(&pats)
            .build();
        let finder = match packed {
            Some(s) => Finder::Packed(s),
            None => Finder::Ac(
                AhoCorasickBuilder::new()
                    .match_kind(AcMatchKind::LeftmostFirst)
                    .build(&pats)
                    .expect("trigger automaton builds"),
            ),
        };
        (finder, ids)
    }

    /// Leftmost trigger occurrence starting at or after `from`: (start, local pattern id).
    #[inline]
    fn find(&self, hay: &[u8], from: usize) -> Option<(usize, usize)> {
        match self {
            Finder::Packed(s) => {
                s.find_in(hay, aho_corasick::Span::from(from..hay.len())).map(|m| (m.start(), m.pattern().as_usize()))
            }
            Finder::Ac(ac) => {
                ac.find(aho_corasick::Input::new(hay).range(from..)).map(|m| (m.start(), m.pattern().as_usize()))
            }
            Finder::Memmem(f) => f.find(&hay[from..]).map(|i| (from + i, 0)),
        }
    }
}

/// Rough relative frequency of a byte in English prose and source code, used
/// to pick the rarest 3-byte window of each literal as its trigger.
fn byte_freq(b: u8) -> f64 {
    const LOWER: [f64; 26] = [
        8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.8, 4.0, 2.4, 6.7, 7.5, 1.9, 0.1, 6.0, 6.3, 9.1, 2.8, 1.0,
        2.4, 0.15, 2.0, 0.07,
    ];
    match b {
        b'a'..=b'z' => LOWER[(b - b'a') as usize],
        b'A'..=b'Z' => 0.3 * LOWER[(b - b'A') as usize] + 0.1,
        b' ' => 15.0,
        b'0'..=b'9' => 1.5,
        b'.' | b'\n' | b',' => 3.0,
        b'-' | b'_' | b'(' | b')' | b'"' => 1.5,
        b'=' | b':' | b'/' | b'\'' => 1.0,
        _ => 0.3,
    }
}

/// Offset of the rarest 3-byte window of `lit` (the whole literal if shorter).
fn rarest_window(lit: &[u8]) -> (usize, usize) {
    if lit.len() <= 3 {
        return (0, lit.len());
    }
    let score = |o: usize| window_score(&lit[o..o + 3]);
    let best = (0..=lit.len() - 3).min_by(|&x, &y| score(x).total_cmp(&score(y))).expect("non-empty");
    (best, 3)
}

/// Log of the estimated frequency of a window (lower is rarer). All-lowercase
/// windows get a penalty: English trigrams (`uff` in *buffer*) are far more
/// frequent than the product of their letters suggests.
fn window_score(w: &[u8]) -> f64 {
    let penalty = if w.iter().all(u8::is_ascii_lowercase) { 3.0 } else { 0.0 };
    penalty + w.iter().map(|&b| byte_freq(b).ln()).sum::<f64>()
}

/// The folding applied before a folded trigger scan: sets bit 5, which maps
/// `A-Z` to `a-z` (and a few punctuation bytes onto others, which only adds
/// candidates: every hit is confirmed on the original text).
#[inline]
fn fold_byte(b: u8) -> u8 {
    b | 0x20
}

/// One stage-1 literal scan. Every literal is represented by its rarest
/// 3-byte window (the *trigger*); triggers are split into groups small enough
/// for Teddy, each group is one leftmost-first pass restarted one byte after
/// each hit (all triggers of a group have the same length, so every
/// occurrence is reported). Hits are confirmed against the full literal and
/// sorted by literal start.
struct LitScan {
    /// Per group: the searcher and its pattern id → trigger index map.
    groups: Vec<(Finder, Vec<usize>)>,
    /// Per trigger: the literals containing it.
    entries: Vec<Vec<Entry>>,
    /// Fold the haystack ([`fold_byte`]) before searching; confirm ASCII case-insensitively.
    fold: bool,
}

/// Bytes lowercased at a time by a folded scan (stays in L1/L2).
const FOLD_CHUNK: usize = 32 * 1024;
/// Most triggers per Teddy searcher: small groups keep Teddy's buckets
/// selective on English text (measured: 16 beats 32–64 despite more passes).
const TEDDY_GROUP: usize = 16;

impl LitScan {
    fn build(lits: Vec<(Vec<u8>, What)>, fold: bool) -> LitScan {
        let mut triggers: Vec<Vec<u8>> = Vec::new();
        let mut entries: Vec<Vec<Entry>> = Vec::new();
        // Shortest literals first; a longer literal reuses an existing trigger
        // it contains (`sk-` serves every `sk-…` prefix) before adding its own.
        let mut lits = lits;
        lits.sort_by_key(|(l, _)| l.len());
        for (lit, what) in lits {
            let reuse = (0..triggers.len())
                .filter_map(|t| memchr::memmem::find(&lit, &triggers[t]).map(|o| (t, o)))
                .min_by(|a, b| window_score(&triggers[a.0]).total_cmp(&window_score(&triggers[b.0])));
            let (t, offset) = match reuse {
                Some(x) => x,
                None => {
                    let (offset, len) = rarest_window(&lit);
                    triggers.push(lit[offset..offset + len].to_vec());
                    entries.push(Vec::new());
                    (triggers.len() - 1, offset)
                }
            };
            let dup =
                entries[t].iter().any(|e| *e.lit == *lit && e.offset == offset && matches!(e.what, What::Prefixed));
            if !(dup && matches!(what, What::Prefixed)) {
                entries[t].push(Entry { lit: lit.into_boxed_slice(), offset, what });
            }
        }
        let group_size = TEDDY_GROUP;
        // Short triggers get a memmem scan each; the others are spread over
        // Teddy groups of similar size, in sorted order (neighbours share bytes,
        // which keeps Teddy's buckets selective).
        let (short, mut long): (Vec<usize>, Vec<usize>) = (0..triggers.len()).partition(|&i| triggers[i].len() < 3);
        long.sort_by(|&a, &b| triggers[a].cmp(&triggers[b]));
        let ngroups = long.len().div_ceil(group_size).max(1);
        let per = long.len().div_ceil(ngroups).max(1);
        let searched: Vec<Vec<u8>> = if fold {
            triggers.iter().map(|t| t.iter().map(|&b| fold_byte(b)).collect()).collect()
        } else {
            triggers.clone()
        };
        let mut groups: Vec<(Finder, Vec<usize>)> =
            long.chunks(per).map(|ids| Finder::build(&searched, ids.to_vec())).collect();
        groups.extend(short.into_iter().map(|i| Finder::build(&searched, vec![i])));
        LitScan { groups, entries, fold }
    }

    /// Appends `(literal start, trigger, entry index)` for every confirmed
    /// literal occurrence in `text`, sorted by literal start.
    fn collect(&self, text: &[u8], out: &mut Vec<(usize, u32, u32)>) {
        let base_len = out.len();
        let confirm = |pos: usize, t: usize, out: &mut Vec<(usize, u32, u32)>| {
            for (k, e) in self.entries[t].iter().enumerate() {
                let Some(start) = pos.checked_sub(e.offset) else { continue };
                let ok = text.len() - start >= e.lit.len() && {
                    let w = &text[start..start + e.lit.len()];
                    if self.fold {
                        w.eq_ignore_ascii_case(&e.lit)
                    } else {
                        *w == *e.lit
                    }
                };
                if ok {
                    out.push((start, t as u32, k as u32));
                }
            }
        };
        for (finder, ids) in &self.groups {
            if !self.fold {
                let mut at = 0;
                while let Some((pos, pid)) = finder.find(text, at) {
                    confirm(pos, ids[pid], out);
                    at = pos + 1;
                }
                continue;
            }
            let mut buf = vec![0u8; FOLD_CHUNK.min(text.len()) + 2];
            let mut base = 0;
            while base < text.len() {
                // Overlap by 2 bytes (triggers are at most 3 bytes long).
                let end = (base + FOLD_CHUNK + 2).min(text.len());
                let chunk = &mut buf[..end - base];
                for (d, &b) in chunk.iter_mut().zip(&text[base..end]) {
                    *d = fold_byte(b);
                }
                let mut at = 0;
                while let Some((pos, pid)) = finder.find(chunk, at) {
                    if pos >= FOLD_CHUNK {
                        break; // reported by the next chunk
                    }
                    confirm(base + pos, ids[pid], out);
                    at = pos + 1;
                }
                base += FOLD_CHUNK;
            }
        }
        if self.groups.len() > 1 || self.entries.iter().any(|es| es.iter().any(|e| e.offset > 0)) {
            // Runs from each group (and small offset shifts): nearly sorted.
            out[base_len..].sort_by_key(|&(start, _, _)| start);
        }
    }

    #[inline]
    fn entry(&self, t: u32, k: u32) -> &Entry {
        &self.entries[t as usize][k as usize]
    }
}

fn compile_pattern(pat: &str) -> String {
    pat.replace(r"\b", r"(?-u:\b)")
}

/// Literal prefixes of a prefixed pattern: every match starts with one of them.
fn prefix_literals(pattern: &str) -> Vec<Vec<u8>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&compile_pattern(pattern))
        .expect("built-in prefixed pattern parses");
    // Small class limit: `xox[abposr]-` yields `xox`, not six literals.
    let seq = regex_syntax::hir::literal::Extractor::new().limit_class(4).extract(&hir);
    let lits = seq.literals().expect("prefixed pattern has a finite set of literal prefixes");
    let out: Vec<Vec<u8>> = lits.iter().map(|l| l.as_bytes().to_vec()).collect();
    assert!(!out.is_empty() && out.iter().all(|l| l.len() >= 2), "prefixed pattern {pattern:?} lacks a literal prefix");
    out
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    /// Compiles every rule of [`rules()`].
    ///
    /// # Panics
    /// Only if a built-in pattern is invalid, which the test-suite rules out.
    pub fn new() -> Self {
        let mut prefixed_pats = Vec::new();
        let mut prefixed_rules = Vec::new();
        let mut block_ends: Vec<Option<(Regex, &'static [u8])>> = rules::RULES.iter().map(|_| None).collect();
        let mut exact_lits: Vec<(Vec<u8>, What)> = Vec::new();
        let mut folded_lits: Vec<(Vec<u8>, What)> = Vec::new();
        // Prefixed rules ordered by specificity (descending, stable): with
        // leftmost-first semantics, when two patterns match at the same start
        // the more specific one wins inside the regex itself.
        let mut order: Vec<usize> = (0..rules::RULES.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(rules::RULES[i].specificity));
        for &i in &order {
            if let Kind::Prefixed { pattern, block_end, .. } = rules::RULES[i].kind {
                prefixed_pats.push(compile_pattern(pattern));
                prefixed_rules.push(i);
                for lit in prefix_literals(pattern) {
                    exact_lits.push((lit, What::Prefixed));
                }
                if let Some(end) = block_end {
                    let re = Regex::builder()
                        .configure(Regex::config().match_kind(MatchKind::LeftmostFirst))
                        .build(end)
                        .expect("built-in block end compiles");
                    let lit: &'static [u8] = b"-----END";
                    assert!(end.as_bytes().starts_with(lit), "block ends start with -----END");
                    block_ends[i] = Some((re, lit));
                }
            }
        }
        let prefixed = Regex::builder()
            .configure(Regex::config().match_kind(MatchKind::LeftmostFirst).utf8_empty(false))
            .syntax(syntax::Config::new().unicode(true))
            .build_many(&prefixed_pats)
            .expect("built-in prefixed patterns compile");

        let mut slots = Vec::new();
        for (i, rule) in rules::RULES.iter().enumerate() {
            let (gates, regex, back) = match rule.kind {
                Kind::Gated { gates, pattern, scope, .. } => {
                    let re = Regex::builder()
                        .configure(Regex::config().match_kind(MatchKind::LeftmostFirst))
                        .build(&compile_pattern(pattern))
                        .expect("built-in gated pattern compiles");
                    let group = re.group_info().to_index(regex_automata::PatternID::ZERO, "s");
                    let back = match scope {
                        Scope::Local { back } => Some(back),
                        Scope::Line => None,
                    };
                    (gates, Some((re, group)), back)
                }
                Kind::Run { gates, .. } => (gates, None, None),
                _ => continue,
            };
            let slot = slots.len();
            slots.push(Slot { rule: i, regex, back });
            let mut exact_gates = 0;
            for gate in gates {
                let (word_start, lit) = match gate.strip_prefix('^') {
                    Some(rest) => (true, rest),
                    None => (false, *gate),
                };
                let what = What::Gate { slot, word_start };
                match lit.strip_prefix('!') {
                    Some(lit) => {
                        exact_gates += 1;
                        exact_lits.push((lit.as_bytes().to_vec(), what));
                    }
                    None => folded_lits.push((lit.to_ascii_lowercase().into_bytes(), what)),
                }
            }
            // A slot's hits must arrive in position order: all from one scan.
            assert!(exact_gates == 0 || exact_gates == gates.len(), "rule {} mixes exact and folded gates", rule.id);
        }
        Scanner {
            prefixed,
            prefixed_rules,
            block_ends,
            exact: LitScan::build(exact_lits, false),
            folded: LitScan::build(folded_lits, true),
            slots,
        }
    }

    /// The process-wide default scanner (compiled on first use).
    pub fn global() -> &'static Scanner {
        static GLOBAL: LazyLock<Scanner> = LazyLock::new(Scanner::new);
        &GLOBAL
    }

    /// Scans `text`; see [`scan`].
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        self.scan_with_token(text, None)
    }

    /// Scans `text` and additionally flags exact occurrences of `own_token`
    /// (label `"own gateway token"`) when it is at least
    /// [`MIN_OWN_TOKEN_LEN`] bytes long after trimming whitespace.
    pub fn scan_with_token(&self, text: &str, own_token: Option<&str>) -> Vec<Finding> {
        let mut st = ScanState::new(self, text);
        let mut hits = Vec::new();
        st.run(&self.exact, &mut hits);
        st.line = LineCache::default();
        st.run(&self.folded, &mut hits);
        let mut cands = st.out;
        if let Some(tok) = own_token.map(str::trim) {
            if tok.len() >= MIN_OWN_TOKEN_LEN {
                for pos in memchr::memmem::find_iter(text.as_bytes(), tok.as_bytes()) {
                    cands.push((pos..pos + tok.len(), rules::OWN_TOKEN_INDEX));
                }
            }
        }
        resolve(text, cands)
    }

    /// `true` when [`Scanner::scan_with_token`] would report nothing.
    pub fn is_clean(&self, text: &str, own_token: Option<&str>) -> bool {
        self.scan_with_token(text, own_token).is_empty()
    }

    /// Benchmark helper: (case-sensitive trigger pass, folded trigger pass)
    /// candidate counts (before overlap resolution) and times.
    #[doc(hidden)]
    pub fn phase_times(&self, text: &str) -> [(std::time::Duration, usize); 2] {
        let mut hits = Vec::new();
        let mut st = ScanState::new(self, text);
        let t = std::time::Instant::now();
        st.run(&self.exact, &mut hits);
        let a = (t.elapsed(), st.out.len());
        let mut st = ScanState::new(self, text);
        let t = std::time::Instant::now();
        st.run(&self.folded, &mut hits);
        [a, (t.elapsed(), st.out.len())]
    }

    /// Benchmark helper: number of trigger literals (exact, folded).
    #[doc(hidden)]
    pub fn trigger_counts(&self) -> (usize, usize) {
        (self.exact.entries.len(), self.folded.entries.len())
    }
}

/// Bounds of the current line, computed once per line from monotonically
/// increasing positions.
#[derive(Default)]
struct LineCache {
    /// `[start, end)` of the cached line (`valid` = false before the first).
    start: usize,
    end: usize,
    valid: bool,
}

impl LineCache {
    fn get(&mut self, bytes: &[u8], pos: usize) -> (usize, usize, bool) {
        if self.valid && pos >= self.start && pos <= self.end {
            return (self.start, self.end, false);
        }
        let floor = if self.valid && pos > self.end { self.end + 1 } else { 0 };
        let floor = floor.min(pos);
        self.start = memchr::memrchr(b'\n', &bytes[floor..pos]).map_or(floor, |i| floor + i + 1);
        self.end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        self.valid = true;
        (self.start, self.end, true)
    }
}

/// Per-block-end-rule memo of "first valid end line at or after `from`".
#[derive(Clone, Copy)]
struct EndMemo {
    from: usize,
    /// The memo answers queries in `[from, upto]`.
    upto: usize,
    /// Start and end of the end line, if any.
    found: Option<(usize, usize)>,
}

struct ScanState<'s, 't> {
    sc: &'s Scanner,
    text: &'t str,
    out: Vec<(Range<usize>, usize)>,
    /// End of the last prefixed match: the prefixed regex does not restart inside it.
    prefixed_end: usize,
    /// Last position where the prefixed regex was tried.
    prefixed_tried: Option<usize>,
    /// Per slot: local searches resume here (absolute position).
    cursor: Vec<usize>,
    /// Per slot: start + 1 of the last line evaluated as a whole (0 = none).
    line_done: Vec<usize>,
    /// Per slot: start + 1 of the last line where an anchored search failed.
    anchor_failed: Vec<usize>,
    line: LineCache,
    /// Cached facts about the current line (for line-dependent checks).
    facts: Option<(usize, checks::LineFacts<'t>)>,
    /// Maximal run of PEM body bytes `[lo, hi)` containing the last query.
    body_run: (usize, usize),
    end_memo: Vec<Option<EndMemo>>,
    caps: Vec<Option<regex_automata::util::captures::Captures>>,
}

/// Bytes allowed in a PEM body (`[A-Za-z0-9+/=\s:,.\\-]`, ASCII whitespace).
#[inline]
fn is_body_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || b.is_ascii_whitespace()
        || matches!(b, b'+' | b'/' | b'=' | b':' | b',' | b'.' | b'\\' | b'-' | 0x0b)
}

impl<'s, 't> ScanState<'s, 't> {
    fn new(sc: &'s Scanner, text: &'t str) -> Self {
        ScanState {
            sc,
            text,
            out: Vec::new(),
            prefixed_end: 0,
            prefixed_tried: None,
            cursor: vec![0; sc.slots.len()],
            line_done: vec![0; sc.slots.len()],
            anchor_failed: vec![0; sc.slots.len()],
            line: LineCache::default(),
            facts: None,
            body_run: (0, 0),
            end_memo: Vec::new(),
            caps: Vec::new(),
        }
    }

    /// Stage 1 with `lits`, then stage 2 at every confirmed literal.
    fn run(&mut self, lits: &LitScan, hits: &mut Vec<(usize, u32, u32)>) {
        hits.clear();
        lits.collect(self.text.as_bytes(), hits);
        for &(pos, t, k) in hits.iter() {
            self.on_literal(pos, lits.entry(t, k));
        }
    }

    #[inline]
    fn on_literal(&mut self, pos: usize, e: &Entry) {
        match e.what {
            What::Prefixed => self.prefixed_at(pos),
            What::Gate { slot, word_start } => {
                if word_start && pos > 0 && self.text.as_bytes()[pos - 1].is_ascii_alphabetic() {
                    return;
                }
                self.gate_at(pos, slot);
            }
        }
    }

    fn prefixed_at(&mut self, pos: usize) {
        if pos < self.prefixed_end || self.prefixed_tried == Some(pos) {
            return;
        }
        self.prefixed_tried = Some(pos);
        let text = self.text;
        let input = Input::new(text).span(pos..text.len()).anchored(Anchored::Yes);
        let Some(m) = self.sc.prefixed.search(&input) else { return };
        let ri = self.sc.prefixed_rules[m.pattern().as_usize()];
        let mut end = m.end();
        if self.sc.block_ends[ri].is_some() {
            if let Some(e) = self.block_end(ri, end) {
                end = e;
            }
        }
        self.prefixed_end = end;
        let check = match rules::RULES[ri].kind {
            Kind::Prefixed { check, .. } => check,
            _ => Check::None,
        };
        if checks::check(check, &text[pos..end], &mut checks::LineFacts::new("")) {
            self.out.push((pos..end, ri));
        }
    }

    /// End of the maximal PEM-body run starting at `p` (memoized: a whole
    /// file of blocks is one run, measured once).
    fn body_run_end(&mut self, p: usize) -> usize {
        let (lo, hi) = self.body_run;
        if lo <= p && p <= hi && hi > lo {
            return hi;
        }
        let b = self.text.as_bytes();
        let hi = p + b[p..].iter().position(|&c| !is_body_byte(c)).unwrap_or(b.len() - p);
        self.body_run = (p, hi);
        hi
    }

    /// For a block header ending at `from`, the end of the first end line of
    /// rule `ri` reachable through body bytes (lazy `body*?end`).
    fn block_end(&mut self, ri: usize, from: usize) -> Option<usize> {
        if self.end_memo.is_empty() {
            self.end_memo = vec![None; rules::RULES.len()];
        }
        if let Some(m) = self.end_memo[ri] {
            if m.from <= from && from <= m.upto {
                return m.found.map(|(_, e)| e);
            }
        }
        let run_end = self.body_run_end(from);
        let (re, lit) = self.sc.block_ends[ri].as_ref().expect("block rule");
        let text = self.text;
        let mut found = None;
        for q in memchr::memmem::find_iter(&text.as_bytes()[from..run_end], lit) {
            let q = from + q;
            let input = Input::new(text).span(q..text.len()).anchored(Anchored::Yes);
            if let Some(m) = re.search(&input) {
                found = Some((q, m.end()));
                break;
            }
        }
        let upto = found.map_or(run_end, |(q, _)| q);
        self.end_memo[ri] = Some(EndMemo { from, upto, found });
        found.map(|(_, e)| e)
    }

    fn facts_for(&mut self, ls: usize, le: usize) -> &mut checks::LineFacts<'t> {
        let text = self.text;
        if !matches!(self.facts, Some((s, _)) if s == ls) {
            self.facts = Some((ls, checks::LineFacts::new(&text[ls..le])));
        }
        &mut self.facts.as_mut().expect("just set").1
    }

    fn gate_at(&mut self, pos: usize, slot: usize) {
        let bytes = self.text.as_bytes();
        let (ls, le, _) = self.line.get(bytes, pos);
        match self.sc.slots[slot].back {
            // The match must start at the gate: one anchored search, unless one
            // already failed on this line (then an unanchored search resumes
            // from the cursor, so a line of repeated gates is searched once).
            Some(0) if self.anchor_failed[slot] != ls + 1 => {
                if self.cursor[slot] <= pos {
                    match self.search_local(slot, ls, le, pos, Anchored::Yes) {
                        Some(next) => self.cursor[slot] = next,
                        None => self.anchor_failed[slot] = ls + 1,
                    }
                }
            }
            Some(back) => {
                while self.cursor[slot] <= pos {
                    let from = pos.saturating_sub(back).max(ls).max(self.cursor[slot]);
                    self.cursor[slot] = self.search_local(slot, ls, le, from, Anchored::No).unwrap_or(le + 1);
                }
            }
            None => {
                if self.line_done[slot] != ls + 1 {
                    self.line_done[slot] = ls + 1;
                    self.eval_line(slot, ls, le);
                }
            }
        }
    }

    /// One leftmost-first search of the slot's regex in `[from, le)` (the
    /// haystack is the line, so `^`/`$` are line anchors). Returns where the
    /// next search may start (after the match), `None` without a match.
    fn search_local(&mut self, slot: usize, ls: usize, le: usize, from: usize, anchored: Anchored) -> Option<usize> {
        let s = &self.sc.slots[slot];
        let (re, group) = s.regex.as_ref()?;
        let Kind::Gated { check, .. } = rules::RULES[s.rule].kind else { return None };
        let line = &self.text[ls..le];
        if self.caps.is_empty() {
            self.caps = (0..self.sc.slots.len()).map(|_| None).collect();
        }
        let caps = self.caps[slot].get_or_insert_with(|| re.create_captures());
        re.search_captures(&Input::new(line).range(from - ls..).anchored(anchored), caps);
        let m = caps.get_match()?;
        let next = ls + if m.is_empty() { m.end() + 1 } else { m.end() };
        let span = match group {
            Some(g) => caps.get_group(*g),
            None => Some(m.span()),
        };
        let rule = s.rule;
        if let Some(sp) = span {
            if !sp.is_empty() {
                let value = &self.text[ls + sp.start..ls + sp.end];
                if checks::check(check, value, self.facts_for(ls, le)) {
                    self.out.push((ls + sp.start..ls + sp.end, rule));
                }
            }
        }
        Some(next)
    }

    /// Evaluates a line-scoped rule over the whole line `[ls, le)`.
    fn eval_line(&mut self, slot: usize, ls: usize, le: usize) {
        let s = &self.sc.slots[slot];
        let rule = &rules::RULES[s.rule];
        match (rule.kind, &s.regex) {
            (Kind::Gated { .. }, Some(_)) => {
                let mut pos = ls;
                while pos <= le {
                    pos = self.search_local(slot, ls, le, pos, Anchored::No).unwrap_or(le + 1);
                }
            }
            (Kind::Run { class, min, max, check, .. }, _) => {
                let ri = s.rule;
                let text = self.text;
                let b = &text.as_bytes()[ls..le];
                let mut i = 0;
                while i < b.len() {
                    if !class.contains(b[i]) {
                        i += 1;
                        continue;
                    }
                    let start = i;
                    while i < b.len() && class.contains(b[i]) {
                        i += 1;
                    }
                    let len = i - start;
                    if len >= min
                        && len <= max
                        && checks::check(check, &text[ls + start..ls + i], self.facts_for(ls, le))
                    {
                        self.out.push((ls + start..ls + i, ri));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Keeps a maximal set of non-overlapping candidates, preferring higher
/// specificity, then longer spans, then earlier starts; returns them sorted by
/// position with line/column filled in.
fn resolve(text: &str, mut cands: Vec<(Range<usize>, usize)>) -> Vec<Finding> {
    if cands.is_empty() {
        return Vec::new();
    }
    cands.sort_by(|a, b| {
        let (ra, rb) = (&rules::RULES[a.1], &rules::RULES[b.1]);
        rb.specificity
            .cmp(&ra.specificity)
            .then((b.0.end - b.0.start).cmp(&(a.0.end - a.0.start)))
            .then(a.0.start.cmp(&b.0.start))
    });
    let mut chosen: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for (span, ri) in cands {
        // The chosen intervals are disjoint, so only the last one starting
        // before our end can overlap us.
        if let Some((_, &(end, _))) = chosen.range(..span.end).next_back() {
            if end > span.start {
                continue;
            }
        }
        chosen.insert(span.start, (span.end, ri));
    }
    // Line/column: one incremental walk over the text.
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(chosen.len());
    let (mut pos, mut line, mut line_start) = (0usize, 1usize, 0usize);
    let (mut col_pos, mut col) = (0usize, 1usize);
    for (start, (end, ri)) in chosen {
        for nl in memchr::memchr_iter(b'\n', &bytes[pos..start]) {
            line += 1;
            line_start = pos + nl + 1;
        }
        pos = start;
        if col_pos < line_start {
            col_pos = line_start;
            col = 1;
        }
        col += text[col_pos..start].chars().count();
        col_pos = start;
        out.push(Finding { rule: &rules::RULES[ri], span: start..end, line, column: col });
    }
    out
}

/// Scans `text` with the default [`Scanner`]. Findings are sorted by position
/// and do not overlap; see the crate docs for the specificity order.
pub fn scan(text: &str) -> Vec<Finding> {
    Scanner::global().scan(text)
}

/// Like [`scan`], additionally flagging exact occurrences of the caller's own
/// bearer token (label `"own gateway token"`, only when the token is at least
/// [`MIN_OWN_TOKEN_LEN`] bytes).
pub fn scan_with_token(text: &str, own_token: Option<&str>) -> Vec<Finding> {
    Scanner::global().scan_with_token(text, own_token)
}

/// Returns a copy of `text` where each finding's span is replaced by
/// `[REDACTED:<label>]`. `findings` must come from scanning this same `text`.
pub fn redact(text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for f in findings {
        if f.span.start < last || f.span.end > text.len() {
            continue;
        }
        out.push_str(&text[last..f.span.start]);
        out.push_str("[REDACTED:");
        out.push_str(f.rule.label);
        out.push(']');
        last = f.span.end;
    }
    out.push_str(&text[last..]);
    out
}
