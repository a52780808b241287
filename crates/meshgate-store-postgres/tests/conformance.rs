//! The shared storage conformance story, every check on a fresh PostgreSQL
//! database (from `MESHGATE_TEST_PG_URL`; each test is skipped with
//! `MESHGATE_SKIP_PG=1`).

use crate::common;

meshgate_store::conformance_tests!(skippable common::fresh);

/// The same story through `run_all`, each check on its own database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_on_postgres() {
    if common::base_url().is_none() {
        return;
    }
    meshgate_store::conformance::run_all(|| async { common::fresh().await.expect("not skipped") }).await;
}
