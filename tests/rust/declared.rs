//! The guard of the one-binary layout, included by every crate's `tests/it.rs`: with
//! `autotests = false`, Cargo builds only `tests/it.rs`, so a `tests/*.rs` file it does not
//! declare would never compile nor run, and a suite missing from the run looks green.

use std::collections::BTreeSet;
use std::path::Path;

/// The files of `tests` that its `it.rs` does not declare as `mod <file_stem>;`, and how
/// many `tests/*.rs` files there are besides `it.rs`.
fn undeclared(tests: &Path) -> (Vec<String>, usize) {
    let it = std::fs::read_to_string(tests.join("it.rs")).expect("read tests/it.rs");
    let declared: BTreeSet<&str> =
        it.lines().filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';')).map(str::trim).collect();
    let (mut missing, mut files) = (Vec::new(), 0);
    for entry in std::fs::read_dir(tests).expect("read tests/") {
        let path = entry.expect("a tests/ entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if path.is_dir() {
            // Cargo's layout of a multi-file test target; our directories are helper modules.
            if path.join("main.rs").exists() {
                missing.push(format!("tests/{name}/main.rs: a test target; make it `mod {name};` in tests/it.rs"));
            }
            continue;
        }
        let Some(stem) = name.strip_suffix(".rs") else { continue };
        if stem != "it" {
            files += 1;
            if !declared.contains(stem) {
                missing.push(format!("tests/{name}: add `mod {stem};` to tests/it.rs"));
            }
        }
    }
    missing.sort();
    (missing, files)
}

/// Fails when a `tests/*.rs` file (or a `tests/<dir>/main.rs` test target) of the crate
/// under test is not declared in its `tests/it.rs`.
#[test]
fn every_test_file_is_declared() {
    // The check itself, on a scratch layout: one declared file, one not, one commented out.
    let scratch =
        std::env::temp_dir().join(format!("meshgate-declared-{}-{}", env!("CARGO_PKG_NAME"), std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(scratch.join("helpers")).unwrap();
    std::fs::write(scratch.join("it.rs"), "mod helpers;\nmod kept;\n// mod dropped;\n").unwrap();
    for file in ["kept.rs", "dropped.rs", "helpers/mod.rs"] {
        std::fs::write(scratch.join(file), "").unwrap();
    }
    let planted = undeclared(&scratch);
    std::fs::remove_dir_all(&scratch).unwrap();
    assert_eq!(planted, (vec!["tests/dropped.rs: add `mod dropped;` to tests/it.rs".to_owned()], 2));

    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let (missing, files) = undeclared(&tests);
    assert!(files > 0, "no test files found next to {}", tests.join("it.rs").display());
    assert!(missing.is_empty(), "test files that would never run:\n{}", missing.join("\n"));
}
