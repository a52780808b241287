//! The compiled guard: every rule turned into trigger literals (stage 1)
//! and the automata run at their occurrences (stage 2).

use std::sync::LazyLock;

use regex_automata::hybrid::dfa::DFA;
use regex_automata::meta::Regex;
use regex_automata::util::pool::Pool;
use regex_automata::util::syntax;
use regex_automata::MatchKind;

use crate::literals::LitScan;
use crate::resolve::resolve;
use crate::rules::{self, Kind, Scope};
use crate::split::{NewPartCaches, PartCaches, Split};
use crate::state::{LineCache, ScanState};
use crate::{Finding, MIN_OWN_TOKEN_LEN};

/// A compiled guard. Compilation is expensive (tens of milliseconds); build
/// once and share (`Scanner` is `Send + Sync`). [`Scanner::global`] returns a
/// lazily built process-wide instance, used by [`scan`](crate::scan).
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
    pub(crate) prefixed: Regex,
    /// Pattern id of `prefixed` → rule index.
    pub(crate) prefixed_rules: Vec<usize>,
    /// Rule index → (end regex, literal prefix of the end line) for PEM-style blocks.
    pub(crate) block_ends: Vec<Option<(Regex, &'static [u8])>>,
    /// Case-sensitive trigger scan over the text.
    pub(crate) exact: LitScan,
    /// Trigger scan over the ASCII-lowercased text.
    pub(crate) folded: LitScan,
    /// Gated/run rules by slot.
    pub(crate) slots: Vec<Slot>,
    /// Anchored lazy DFAs of the [`Split`] parts of gated rules.
    pub(crate) parts: Vec<DFA>,
    /// Their caches.
    pub(crate) part_caches: Pool<PartCaches, NewPartCaches>,
}

pub(crate) struct Slot {
    pub(crate) rule: usize,
    /// The regex of a gated rule (`None` for a run rule).
    pub(crate) regex: Option<GatedRegex>,
    /// `Some(back)`: local search starting `back` bytes before the gate; `None`: whole line.
    pub(crate) back: Option<usize>,
}

/// A gated rule's compiled pattern.
pub(crate) struct GatedRegex {
    /// The whole pattern.
    pub(crate) full: Regex,
    /// Capture group index of the value `s` (`None`: the value is the whole match).
    pub(crate) group: Option<usize>,
    /// The pattern split around `s`, to find the value without a capture engine.
    pub(crate) split: Option<Split>,
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
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub(crate) fn compile_pattern(pat: &str) -> String {
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
    /// Compiles every rule of [`rules()`](crate::rules()).
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

    /// Scans `text`; see [`scan`](crate::scan).
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
