//! The integration tests of meshgate-store-sqlite, linked into ONE test binary (`autotests = false` and
//! one `[[test]]` in Cargo.toml): every tests/*.rs file is a module declared below, and the
//! shared helpers are declared once here. One binary per crate instead of one per file: a
//! fraction of the link time and disk. A new tests/*.rs file needs its `mod` line here
//! (`declared::every_test_file_is_declared` fails otherwise).
//!
//! One file's tests: `cargo test -p meshgate-store-sqlite --test it <file>::`.

#[path = "../../../tests/rust/declared.rs"]
mod declared;

mod boundary;
mod common;
mod conformance;
mod files;
mod mark;
mod names;
mod sqlite;
mod wal_bound;
