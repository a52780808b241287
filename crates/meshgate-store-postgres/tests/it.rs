//! The integration tests of meshgate-store-postgres, linked into ONE test binary (`autotests = false` and
//! one `[[test]]` in Cargo.toml): every tests/*.rs file is a module declared below, and the
//! shared helpers are declared once here. One binary per crate instead of one per file: a
//! fraction of the link time and disk. A new tests/*.rs file needs its `mod` line here
//! (`declared::every_test_file_is_declared` fails otherwise).
//!
//! One file's tests: `cargo test -p meshgate-store-postgres --test it <file>::`.

mod common;

#[path = "../../../tests/rust/declared.rs"]
mod declared;

mod boundary;
mod conformance;
mod e2e_replicas;
mod e2e_revocation;
mod faults;
mod gateway_outage;
mod notices;
mod replicas;
