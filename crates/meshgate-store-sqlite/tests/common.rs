//! Helpers shared by the test files: a store on a file, a registration.

use std::path::Path;

use meshgate_store::{PeerRegistration, TokenHash};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};

/// A store on the file at `path` (another `open` of the same path stands for
/// another process: its own writer connection).
pub fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, SqliteOptions::default()).expect("open")
}

/// A plain registration of `name` with a token of its own.
pub fn reg(name: &str) -> PeerRegistration {
    PeerRegistration {
        name: name.into(),
        url: None,
        capabilities: None,
        mint: TokenHash::of(&format!("token-{name}")),
        adopt_history: false,
    }
}
