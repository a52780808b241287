//! Prints the per-label recall / false-positive table (markdown).
//! `cargo run -p meshgate-guard --example eval --release > bench/guard/EVAL.md`

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let seeds = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let scanner = meshgate_guard::Scanner::new();
    let report = support::evaluate(&scanner, seeds);
    println!("# meshgate-guard quality evaluation\n");
    println!(
        "Synthetic credentials generated at run time (deterministic PRNG, {seeds} seeds) for every rule, \
         embedded in {} contexts (env dump, JSON, log line, YAML, prose, markdown code block); \
         clean bait = hashes, UUIDs, base64 blobs, public keys/certificates, long identifiers, URLs \
         without passwords, prose naming key prefixes, minified JSON with hashes, paths, code.\n",
        support::CONTEXTS.len()
    );
    println!(
        "**Recall (expected label): {:.2}%** · blocked (any label): {:.2}% · **false positives on bait: {:.2}%** ({} rules, {} positive samples, {} bait documents)\n",
        100.0 * report.recall(),
        100.0 * report.block_rate(),
        100.0 * report.fp_rate(),
        meshgate_guard::rules().len(),
        report.positives(),
        report.bait_total
    );
    println!("{}", report.markdown());
    if !report.misses.is_empty() {
        println!("\n## Misses (rule id, context, rules that fired instead)\n");
        for m in &report.misses {
            println!("- {m}");
        }
    }
    if !report.fp_examples.is_empty() {
        println!("\n## False positives (bait kind, rules that fired)\n");
        for m in &report.fp_examples {
            println!("- {m}");
        }
    }
}
