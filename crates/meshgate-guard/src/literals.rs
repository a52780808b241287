//! Stage 1: find every occurrence of the rules' literal prefixes and gate
//! keywords with SIMD literal scans (Teddy, from `aho-corasick`'s packed
//! searcher).
//!
//! Every literal is represented by its rarest 3-byte window, its *trigger*.
//! Triggers are spread over a few Teddy searchers (*groups*) of up to 32
//! triggers. A Teddy searcher costs one pass over the text plus a
//! verification for every position its fingerprint accepts, and its 8
//! buckets each accept the product of their triggers' nibble sets, so which
//! triggers share a bucket decides how often it fires on ordinary text:
//! [`plan_groups`] places similar triggers together (estimated with a small
//! model of English and source code): on the benchmark's clean text the 4
//! planned groups of case-sensitive triggers take 2.7 ms per 10 MB where the
//! former 8 groups of 16 neighbouring triggers took 5.9 ms.

use std::collections::BTreeMap;

use aho_corasick::{packed, AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};

use crate::scanner::What;

/// A literal confirmed around a trigger occurrence.
pub(crate) struct Entry {
    /// The full literal (lowercase in a folded scan).
    pub(crate) lit: Box<[u8]>,
    /// Offset of the trigger inside `lit`.
    pub(crate) offset: usize,
    /// What an occurrence of the literal stands for.
    pub(crate) what: What,
}

impl Entry {
    /// `true` when the literal is the trigger itself: a trigger hit needs no confirmation.
    fn is_trigger(&self, trigger_len: usize) -> bool {
        self.offset == 0 && self.lit.len() == trigger_len
    }
}

enum Finder {
    Packed(packed::Searcher),
    Ac(AhoCorasick),
    /// A single trigger shorter than 3 bytes (Teddy needs 3 to stay selective).
    Memmem(memchr::memmem::Finder<'static>),
}

impl Finder {
    /// A searcher for `triggers[ids]`, whose pattern ids are positions in `ids`.
    fn build(triggers: &[Vec<u8>], ids: &[usize]) -> Finder {
        if let [id] = ids[..] {
            if triggers[id].len() < 3 {
                return Finder::Memmem(memchr::memmem::Finder::new(&triggers[id]).into_owned());
            }
        }
        let pats: Vec<&[u8]> = ids.iter().map(|&i| &triggers[i][..]).collect();
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .heuristic_pattern_limits(false)
            .builder()
            .extend(&pats)
            .build();
        match packed {
            Some(s) => Finder::Packed(s),
            None => Finder::Ac(
                AhoCorasickBuilder::new()
                    .match_kind(AcMatchKind::LeftmostFirst)
                    .build(&pats)
                    .expect("trigger automaton builds"),
            ),
        }
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
/// to pick the rarest 3-byte window of each literal as its trigger and to
/// estimate how often a Teddy bucket fires.
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

/// Most triggers per Teddy searcher: more than 32 would switch to Fat Teddy
/// (half the bytes per step). With [`plan_groups`] the 8 buckets hold ~4
/// similar triggers each and stay selective.
const TEDDY_GROUP: usize = 32;
/// Teddy buckets per (Slim) searcher.
const BUCKETS: usize = 8;
/// Bytes of a trigger Teddy fingerprints (`min(4, shortest trigger)`).
const MASK_LEN: usize = 3;
/// The most common English letter pairs: a bucket accepting them fires far
/// more often than letter frequencies alone predict.
const COMMON_BIGRAMS: &str = "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io \
                              le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur";

/// The bytes a Teddy bucket accepts at each fingerprint position: those whose
/// low nibble and high nibble both occur at that position among its triggers
/// (not necessarily in the same one).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct NibbleMask {
    lo: [u16; MASK_LEN],
    hi: [u16; MASK_LEN],
}

impl NibbleMask {
    fn of(trigger: &[u8]) -> NibbleMask {
        let mut m = NibbleMask::default();
        for (j, &b) in trigger.iter().take(MASK_LEN).enumerate() {
            m.lo[j] |= 1 << (b & 15);
            m.hi[j] |= 1 << (b >> 4);
        }
        m
    }

    fn union(self, other: NibbleMask) -> NibbleMask {
        let mut m = self;
        for j in 0..MASK_LEN {
            m.lo[j] |= other.lo[j];
            m.hi[j] |= other.hi[j];
        }
        m
    }
}

/// Estimates the probability that a Teddy bucket fires at a position of
/// ordinary text: a first-order Markov model over [`byte_freq`], where a byte
/// is 3x as likely after one of its class (capitals, digits) and lowercase
/// pairs are 3x as likely when common English bigrams, 0.6x otherwise.
struct TextModel {
    p: [f32; 256],
    /// Per lowercase letter: the letters (bit `i` = `b'a' + i`) forming a
    /// common bigram before / after it.
    before: [u32; 26],
    after: [u32; 26],
}

/// What [`TextModel::rate`] needs to know about the bytes a bucket accepts
/// next to the middle one.
#[derive(Default)]
struct Side {
    total: f32,
    lower: f32,
    upper: f32,
    digit: f32,
    /// Accepted lowercase letters (bit `i` = `b'a' + i`).
    letters: u32,
}

impl TextModel {
    fn new() -> TextModel {
        let total: f64 = (0..=255u8).map(byte_freq).sum();
        let p = std::array::from_fn(|b| (byte_freq(b as u8) / total) as f32);
        let (mut before, mut after) = ([0u32; 26], [0u32; 26]);
        for pair in COMMON_BIGRAMS.split_ascii_whitespace() {
            let &[x, y] = pair.as_bytes() else { continue };
            let (x, y) = ((x - b'a') as usize, (y - b'a') as usize);
            before[y] |= 1 << x;
            after[x] |= 1 << y;
        }
        TextModel { p, before, after }
    }

    /// Calls `f` for each byte a bucket accepts at position `j`.
    fn each(m: &NibbleMask, j: usize, mut f: impl FnMut(u8)) {
        let mut hi = m.hi[j];
        while hi != 0 {
            let h = hi.trailing_zeros() as u8;
            hi &= hi - 1;
            let mut lo = m.lo[j];
            while lo != 0 {
                let l = lo.trailing_zeros() as u8;
                lo &= lo - 1;
                f(h << 4 | l);
            }
        }
    }

    fn side(&self, m: &NibbleMask, j: usize) -> Side {
        let mut s = Side::default();
        Self::each(m, j, |b| {
            let p = self.p[b as usize];
            s.total += p;
            if b.is_ascii_lowercase() {
                s.lower += p;
                s.letters |= 1 << (b - b'a');
            } else if b.is_ascii_uppercase() {
                s.upper += p;
            } else if b.is_ascii_digit() {
                s.digit += p;
            }
        });
        s
    }

    /// Weighted mass of the accepted neighbours `s` of `b`
    /// (`pairs`: each letter's common bigram partners on that side).
    fn next_to(&self, b: u8, s: &Side, pairs: &[u32; 26]) -> f32 {
        if b.is_ascii_lowercase() {
            let mut common = s.letters & pairs[(b - b'a') as usize];
            let mut m = 0.0;
            while common != 0 {
                m += self.p[(b'a' + common.trailing_zeros() as u8) as usize];
                common &= common - 1;
            }
            s.total - 0.4 * s.lower + 2.4 * m
        } else if b.is_ascii_uppercase() {
            s.total + 2.0 * s.upper
        } else if b.is_ascii_digit() {
            s.total + 2.0 * s.digit
        } else {
            s.total
        }
    }

    fn rate(&self, m: &NibbleMask) -> f32 {
        if m.lo[0] == 0 {
            return 0.0;
        }
        let (first, last) = (self.side(m, 0), self.side(m, 2));
        let mut r = 0.0;
        Self::each(m, 1, |b| {
            r += self.p[b as usize] * self.next_to(b, &first, &self.before) * self.next_to(b, &last, &self.after);
        });
        r
    }
}

/// Splits `ids` (triggers of at least [`MASK_LEN`] bytes) into Teddy groups
/// and orders each group so that Teddy puts similar triggers in one bucket.
///
/// Teddy (aho-corasick 1.1) assigns the i-th pattern with a new
/// low-nibble fingerprint to bucket `7 - i % 8`, and a pattern whose
/// fingerprint was seen to that pattern's bucket. Triggers sharing a
/// fingerprint therefore form one *unit*. Units are placed greedily (most
/// frequent first) in the bucket where they add the least estimated rate,
/// then the worst buckets trade units with the others; every bucket holds
/// ⌊u/b⌋ or ⌈u/b⌉ units, so emitting one unit per bucket in turn reproduces
/// the plan. This only affects speed: every trigger is searched whatever its
/// bucket.
fn plan_groups(triggers: &[Vec<u8>], ids: &[usize]) -> Vec<Vec<usize>> {
    // Units: triggers with the same low-nibble fingerprint, in first-seen order.
    let mut by_lo: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    let mut units: Vec<(NibbleMask, Vec<usize>)> = Vec::new();
    for &id in ids {
        let t = &triggers[id];
        let lo: Vec<u8> = t.iter().take(MASK_LEN).map(|b| b & 15).collect();
        let u = *by_lo.entry(lo).or_insert_with(|| {
            units.push((NibbleMask::default(), Vec::new()));
            units.len() - 1
        });
        units[u].0 = units[u].0.union(NibbleMask::of(t));
        units[u].1.push(id);
    }
    let model = TextModel::new();
    (ids.len().div_ceil(TEDDY_GROUP).max(1)..)
        .find_map(|ngroups| plan(&model, &units, ngroups))
        .expect("one trigger per bucket always fits")
}

/// [`plan_groups`] for `units` in `ngroups` groups, if no group exceeds
/// [`TEDDY_GROUP`] patterns.
fn plan(model: &TextModel, units: &[(NibbleMask, Vec<usize>)], ngroups: usize) -> Option<Vec<Vec<usize>>> {
    let nb = ngroups * BUCKETS;
    let group_of = |b: usize| b / BUCKETS;
    // ⌊u/b⌋ units per bucket, one more for the first `r` buckets taken one per group in turn.
    let (q, r) = (units.len() / nb, units.len() % nb);
    let cap = |b: usize| q + usize::from((b % BUCKETS) * ngroups + group_of(b) < r);
    let weight = |u: usize| units[u].1.len();
    // Per group: patterns placed, and unit places still free.
    let mut patterns = vec![0usize; ngroups];
    let mut free: Vec<usize> = (0..ngroups).map(|g| (g * BUCKETS..(g + 1) * BUCKETS).map(cap).sum()).collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); nb];
    let mut masks = vec![NibbleMask::default(); nb];
    let mut rates = vec![0f32; nb];
    let alone: Vec<f32> = units.iter().map(|(m, _)| model.rate(m)).collect();
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|&a, &b| alone[b].total_cmp(&alone[a]));
    for u in order {
        let mut best: Option<(f32, usize)> = None;
        // Leave room for one pattern in every free place of the group.
        let fits = |b: usize| patterns[group_of(b)] + weight(u) + free[group_of(b)] - 1 <= TEDDY_GROUP;
        for b in (0..nb).filter(|&b| members[b].len() < cap(b) && fits(b)) {
            let d = model.rate(&masks[b].union(units[u].0)) - rates[b];
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, b));
            }
        }
        let b = best?.1;
        masks[b] = masks[b].union(units[u].0);
        rates[b] = model.rate(&masks[b]);
        members[b].push(u);
        patterns[group_of(b)] += weight(u);
        free[group_of(b)] -= 1;
    }
    // The worst quarter of the buckets try to trade each unit with every other bucket.
    let mask_of = |ms: &[usize]| ms.iter().fold(NibbleMask::default(), |m, &u| m.union(units[u].0));
    let mut worst: Vec<usize> = (0..nb).collect();
    worst.sort_by(|&a, &b| rates[b].total_cmp(&rates[a]));
    for &a in &worst[..nb.div_ceil(4)] {
        for b in (0..nb).filter(|&b| b != a) {
            for i in 0..members[a].len() {
                for j in 0..members[b].len() {
                    let (x, y) = (members[a][i], members[b][j]);
                    let (ga, gb) = (group_of(a), group_of(b));
                    if ga != gb
                        && (patterns[ga] + weight(y) - weight(x) > TEDDY_GROUP
                            || patterns[gb] + weight(x) - weight(y) > TEDDY_GROUP)
                    {
                        continue;
                    }
                    members[a][i] = y;
                    members[b][j] = x;
                    let (ma, mb) = (mask_of(&members[a]), mask_of(&members[b]));
                    let (ra, rb) = (model.rate(&ma), model.rate(&mb));
                    if ra + rb < (rates[a] + rates[b]) * 0.999 {
                        (masks[a], masks[b], rates[a], rates[b]) = (ma, mb, ra, rb);
                        patterns[ga] = patterns[ga] + weight(y) - weight(x);
                        patterns[gb] = patterns[gb] + weight(x) - weight(y);
                    } else {
                        members[a][i] = x;
                        members[b][j] = y;
                    }
                }
            }
        }
    }
    let groups = members
        .chunks(BUCKETS)
        .map(|buckets| {
            let mut buckets: Vec<&Vec<usize>> = buckets.iter().collect();
            buckets.sort_by_key(|m| std::cmp::Reverse(m.len()));
            let rounds = buckets.first().map_or(0, |m| m.len());
            let mut group: Vec<usize> = (0..rounds)
                .flat_map(|i| buckets.iter().filter_map(move |m| m.get(i)))
                .map(|&u| units[u].1[0])
                .collect();
            group.extend(buckets.iter().flat_map(|m| m.iter()).flat_map(|&u| units[u].1[1..].iter().copied()));
            group
        })
        .filter(|g| !g.is_empty())
        .collect();
    Some(groups)
}

/// One stage-1 literal scan. Each group is one leftmost-first pass restarted
/// one byte after each hit (all triggers of a group have the same length, so
/// every occurrence is reported). Hits are confirmed against the full literal
/// and sorted by literal start.
pub(crate) struct LitScan {
    /// Per group: the searcher and its pattern id → trigger index map.
    groups: Vec<(Finder, Vec<usize>)>,
    /// Per trigger: its length and the literals containing it.
    entries: Vec<(usize, Vec<Entry>)>,
    /// Fold the haystack ([`fold_byte`]) before searching; confirm ASCII case-insensitively.
    fold: bool,
}

/// Bytes lowercased at a time by a folded scan (stays in L1/L2).
const FOLD_CHUNK: usize = 32 * 1024;

impl LitScan {
    pub(crate) fn build(lits: Vec<(Vec<u8>, What)>, fold: bool) -> LitScan {
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
            // A prefixed literal extending another one at the same start adds
            // nothing: the prefixed regex runs at that start either way (and
            // if the shorter one is `bounded`, so is the longer one).
            let covered = matches!(what, What::Prefixed { .. })
                && entries[t]
                    .iter()
                    .any(|e| matches!(e.what, What::Prefixed { .. }) && e.offset == offset && lit.starts_with(&e.lit));
            if !covered {
                entries[t].push(Entry { lit: lit.into_boxed_slice(), offset, what });
            }
        }
        let searched: Vec<Vec<u8>> = if fold {
            triggers.iter().map(|t| t.iter().map(|&b| fold_byte(b)).collect()).collect()
        } else {
            triggers.clone()
        };
        // Short triggers get a memmem scan each; the others are spread over Teddy groups.
        let (short, long): (Vec<usize>, Vec<usize>) = (0..triggers.len()).partition(|&i| triggers[i].len() < MASK_LEN);
        let mut groups: Vec<(Finder, Vec<usize>)> = if long.is_empty() {
            Vec::new()
        } else {
            plan_groups(&searched, &long).into_iter().map(|ids| (Finder::build(&searched, &ids), ids)).collect()
        };
        groups.extend(short.into_iter().map(|i| (Finder::build(&searched, &[i]), vec![i])));
        let entries = triggers.iter().map(Vec::len).zip(entries).collect();
        LitScan { groups, entries, fold }
    }

    /// Appends `(literal start, trigger, entry index)` for every confirmed
    /// literal occurrence in `text`, sorted by literal start.
    pub(crate) fn collect(&self, text: &[u8], out: &mut Vec<(usize, u32, u32)>) {
        let base_len = out.len();
        if self.fold {
            // Each chunk is folded once, then searched by every group.
            let mut buf = vec![0u8; FOLD_CHUNK.min(text.len()) + MASK_LEN - 1];
            let mut base = 0;
            while base < text.len() {
                // Overlap by 2 bytes (triggers are at most 3 bytes long).
                let end = (base + FOLD_CHUNK + MASK_LEN - 1).min(text.len());
                let chunk = &mut buf[..end - base];
                for (d, &b) in chunk.iter_mut().zip(&text[base..end]) {
                    *d = fold_byte(b);
                }
                for (finder, ids) in &self.groups {
                    let mut at = 0;
                    while let Some((pos, pid)) = finder.find(chunk, at) {
                        if pos >= FOLD_CHUNK {
                            break; // reported by the next chunk
                        }
                        self.confirm(text, base + pos, ids[pid], out);
                        at = pos + 1;
                    }
                }
                base += FOLD_CHUNK;
            }
        } else {
            for (finder, ids) in &self.groups {
                let mut at = 0;
                while let Some((pos, pid)) = finder.find(text, at) {
                    self.confirm(text, pos, ids[pid], out);
                    at = pos + 1;
                }
            }
        }
        if self.groups.len() > 1 || self.fold || self.entries.iter().any(|(_, es)| es.iter().any(|e| e.offset > 0)) {
            // Sorted runs (per group, or per chunk) and small offset shifts: nearly sorted.
            out[base_len..].sort_by_key(|&(start, _, _)| start);
        }
    }

    /// Pushes the literals of trigger `t` that occur around its hit at `pos`.
    #[inline]
    fn confirm(&self, text: &[u8], pos: usize, t: usize, out: &mut Vec<(usize, u32, u32)>) {
        let (tlen, entries) = &self.entries[t];
        for (k, e) in entries.iter().enumerate() {
            // A case-sensitive trigger hit is its own confirmation (folding is lossy).
            let ok = if !self.fold && e.is_trigger(*tlen) {
                true
            } else {
                match pos.checked_sub(e.offset) {
                    Some(start) if text.len() - start >= e.lit.len() => {
                        let w = &text[start..start + e.lit.len()];
                        if self.fold {
                            w.eq_ignore_ascii_case(&e.lit)
                        } else {
                            *w == *e.lit
                        }
                    }
                    _ => false,
                }
            };
            if ok {
                out.push((pos - e.offset, t as u32, k as u32));
            }
        }
    }

    #[inline]
    pub(crate) fn entry(&self, t: u32, k: u32) -> &Entry {
        &self.entries[t as usize].1[k as usize]
    }

    /// Number of trigger literals.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_places_every_trigger_once_within_group_limits() {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/~=";
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize]
        };
        for n in [1, 7, 22, 40, 123, 200] {
            let mut triggers: Vec<Vec<u8>> = Vec::new();
            while triggers.len() < n {
                let t = vec![next(), next(), next()];
                if !triggers.contains(&t) {
                    triggers.push(t);
                }
            }
            let ids: Vec<usize> = (0..n).collect();
            let groups = plan_groups(&triggers, &ids);
            let mut seen: Vec<usize> = groups.concat();
            seen.sort_unstable();
            assert_eq!(seen, ids);
            assert!(groups.iter().all(|g| !g.is_empty() && g.len() <= TEDDY_GROUP), "{n}: {groups:?}");
            assert!(groups.len() <= n.div_ceil(TEDDY_GROUP) + 1, "{n}: {} groups", groups.len());
            // Triggers Teddy puts in one bucket are in one group.
            let fingerprint = |t: &[u8]| t.iter().map(|b| b & 15).collect::<Vec<u8>>();
            for g in &groups {
                for &a in g {
                    for h in groups.iter().filter(|h| !std::ptr::eq(*h, g)) {
                        assert!(h.iter().all(|&b| fingerprint(&triggers[a]) != fingerprint(&triggers[b])));
                    }
                }
            }
        }
    }
}
