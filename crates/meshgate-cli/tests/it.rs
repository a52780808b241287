//! The integration tests of meshgate-cli, linked into ONE test binary (`autotests = false` and
//! one `[[test]]` in Cargo.toml): every tests/*.rs file is a module declared below, and the
//! shared helpers are declared once here. One binary per crate instead of one per file: a
//! fraction of the link time and disk. A new tests/*.rs file needs its `mod` line here
//! (`declared::every_test_file_is_declared` fails otherwise).
//!
//! One file's tests: `cargo test -p meshgate-cli --test it <file>::`.

#[macro_use]
mod common;
mod hooks_common;
mod serve_proc;
#[path = "../../meshgate-client/tests/tls_fixture/mod.rs"]
mod tls_fixture;
/// The scenarios every gateway runs (meshgate and the Python reference), one module
/// per client: a file picks one (`use crate::scenarios::cli as scenarios;`) and
/// `against_meshgate!`/`against_reference!` call its functions.
mod scenarios {
    pub mod cli;
    pub mod client;
}

#[path = "../../../tests/rust/declared.rs"]
mod declared;

mod backup;
mod closed_pipes;
mod durability;
mod exit_codes;
mod fsync_before_ack;
mod gc_cli;
mod hooks;
mod hooks_env;
mod hooks_install;
mod import_export;
mod json_logs;
mod loops_cli;
mod mcp_stdio;
mod meshgate_cli;
mod meshgate_client;
mod operator_cli;
mod private_files;
mod receipts_cli;
mod reference_cli;
mod reference_client;
mod refused_before_post;
mod scan_meshgate_tokens;
mod search_cli;
mod serve_newcomer;
mod shutdown;
mod swarph_forks;
mod tls_cli;
mod token_cli;
