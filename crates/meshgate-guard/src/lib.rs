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

use std::fmt;
use std::ops::Range;

mod checks;
mod literals;
mod resolve;
mod rules;
mod scanner;
mod split;
mod state;
#[cfg(test)]
mod testutil;

pub use rules::{
    SPEC_ASSIGNMENT, SPEC_BROAD, SPEC_GENERIC, SPEC_LINE_HEURISTIC, SPEC_NESTED, SPEC_OWN_TOKEN, SPEC_VENDOR,
};
pub use scanner::Scanner;

use rules::Kind;

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

    #[test]
    fn scanner_is_shareable() {
        fn shareable<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
        shareable::<Scanner>();
    }
}
