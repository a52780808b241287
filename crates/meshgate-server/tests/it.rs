//! The integration tests of meshgate-server, linked into ONE test binary (`autotests = false` and
//! one `[[test]]` in Cargo.toml): every tests/*.rs file is a module declared below, and the
//! shared helpers are declared once here. One binary per crate instead of one per file: a
//! fraction of the link time and disk. A new tests/*.rs file needs its `mod` line here
//! (`declared::every_test_file_is_declared` fails otherwise).
//!
//! One file's tests: `cargo test -p meshgate-server --test it <file>::`.

#[path = "common/console_browser.rs"]
mod browser;
mod common;

#[path = "../../../tests/rust/declared.rs"]
mod declared;

mod alias_reads;
mod api;
mod bodies;
mod connections;
mod console;
mod console_actions;
mod console_hostile;
mod console_pages;
mod credentials;
mod error_details;
mod foreign_text;
mod hyper_errors;
mod identity;
mod live;
mod live_bounds;
mod metrics;
mod names_follow;
mod nul;
mod page_cache;
mod privacy;
mod receipts;
mod receipts_hostile;
mod reconnect;
mod records;
mod retention;
mod search;
mod send_body;
mod traffic;
