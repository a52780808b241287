//! Quality evaluation: recall per label on synthetic credentials embedded in
//! realistic contexts, false-positive rate on clean bait written from
//! categories of real text (digests, integrity strings, UUIDs, base64 images,
//! slugs, file names, public keys, JWT-like non-secrets) placed next to
//! credential words. Targets (issue #11): recall >= 99 %, false positives
//! <= 1 % on bait overall and in every category.

use crate::support;

use meshgate_guard::{rules, Scanner};

#[test]
fn every_rule_has_positive_samples() {
    for r in rules().iter().skip(1) {
        assert!(support::POSITIVES.iter().any(|(id, _)| *id == r.id), "rule {} has no eval samples", r.id);
    }
}

#[test]
fn recall_and_false_positive_targets() {
    let report = support::evaluate(Scanner::global(), 3);
    println!("{}", report.markdown());
    for m in &report.misses {
        println!("miss: {m}");
    }
    for fp in &report.fp_examples {
        println!("false positive: {fp}");
    }
    assert!(report.recall() >= 0.99, "recall {:.4}", report.recall());
    assert!(report.block_rate() >= 0.99, "block rate {:.4}", report.block_rate());
    assert!(report.fp_rate() <= 0.01, "fp rate {:.4}", report.fp_rate());
    for (category, (n, flagged)) in &report.bait_per_kind {
        assert!(*flagged as f64 <= 0.01 * *n as f64, "{category}: {flagged} of {n} bait documents flagged");
    }
}
