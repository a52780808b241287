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
//!    automata (`regex-automata`'s DFAs) run — anchored for prefixed rules,
//!    resuming where the previous search of the same rule stopped for gated
//!    ones, so no rule searches the same bytes more than a bounded number of
//!    times. Clean text costs little more than the literal scan (> 1 GB/s);
//!    no input takes super-linear time (see `examples/bench.rs` and
//!    `bench/guard/RESULTS.md`).
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
//! ## Precision
//!
//! A refused message stops an agent's work, so a credential is recognised by
//! its own shape, not by a credential word nearby: a digest, UUID, integrity
//! string, slug, file name, path or public key next to `token` or
//! `MESH_GATEWAY_TOKEN` is not a secret, and the variable-reference exemption
//! covers only real reference syntax (`$VAR`, `${VAR}`, `%(name)s`,
//! `{{ var }}`, `<placeholder>`, … as the whole value), so passwords with
//! `$`, `(`, `{`, `!` are found. meshgate's own tokens (`mgp_…`, `mgo_…`)
//! have their own rules. `bench/guard/EVAL.md` (bait by category of real text)
//! and `bench/guard/CORPUS.md` (1 GB of installed documentation and sources,
//! every finding reviewed) measure it.
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
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::LazyLock;

use regex_automata::hybrid::dfa::{Cache as DfaCache, DFA};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::pool::{Pool, PoolGuard};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::{Hir, HirKind};

mod checks;
mod literals;
mod rules;

use literals::{Entry, LitScan};

pub use rules::{
    SPEC_ASSIGNMENT, SPEC_BROAD, SPEC_GENERIC, SPEC_LINE_HEURISTIC, SPEC_NESTED, SPEC_OWN_TOKEN, SPEC_VENDOR,
};

/// Most bytes before a gate where [`ScanState::search_local`] tries anchored
/// starts instead of an unanchored search.
const PROBE: usize = 2;

/// Anchored probes per slot and line that may find nothing before
/// [`ScanState::search_local`] stops probing on that line: a failed probe may
/// scan bytes that the unanchored search after it scans again, so this bounds
/// the extra work to a constant factor whatever the rule.
const MAX_FAILED_PROBES: usize = 16;

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
    /// The line heuristic's mesh-gateway token shape (see `checks::mesh_shape`).
    MeshShape,
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
        /// Membership tables: one load per byte instead of range tests.
        const fn table(extra: [u8; 2]) -> [bool; 256] {
            let mut t = [false; 256];
            let mut b = 0;
            while b < 256 {
                let c = b as u8;
                t[b] = c.is_ascii_alphanumeric() || c == extra[0] || c == extra[1];
                b += 1;
            }
            t
        }
        static AWS_SECRET: [bool; 256] = table([b'/', b'+']);
        static URL_SAFE: [bool; 256] = table([b'_', b'-']);
        match self {
            RunClass::AwsSecret => AWS_SECRET[b as usize],
            RunClass::UrlSafe => URL_SAFE[b as usize],
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
/// regex from just before the gate (anchored tries at the gate, then a search
/// resuming where its previous search on the same line stopped, so the same
/// rule scans a byte a bounded number of times). A gated rule's value is cut
/// out of the match with anchored DFA searches of the pattern's parts, not
/// with a capture engine.
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
    /// Anchored lazy DFAs of the [`Split`] parts of gated rules.
    parts: Vec<DFA>,
    /// Their caches.
    part_caches: Pool<PartCaches, NewPartCaches>,
}

struct Slot {
    rule: usize,
    /// The regex of a gated rule (`None` for a run rule).
    regex: Option<GatedRegex>,
    /// `Some(back)`: local search starting `back` bytes before the gate; `None`: whole line.
    back: Option<usize>,
}

/// A gated rule's compiled pattern.
struct GatedRegex {
    /// The whole pattern.
    full: Regex,
    /// Capture group index of the value `s` (`None`: the value is the whole match).
    group: Option<usize>,
    /// The pattern split around `s`, to find the value without a capture engine.
    split: Option<Split>,
}

/// A pattern `pre (?P<s>val) post` (`s` a top-level group) as three
/// anchored lazy DFAs (indices into [`Scanner::parts`]).
///
/// Resolving capture groups needs an NFA engine (the bounded backtracker:
/// ~20 ns/byte, several times a DFA search); this finds the same value span
/// with anchored DFA searches. Leftmost-first priority is lexicographic over a
/// concatenation, so if `pre`'s preferred match ends at `p` and `val post`
/// matches at `p`, the whole match takes that path; likewise for `val` before
/// `post`. When a continuation fails the answer is [`SplitMatch::Unknown`]
/// and the capture engine decides.
struct Split {
    pre: Option<usize>,
    val: usize,
    post: Option<usize>,
}

/// Per-thread caches of the lazy DFAs in [`Scanner::parts`], created on first use.
type PartCaches = Vec<Option<DfaCache>>;
/// Creates an empty [`PartCaches`].
type NewPartCaches = Box<dyn Fn() -> PartCaches + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// Outcome of [`Split::at`].
enum SplitMatch {
    /// The match at the position: value span and end of the match.
    Found(Range<usize>, usize),
    /// No match starts at the position.
    None,
    /// Not decided by the preferred paths of the parts (rare).
    Unknown,
}

impl Split {
    /// Splits `pattern` (already passed through [`compile_pattern`]) around
    /// its top-level group `s`, adding the parts to `parts`.
    fn new(pattern: &str, parts: &mut Vec<DFA>) -> Option<Split> {
        let hir = syntax::parse(pattern).ok()?;
        let is_value = |h: &Hir| matches!(h.kind(), HirKind::Capture(c) if c.name.as_deref() == Some("s"));
        let (pre, val, post) = match hir.kind() {
            HirKind::Capture(c) if is_value(&hir) => (Vec::new(), (*c.sub).clone(), Vec::new()),
            HirKind::Concat(hs) => {
                let i = hs.iter().position(is_value)?;
                let HirKind::Capture(c) = hs[i].kind() else { return None };
                (hs[..i].to_vec(), (*c.sub).clone(), hs[i + 1..].to_vec())
            }
            _ => return None,
        };
        let mut add = |h: Hir| {
            let nfa = thompson::Compiler::new()
                .configure(thompson::Config::new().which_captures(WhichCaptures::None))
                .build_from_hir(&h)
                .expect("part of a built-in gated pattern compiles");
            let dfa = DFA::builder()
                .configure(DFA::config().match_kind(MatchKind::LeftmostFirst))
                .build_from_nfa(nfa)
                .expect("part of a built-in gated pattern compiles");
            parts.push(dfa);
            parts.len() - 1
        };
        let pre = (!pre.is_empty()).then(|| add(Hir::concat(pre)));
        let val = add(val);
        let post = (!post.is_empty()).then(|| add(Hir::concat(post)));
        Some(Split { pre, val, post })
    }

    /// The match starting exactly at `at` in `hay`.
    fn at(&self, parts: &[DFA], caches: &mut PartCaches, hay: &str, at: usize) -> SplitMatch {
        let mut end_of = |i: usize, from: usize| {
            let cache = caches[i].get_or_insert_with(|| parts[i].create_cache());
            let input = Input::new(hay).range(from..).anchored(Anchored::Yes);
            parts[i].try_search_fwd(cache, &input).map(|m| m.map(|h| h.offset()))
        };
        let p = match self.pre.map(|i| end_of(i, at)) {
            Some(Ok(Some(p))) => p,
            // Every match starts with a match of `pre`.
            Some(Ok(None)) => return SplitMatch::None,
            Some(Err(_)) => return SplitMatch::Unknown,
            None => at,
        };
        let Ok(Some(e)) = end_of(self.val, p) else { return SplitMatch::Unknown };
        let end = match self.post.map(|i| end_of(i, e)) {
            Some(Ok(Some(end))) => end,
            Some(_) => return SplitMatch::Unknown,
            None => e,
        };
        SplitMatch::Found(p..e, end)
    }
}

/// What a trigger literal stands for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum What {
    /// Start of a prefixed rule: run the prefixed regex anchored here.
    /// `bounded`: no prefixed pattern can match here after a word byte (every
    /// pattern that can start with this literal starts with `\b`).
    Prefixed { bounded: bool },
    /// A gate of the gated/run rule in `slot`.
    Gate { slot: usize, word_start: bool },
}

/// A byte of `(?-u:\w)`: the bytes `\b` is about.
#[inline]
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
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
                    exact_lits.push((lit, What::Prefixed { bounded: pattern.starts_with(r"\b") }));
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
        // A literal of a `\b` pattern is only bounded if no match of another
        // pattern can start at the same place: neither of their literals
        // extends the other.
        let unbounded: Vec<Vec<u8>> = exact_lits
            .iter()
            .filter(|(_, w)| matches!(w, What::Prefixed { bounded: false }))
            .map(|(l, _)| l.clone())
            .collect();
        for (lit, what) in &mut exact_lits {
            if let What::Prefixed { bounded: bounded @ true } = what {
                *bounded = is_word_byte(lit[0]) && !unbounded.iter().any(|u| u.starts_with(lit) || lit.starts_with(u));
            }
        }
        let prefixed = Regex::builder()
            .configure(Regex::config().match_kind(MatchKind::LeftmostFirst).utf8_empty(false))
            .syntax(syntax::Config::new().unicode(true))
            .build_many(&prefixed_pats)
            .expect("built-in prefixed patterns compile");

        let mut slots = Vec::new();
        let mut parts = Vec::new();
        for (i, rule) in rules::RULES.iter().enumerate() {
            let (gates, regex, back) = match rule.kind {
                Kind::Gated { gates, pattern, scope, .. } => {
                    let pattern = compile_pattern(pattern);
                    let full = Regex::builder()
                        .configure(Regex::config().match_kind(MatchKind::LeftmostFirst))
                        .build(&pattern)
                        .expect("built-in gated pattern compiles");
                    let group = full.group_info().to_index(regex_automata::PatternID::ZERO, "s");
                    let split = group.and_then(|_| Split::new(&pattern, &mut parts));
                    let back = match scope {
                        Scope::Local { back } => Some(back),
                        Scope::Line => None,
                    };
                    (gates, Some(GatedRegex { full, group, split }), back)
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
            part_caches: Pool::new({
                let n = parts.len();
                Box::new(move || (0..n).map(|_| None).collect())
            }),
            parts,
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
        (self.exact.len(), self.folded.len())
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
    /// Per slot: (start + 1 of the line, anchored probes that found nothing on it).
    failed_probes: Vec<(usize, usize)>,
    line: LineCache,
    /// Cached facts about the current line (for line-dependent checks).
    facts: Option<(usize, checks::LineFacts<'t>)>,
    /// Maximal run of PEM body bytes `[lo, hi)` containing the last query.
    body_run: (usize, usize),
    end_memo: Vec<Option<EndMemo>>,
    caps: Vec<Option<regex_automata::util::captures::Captures>>,
    /// This thread's caches of the split DFAs (taken from the pool on first use).
    part_caches: Option<PoolGuard<'s, PartCaches, NewPartCaches>>,
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
            failed_probes: vec![(0, 0); sc.slots.len()],
            line: LineCache::default(),
            facts: None,
            body_run: (0, 0),
            end_memo: Vec::new(),
            caps: Vec::new(),
            part_caches: None,
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
            What::Prefixed { bounded } => {
                if !(bounded && pos > 0 && is_word_byte(self.text.as_bytes()[pos - 1])) {
                    self.prefixed_at(pos);
                }
            }
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
        // A token shape inside a longer run is a fragment of something else:
        // a base64url digest (`sha256=qaN-fw_…`), a base64 blob (`…/EAAC…+…`).
        let bytes = text.as_bytes();
        let embedded = self.sc.block_ends[ri].is_none()
            && !rules::is_meshgate_token(ri)
            && ((pos > 0 && matches!(bytes[pos - 1], b'-' | b'+')) || bytes.get(end) == Some(&b'+'));
        if !embedded && checks::check(check, &text[pos..end], &mut checks::LineFacts::new(text)) {
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
                    match self.search_local(slot, ls, le, pos, Anchored::Yes, None) {
                        Some(next) => self.cursor[slot] = next,
                        None => self.anchor_failed[slot] = ls + 1,
                    }
                }
            }
            Some(back) => {
                while self.cursor[slot] <= pos {
                    let from = pos.saturating_sub(back).max(ls).max(self.cursor[slot]);
                    // Probes that find nothing cost extra scanning: a few per line.
                    let probes = self.failed_probes[slot];
                    let gate = (probes.0 != ls + 1 || probes.1 < MAX_FAILED_PROBES).then_some(pos);
                    self.cursor[slot] = self.search_local(slot, ls, le, from, Anchored::No, gate).unwrap_or(le + 1);
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
    /// `gate`: the gate occurrence that prompted an unanchored search.
    fn search_local(
        &mut self,
        slot: usize,
        ls: usize,
        le: usize,
        from: usize,
        anchored: Anchored,
        gate: Option<usize>,
    ) -> Option<usize> {
        let sc = self.sc;
        let s = &sc.slots[slot];
        let re = s.regex.as_ref()?;
        let Kind::Gated { check, .. } = rules::RULES[s.rule].kind else { return None };
        let rule = s.rule;
        let line = &self.text[ls..le];
        let mut input = Input::new(line).range(from - ls..).anchored(anchored);
        // (match span, value span), relative to the line.
        let (m, value) = match (&re.split, re.group) {
            (_, None) => {
                let m = re.full.search(&input)?;
                (m.range(), Some(m.range()))
            }
            (Some(split), Some(_)) => {
                let caches = self.part_caches.get_or_insert_with(|| sc.part_caches.get());
                let found = 'found: {
                    if anchored == Anchored::Yes {
                        break 'found match split.at(&sc.parts, caches, line, from - ls) {
                            SplitMatch::Found(v, end) => Some((from - ls..end, v)),
                            SplitMatch::None => return None,
                            // Usually there is no match at all: the DFA says so cheaply.
                            SplitMatch::Unknown => {
                                re.full.search_half(&input)?;
                                None
                            }
                        };
                    }
                    // A gate at most PROBE bytes after `from`: try those starts
                    // anchored first, cheaper than a forward + reverse search.
                    if let Some(gate) = gate.filter(|&g| g - from <= PROBE) {
                        let mut decided = true;
                        for a in from - ls..=gate - ls {
                            match split.at(&sc.parts, caches, line, a) {
                                SplitMatch::Found(v, end) => break 'found Some((a..end, v)),
                                SplitMatch::None => {}
                                SplitMatch::Unknown => {
                                    decided = false;
                                    break;
                                }
                            }
                        }
                        let probes = &mut self.failed_probes[slot];
                        *probes = if probes.0 == ls + 1 { (ls + 1, probes.1 + 1) } else { (ls + 1, 1) };
                        if decided {
                            // No match starts up to the gate.
                            if gate - ls + 1 > line.len() {
                                return None;
                            }
                            input.set_start(gate - ls + 1);
                        }
                    }
                    let m = re.full.search(&input)?;
                    match split.at(&sc.parts, caches, line, m.start()) {
                        SplitMatch::Found(v, end) if end == m.end() => Some((m.range(), v)),
                        _ => None,
                    }
                };
                match found {
                    Some((m, v)) => (m, Some(v)),
                    None => self.search_captures(slot, &input)?,
                }
            }
            (None, Some(_)) => self.search_captures(slot, &input)?,
        };
        let next = ls + if m.is_empty() { m.end + 1 } else { m.end };
        if let Some(sp) = value.filter(|v| !v.is_empty()) {
            let value = &self.text[ls + sp.start..ls + sp.end];
            if checks::check(check, value, self.facts_for(ls, le)) {
                self.out.push((ls + sp.start..ls + sp.end, rule));
            }
        }
        Some(next)
    }

    /// [`Self::search_local`] with the capture engine: (match span, value span).
    fn search_captures(&mut self, slot: usize, input: &Input<'_>) -> Option<(Range<usize>, Option<Range<usize>>)> {
        let re = self.sc.slots[slot].regex.as_ref()?;
        if self.caps.is_empty() {
            self.caps = (0..self.sc.slots.len()).map(|_| None).collect();
        }
        let caps = self.caps[slot].get_or_insert_with(|| re.full.create_captures());
        re.full.search_captures(input, caps);
        let m = caps.get_match()?;
        let value = match re.group {
            Some(g) => caps.get_group(g).map(|sp| sp.range()),
            None => Some(m.range()),
        };
        Some((m.range(), value))
    }

    /// Evaluates a line-scoped rule over the whole line `[ls, le)`.
    fn eval_line(&mut self, slot: usize, ls: usize, le: usize) {
        let s = &self.sc.slots[slot];
        let rule = &rules::RULES[s.rule];
        match (rule.kind, &s.regex) {
            (Kind::Gated { .. }, Some(_)) => {
                let mut pos = ls;
                while pos <= le {
                    pos = self.search_local(slot, ls, le, pos, Anchored::No, None).unwrap_or(le + 1);
                }
            }
            (Kind::Run { class, min, max, check, .. }, _) => {
                let ri = s.rule;
                let text = self.text;
                for run in long_runs(&text.as_bytes()[ls..le], class, min) {
                    if run.len() <= max
                        && checks::check(check, &text[ls + run.start..ls + run.end], self.facts_for(ls, le))
                    {
                        self.out.push((ls + run.start..ls + run.end, ri));
                    }
                }
            }
            _ => {}
        }
    }
}

/// The maximal runs of `class` bytes in `b` that are at least `min` bytes long.
///
/// Looks at every `min`-th byte first: a byte outside the class there rules
/// out every run through it, so text with short runs is mostly skipped.
fn long_runs(b: &[u8], class: RunClass, min: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let min = min.max(1);
    // Invariant: `i` is 0 or follows a byte outside the class.
    let mut i = 0;
    std::iter::from_fn(move || {
        while i + min <= b.len() {
            let probe = i + min - 1;
            if !class.contains(b[probe]) {
                i = probe + 1;
                continue;
            }
            let start = i + b[i..probe].iter().rposition(|&c| !class.contains(c)).map_or(0, |k| k + 1);
            let end = probe + b[probe..].iter().position(|&c| !class.contains(c)).unwrap_or(b.len() - probe);
            i = end + 1;
            if end - start >= min {
                return Some(start..end);
            }
        }
        None
    })
}

/// Keeps a maximal set of non-overlapping candidates, preferring higher
/// specificity, then longer spans, then earlier starts, then earlier
/// candidates (a greedy pass in that order); returns them sorted by position
/// with line/column filled in.
///
/// Only candidates in one cluster of transitively overlapping spans compete,
/// so clusters are found in one sweep by start and resolved one at a time; a
/// lone candidate is kept as is.
fn resolve(text: &str, cands: Vec<(Range<usize>, usize)>) -> Vec<Finding> {
    if cands.is_empty() {
        return Vec::new();
    }
    let mut by_start: Vec<usize> = (0..cands.len()).collect();
    by_start.sort_unstable_by_key(|&i| (cands[i].0.start, i));
    let mut chosen: Vec<usize> = Vec::with_capacity(cands.len());
    let mut cluster: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < by_start.len() {
        let mut end = cands[by_start[i]].0.end;
        let mut j = i + 1;
        while j < by_start.len() && cands[by_start[j]].0.start < end {
            end = end.max(cands[by_start[j]].0.end);
            j += 1;
        }
        if j == i + 1 {
            chosen.push(by_start[i]);
        } else {
            cluster.clear();
            cluster.extend_from_slice(&by_start[i..j]);
            resolve_cluster(&cands, &mut cluster, &mut chosen);
        }
        i = j;
    }
    chosen.sort_unstable_by_key(|&c| cands[c].0.start);
    // Line/column: one incremental walk over the text.
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(chosen.len());
    let (mut pos, mut line, mut line_start) = (0usize, 1usize, 0usize);
    let (mut col_pos, mut col) = (0usize, 1usize);
    for c in chosen {
        let (ref span, ri) = cands[c];
        let start = span.start;
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
        out.push(Finding { rule: &rules::RULES[ri], span: span.clone(), line, column: col });
    }
    out
}

/// The greedy pass of [`resolve`] over one cluster of overlapping candidates.
fn resolve_cluster(cands: &[(Range<usize>, usize)], cluster: &mut [usize], chosen: &mut Vec<usize>) {
    cluster.sort_unstable_by_key(|&c| {
        let (span, ri) = &cands[c];
        (std::cmp::Reverse(rules::RULES[*ri].specificity), std::cmp::Reverse(span.len()), span.start, c)
    });
    let first = chosen.len();
    if cluster.len() <= 16 {
        // Small cluster: compare with the few kept spans directly.
        for &c in cluster.iter() {
            let span = &cands[c].0;
            if chosen[first..].iter().all(|&k| cands[k].0.end <= span.start || span.end <= cands[k].0.start) {
                chosen.push(c);
            }
        }
        return;
    }
    // Kept spans by start; they are disjoint, so only the last one starting
    // before a candidate's end can overlap it.
    let mut kept: BTreeMap<usize, usize> = BTreeMap::new();
    for &c in cluster.iter() {
        let span = &cands[c].0;
        if kept.range(..span.end).next_back().is_some_and(|(_, &end)| end > span.start) {
            continue;
        }
        kept.insert(span.start, span.end);
        chosen.push(c);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64 — deterministic test data.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Lines mixing the gated rules' keywords and separators with values.
    fn lines(seed: u64, n: usize) -> Vec<String> {
        const PARTS: &[&str] = &[
            "password",
            "Password",
            "pwd",
            "token",
            "secret_access_key",
            "api_key",
            "AccountKey",
            "SharedAccessKey",
            "cohere_key",
            "cf_api_token",
            "heroku_key",
            "dd_api_key",
            "authorization",
            "Bearer ",
            "bearer ",
            "MESH_GATEWAY_TOKEN",
            "://",
            "user:",
            "@host",
            "&sig=",
            "?sig=",
            "-us1",
            "8Q~",
            ":AA",
            ":APA91b",
            ".atlasv1.",
            " = ",
            "=",
            ": ",
            ":=",
            "=>",
            "\"",
            "'",
            ";",
            " ",
            "  ",
            "\\",
            "]",
            "$",
            "é",
            "\u{3000}",
            "{",
            "<",
            "%",
        ];
        const VALUE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-.=~";
        let mut r = Rng(seed | 1);
        (0..n)
            .map(|_| {
                let mut s = String::new();
                for _ in 0..1 + r.below(12) {
                    if r.below(2) == 0 {
                        s.push_str(PARTS[r.below(PARTS.len())]);
                    } else {
                        let len = 1 + r.below(50);
                        s.extend((0..len).map(|_| VALUE[r.below(VALUE.len())] as char));
                    }
                }
                s
            })
            .collect()
    }

    #[test]
    fn split_parts_agree_with_the_capture_engine() {
        let sc = Scanner::global();
        let mut caches = sc.part_caches.get();
        let mut checked = 0;
        for line in lines(7, 3000) {
            for slot in &sc.slots {
                let Some(GatedRegex { full, group: Some(g), split: Some(split) }) = &slot.regex else { continue };
                let mut caps = full.create_captures();
                for at in (0..=line.len()).filter(|&i| line.is_char_boundary(i)) {
                    full.search_captures(&Input::new(&line).range(at..).anchored(Anchored::Yes), &mut caps);
                    let want = caps.get_match().map(|m| (caps.get_group(*g).map(|s| s.range()), m.end()));
                    match split.at(&sc.parts, &mut caches, &line, at) {
                        SplitMatch::Found(v, end) => {
                            assert_eq!(
                                Some((Some(v), end)),
                                want,
                                "{:?} at {at} in {line:?}",
                                rules::RULES[slot.rule].id
                            );
                            checked += 1;
                        }
                        SplitMatch::None => {
                            assert_eq!(want, None, "{:?} at {at} in {line:?}", rules::RULES[slot.rule].id)
                        }
                        SplitMatch::Unknown => {}
                    }
                }
            }
        }
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn scanner_is_shareable() {
        fn shareable<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
        shareable::<Scanner>();
    }

    #[test]
    fn long_runs_are_the_maximal_runs() {
        let mut r = Rng(3);
        for _ in 0..2000 {
            let b: Vec<u8> = (0..r.below(300)).map(|_| [b'a', b'Z', b'7', b'/', b'-', b' '][r.below(6)]).collect();
            for class in [RunClass::AwsSecret, RunClass::UrlSafe] {
                for min in [1, 2, 5, 40] {
                    let mut want = Vec::new();
                    let mut i = 0;
                    while i < b.len() {
                        let start = i;
                        while i < b.len() && class.contains(b[i]) {
                            i += 1;
                        }
                        if i - start >= min {
                            want.push(start..i);
                        }
                        i += 1;
                    }
                    assert_eq!(long_runs(&b, class, min).collect::<Vec<_>>(), want);
                }
            }
        }
    }

    #[test]
    fn resolve_is_the_greedy_by_specificity_length_start() {
        let mut r = Rng(11);
        let text = "x\ny".repeat(100);
        for _ in 0..2000 {
            let cands: Vec<(Range<usize>, usize)> = (0..r.below(30))
                .map(|_| {
                    let start = r.below(290);
                    (start..start + 1 + r.below(10), 1 + r.below(rules::RULES.len() - 1))
                })
                .collect();
            // Reference: sort everything, keep what does not overlap a kept span.
            let mut order: Vec<usize> = (0..cands.len()).collect();
            order.sort_by(|&a, &b| {
                let (ra, rb) = (&rules::RULES[cands[a].1], &rules::RULES[cands[b].1]);
                rb.specificity
                    .cmp(&ra.specificity)
                    .then(cands[b].0.len().cmp(&cands[a].0.len()))
                    .then(cands[a].0.start.cmp(&cands[b].0.start))
            });
            let mut kept: Vec<&(Range<usize>, usize)> = Vec::new();
            for i in order {
                let c = &cands[i];
                if kept.iter().all(|k| k.0.end <= c.0.start || c.0.end <= k.0.start) {
                    kept.push(c);
                }
            }
            kept.sort_by_key(|k| k.0.start);
            let got: Vec<(Range<usize>, &str)> =
                resolve(&text, cands.clone()).into_iter().map(|f| (f.span, f.rule.id)).collect();
            let want: Vec<(Range<usize>, &str)> = kept.iter().map(|k| (k.0.clone(), rules::RULES[k.1].id)).collect();
            assert_eq!(got, want);
        }
    }
}
