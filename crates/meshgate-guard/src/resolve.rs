//! Overlap resolution: the most specific finding wins.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::rules;
use crate::Finding;

/// Keeps a maximal set of non-overlapping candidates, preferring higher
/// specificity, then longer spans, then earlier starts, then earlier
/// candidates (a greedy pass in that order); returns them sorted by position
/// with line/column filled in.
///
/// Only candidates in one cluster of transitively overlapping spans compete,
/// so clusters are found in one sweep by start and resolved one at a time; a
/// lone candidate is kept as is.
pub(crate) fn resolve(text: &str, cands: Vec<(Range<usize>, usize)>) -> Vec<Finding> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

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
