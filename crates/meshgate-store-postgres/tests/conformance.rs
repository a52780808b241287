//! The shared storage conformance story, every check on a fresh PostgreSQL
//! database (from `MESHGATE_TEST_PG_URL`).
//!
//! `meshgate_store::conformance_tests!` cannot skip, so this file lists the
//! checks itself (one test each, skipped with `MESHGATE_SKIP_PG=1`);
//! `list_is_complete` fails when the story gains a check this list lacks.

mod common;

macro_rules! pg_conformance {
    ($($name:ident),* $(,)?) => {
        const LISTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some((store, _db)) = common::fresh().await else { return };
                meshgate_store::conformance::$name(store).await;
            }
        )*
    };
}

pg_conformance!(
    register_mints_once,
    register_keeps_or_replaces_url_and_capabilities,
    generations_grow_across_rotation_and_reregistration,
    peers_list_get_delete,
    enabled_flag,
    touch_peers_keeps_the_latest,
    tokens_resolve_rotate_and_revoke,
    deleted_peers_tokens_are_dead,
    aliases_put_resolve_delete,
    send_and_idempotent_resend,
    content_round_trips_exactly,
    list_filters,
    ids_strictly_increase,
    mark_read_is_idempotent_and_scoped,
    threads_mint_and_list,
    threads_by_membership,
    unknown_thread_id_registers_a_thread,
    wakeups_follow_commits,
    concurrent_writers_lose_nothing,
    schema_version_is_positive,
    import_preserves_fields,
    import_is_idempotent_and_merges,
    importing_own_export_changes_nothing,
);

macro_rules! pg_pair_conformance {
    ($($name:ident),* $(,)?) => {
        const PAIRS_LISTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some((source, _source_db)) = common::fresh().await else { return };
                let Some((target, _target_db)) = common::fresh().await else { return };
                meshgate_store::conformance::$name(source, target).await;
            }
        )*
    };
}

pg_pair_conformance!(export_import_round_trip);

#[test]
fn list_is_complete() {
    let story: Vec<&str> = meshgate_store::conformance::CHECKS.iter().map(|c| c.name).collect();
    assert_eq!(LISTED, story.as_slice(), "keep this list in step with meshgate_store::conformance::CHECKS");
    let pairs: Vec<&str> = meshgate_store::conformance::PAIR_CHECKS.iter().map(|c| c.name).collect();
    assert_eq!(PAIRS_LISTED, pairs.as_slice(), "keep this list in step with meshgate_store::conformance::PAIR_CHECKS");
}

/// The same story through `run_all`, each check on its own database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_on_postgres() {
    if common::base_url().is_none() {
        return;
    }
    meshgate_store::conformance::run_all(|| async { common::fresh().await.expect("not skipped") }).await;
}
