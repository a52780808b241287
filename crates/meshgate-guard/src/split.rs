//! Finding a gated rule's value with anchored DFA searches instead of a
//! capture engine.

use std::ops::Range;
use std::panic::{RefUnwindSafe, UnwindSafe};

use regex_automata::hybrid::dfa::{Cache as DfaCache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::{Hir, HirKind};

/// A pattern `pre (?P<s>val) post` (`s` a top-level group) as three
/// anchored lazy DFAs (indices into [`Scanner::parts`](crate::Scanner::parts)).
///
/// Resolving capture groups needs an NFA engine (the bounded backtracker:
/// ~20 ns/byte, several times a DFA search); this finds the same value span
/// with anchored DFA searches. Leftmost-first priority is lexicographic over a
/// concatenation, so if `pre`'s preferred match ends at `p` and `val post`
/// matches at `p`, the whole match takes that path; likewise for `val` before
/// `post`. When a continuation fails the answer is [`SplitMatch::Unknown`]
/// and the capture engine decides.
pub(crate) struct Split {
    pre: Option<usize>,
    val: usize,
    post: Option<usize>,
}

/// Per-thread caches of the lazy DFAs in [`Scanner::parts`](crate::Scanner::parts), created on first use.
pub(crate) type PartCaches = Vec<Option<DfaCache>>;
/// Creates an empty [`PartCaches`].
pub(crate) type NewPartCaches = Box<dyn Fn() -> PartCaches + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// Outcome of [`Split::at`].
pub(crate) enum SplitMatch {
    /// The match at the position: value span and end of the match.
    Found(Range<usize>, usize),
    /// No match starts at the position.
    None,
    /// Not decided by the preferred paths of the parts (rare).
    Unknown,
}

impl Split {
    /// Splits `pattern` (already passed through [`compile_pattern`](crate::scanner::compile_pattern)) around
    /// its top-level group `s`, adding the parts to `parts`.
    pub(crate) fn new(pattern: &str, parts: &mut Vec<DFA>) -> Option<Split> {
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
    #[inline]
    pub(crate) fn at(&self, parts: &[DFA], caches: &mut PartCaches, hay: &str, at: usize) -> SplitMatch {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;
    use crate::scanner::{GatedRegex, Scanner};
    use crate::testutil::lines;

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
}
