//! The shared storage conformance story, run on a fresh SQLite file per check.

use std::sync::Arc;

use meshgate_store::Store;
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};

async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("mesh.db"), SqliteOptions::default()).expect("open sqlite store");
    (Arc::new(store), dir)
}

meshgate_store::conformance_tests!(fresh);

/// The same story through `run_all`, the form for harnesses that cannot
/// use the macro.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_on_sqlite() {
    meshgate_store::conformance::run_all(fresh).await;
}
