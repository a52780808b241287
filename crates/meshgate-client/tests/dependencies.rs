//! The client stays a client: its normal dependency tree (`cargo tree -p
//! meshgate-client -e normal`) holds no database driver, no HTTP server
//! framework and no meshgate server-side crate, and its size stays within
//! the budget README states (raise the budget there and here with a reason).

use std::collections::BTreeSet;
use std::process::Command;

/// Crates a library user must never pull in through the client.
const FORBIDDEN: &[&str] = &[
    "rusqlite",
    "libsqlite3-sys",
    "tokio-postgres",
    "postgres-protocol",
    "deadpool-postgres",
    "sqlx",
    "axum",
    "axum-core",
    "rmcp",
    "meshgate-server",
    "meshgate-store",
    "meshgate-store-sqlite",
    "meshgate-store-postgres",
    "meshgate-mcp",
];

/// Distinct crates (this one included) the client may depend on; README
/// "Crate map" gives the measured number.
const BUDGET: usize = 110;

#[test]
fn the_client_pulls_in_no_driver_or_server_and_stays_small() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "-p", "meshgate-client", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(output.status.success(), "cargo tree: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let crates: BTreeSet<&str> = text.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains("reqwest"), "the tree was read: {crates:?}");
    let bad: Vec<&&str> = FORBIDDEN.iter().filter(|c| crates.contains(**c)).collect();
    assert!(bad.is_empty(), "the client depends on {bad:?}");
    assert!(crates.len() <= BUDGET, "{} crates > budget {BUDGET}: {crates:?}", crates.len());
}
