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
//!    backtrack super-linearly (minutes on a 200 KB line). Here every rule is
//!    matched by finite automata (`regex-automata`'s meta engine, lazy DFA with
//!    literal prefilters) or by a single byte scan. Rules without a literal
//!    prefix are only evaluated on lines containing one of their *gate*
//!    keywords, found by one Aho-Corasick pass; each line is evaluated at most
//!    once per rule. No input can take super-linear time (see `examples/bench.rs`
//!    and `bench/guard/RESULTS.md`).
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

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};
use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind};

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
    /// How the rule is evaluated: `"prefixed"` (multi-pattern regex with a
    /// literal prefix), `"gated"` (regex run on lines containing a keyword),
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
    Prefixed { pattern: &'static str, check: Check },
    Gated { gates: &'static [&'static str], pattern: &'static str, check: Check },
    Run { gates: &'static [&'static str], class: RunClass, min: usize, max: usize, check: Check },
    OwnToken,
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
pub struct Scanner {
    /// Multi-pattern regex over all prefixed rules.
    prefixed: Regex,
    /// Pattern id of `prefixed` → rule index.
    prefixed_rules: Vec<usize>,
    /// Gate keywords (ASCII case-insensitive).
    gates: AhoCorasick,
    /// Per gate pattern: (must not follow an ASCII letter, bitmask of gated slots).
    gate_info: Vec<(bool, u64)>,
    /// Gated/run rules by slot.
    slots: Vec<Slot>,
}

struct Slot {
    rule: usize,
    /// Compiled regex and capture group index of `s` (None = whole match).
    regex: Option<(Regex, Option<usize>)>,
}

fn compile_pattern(pat: &str) -> String {
    pat.replace(r"\b", r"(?-u:\b)")
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
        Self::build(true)
    }

    /// Same rules with the literal prefilter of the multi-pattern regex
    /// disabled. Only useful to measure what the prefilter buys.
    #[doc(hidden)]
    pub fn without_prefilter() -> Self {
        Self::build(false)
    }

    fn build(prefilter: bool) -> Self {
        let mut prefixed_pats = Vec::new();
        let mut prefixed_rules = Vec::new();
        // Prefixed rules ordered by specificity (descending, stable): with
        // leftmost-first semantics, when two patterns match at the same start
        // the more specific one wins inside the regex itself.
        let mut order: Vec<usize> = (0..rules::RULES.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(rules::RULES[i].specificity));
        for &i in &order {
            if let Kind::Prefixed { pattern, .. } = rules::RULES[i].kind {
                prefixed_pats.push(compile_pattern(pattern));
                prefixed_rules.push(i);
            }
        }
        let prefixed = Regex::builder()
            .configure(Regex::config().match_kind(MatchKind::LeftmostFirst).auto_prefilter(prefilter).utf8_empty(false))
            .syntax(syntax::Config::new().unicode(true))
            .build_many(&prefixed_pats)
            .expect("built-in prefixed patterns compile");

        let mut slots = Vec::new();
        let mut gate_map: BTreeMap<String, (bool, u64)> = BTreeMap::new();
        for (i, rule) in rules::RULES.iter().enumerate() {
            let (gates, regex) = match rule.kind {
                Kind::Gated { gates, pattern, .. } => {
                    let re = Regex::builder()
                        .configure(Regex::config().match_kind(MatchKind::LeftmostFirst))
                        .build(&compile_pattern(pattern))
                        .expect("built-in gated pattern compiles");
                    let group = re.group_info().to_index(regex_automata::PatternID::ZERO, "s");
                    (gates, Some((re, group)))
                }
                Kind::Run { gates, .. } => (gates, None),
                _ => continue,
            };
            let slot = slots.len();
            assert!(slot < 64, "too many gated rules for the slot bitmask");
            slots.push(Slot { rule: i, regex });
            for gate in gates {
                let (word_start, lit) = match gate.strip_prefix('^') {
                    Some(rest) => (true, rest),
                    None => (false, *gate),
                };
                let e = gate_map.entry(lit.to_ascii_lowercase()).or_insert((word_start, 0));
                e.0 &= word_start;
                e.1 |= 1u64 << slot;
            }
        }
        let (gate_lits, gate_info): (Vec<String>, Vec<(bool, u64)>) = gate_map.into_iter().unzip();
        let gates = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(AcMatchKind::Standard)
            .build(&gate_lits)
            .expect("gate automaton builds");

        Scanner { prefixed, prefixed_rules, gates, gate_info, slots }
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
        let mut cands: Vec<(Range<usize>, usize)> = Vec::new();
        self.collect_prefixed(text, &mut cands);
        self.collect_gated(text, &mut cands);
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

    /// Benchmark helper: (prefixed-regex pass, gated pass) candidate counts and times.
    #[doc(hidden)]
    pub fn phase_times(&self, text: &str) -> [(std::time::Duration, usize); 2] {
        let mut v = Vec::new();
        let t = std::time::Instant::now();
        self.collect_prefixed(text, &mut v);
        let a = (t.elapsed(), v.len());
        v.clear();
        let t = std::time::Instant::now();
        self.collect_gated(text, &mut v);
        [a, (t.elapsed(), v.len())]
    }

    fn collect_prefixed(&self, text: &str, out: &mut Vec<(Range<usize>, usize)>) {
        for m in self.prefixed.find_iter(text) {
            let ri = self.prefixed_rules[m.pattern().as_usize()];
            let check = match rules::RULES[ri].kind {
                Kind::Prefixed { check, .. } => check,
                _ => Check::None,
            };
            let value = &text[m.range()];
            if checks::check(check, value, "") {
                out.push((m.range(), ri));
            }
        }
    }

    fn collect_gated(&self, text: &str, out: &mut Vec<(Range<usize>, usize)>) {
        let bytes = text.as_bytes();
        // Current line [ls, le) and the slots triggered on it.
        let mut cur: Option<(usize, usize)> = None;
        let mut mask: u64 = 0;
        let mut prev_end = 0usize;
        for m in self.gates.find_overlapping_iter(text) {
            let (word_start, slots) = self.gate_info[m.pattern().as_usize()];
            let pos = m.start();
            let same_line = matches!(cur, Some((_, le)) if m.end() <= le);
            if !same_line {
                if let Some((ls, le)) = cur.take() {
                    self.eval_line(text, ls, le, mask, out);
                    prev_end = le;
                }
                let ls = memchr::memrchr(b'\n', &bytes[prev_end..pos]).map_or(prev_end, |i| prev_end + i + 1);
                let le = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
                cur = Some((ls, le));
                mask = 0;
            }
            if word_start && pos > 0 && bytes[pos - 1].is_ascii_alphabetic() {
                continue;
            }
            mask |= slots;
        }
        if let Some((ls, le)) = cur {
            self.eval_line(text, ls, le, mask, out);
        }
    }

    fn eval_line(&self, text: &str, ls: usize, le: usize, mut mask: u64, out: &mut Vec<(Range<usize>, usize)>) {
        let line = &text[ls..le];
        while mask != 0 {
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let s = &self.slots[slot];
            let rule = &rules::RULES[s.rule];
            match (rule.kind, &s.regex) {
                (Kind::Gated { check, .. }, Some((re, group))) => {
                    let mut caps = re.create_captures();
                    let mut pos = 0;
                    while pos <= line.len() {
                        re.search_captures(&Input::new(line).range(pos..), &mut caps);
                        let Some(m) = caps.get_match() else { break };
                        pos = if m.is_empty() { m.end() + 1 } else { m.end() };
                        let span = match group {
                            Some(g) => caps.get_group(*g),
                            None => Some(m.span()),
                        };
                        if let Some(sp) = span {
                            if !sp.is_empty() && checks::check(check, &line[sp.range()], line) {
                                out.push((ls + sp.start..ls + sp.end, s.rule));
                            }
                        }
                    }
                }
                (Kind::Run { class, min, max, check, .. }, _) => {
                    let b = line.as_bytes();
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
                        if len >= min && len <= max && checks::check(check, &line[start..i], line) {
                            out.push((ls + start..ls + i, s.rule));
                        }
                    }
                }
                _ => {}
            }
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
