//! Stage 2 of one scan: the state of a pass over the text, run at every
//! trigger literal the stage-1 scan reports.

use std::ops::Range;

use regex_automata::util::pool::PoolGuard;
use regex_automata::{Anchored, Input};

use crate::checks;
use crate::literals::{Entry, LitScan};
use crate::rules::{self, Check, Kind, RunClass};
use crate::scanner::{is_word_byte, Scanner, What};
use crate::split::{NewPartCaches, PartCaches, SplitMatch};

/// Most bytes before a gate where [`ScanState::search_local`] tries anchored
/// starts instead of an unanchored search.
const PROBE: usize = 2;

/// Anchored probes per slot and line that may find nothing before
/// [`ScanState::search_local`] stops probing on that line: a failed probe may
/// scan bytes that the unanchored search after it scans again, so this bounds
/// the extra work to a constant factor whatever the rule.
const MAX_FAILED_PROBES: usize = 16;
/// Bounds of the current line, computed once per line from monotonically
/// increasing positions.
#[derive(Default)]
pub(crate) struct LineCache {
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

pub(crate) struct ScanState<'s, 't> {
    sc: &'s Scanner,
    text: &'t str,
    pub(crate) out: Vec<(Range<usize>, usize)>,
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
    pub(crate) line: LineCache,
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
    pub(crate) fn new(sc: &'s Scanner, text: &'t str) -> Self {
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
    pub(crate) fn run(&mut self, lits: &LitScan, hits: &mut Vec<(usize, u32, u32)>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

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
}
