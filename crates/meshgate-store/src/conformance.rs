//! The storage conformance story: one behavioural test suite that every
//! [`Store`] backend runs, so backends cannot drift.
//!
//! Every check is a `pub async fn` taking a **fresh, empty** store as
//! `Arc<dyn Store>` and panicking on a violation. A backend runs them all
//! with one line in its tests:
//!
//! ```text
//! // tests/conformance.rs of a backend crate (with tokio's `macros` and
//! // `rt-multi-thread` features as a dev-dependency)
//! async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) { ... }
//! meshgate_store::conformance_tests!(fresh);
//! ```
//!
//! which expands to one `#[tokio::test]` per check (the second value of the
//! pair is a guard kept alive for the test's duration: a temp dir, a
//! database to drop, ...). [`run_all`] runs the same list in one test.
//!
//! Checks only use the trait, never backend internals, and always pass an
//! explicit `limit`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use meshgate_proto::Kind;
use serde_json::{Map, Value};

use crate::{parse_timestamp, MessageQuery, NewMessage, PeerRegistration, Store, TokenHash};

mod live;
pub use live::*;
mod peers;
pub use peers::*;
mod messages;
pub use messages::*;
mod threads;
pub use threads::*;
mod transfer;
pub use transfer::*;

/// A boxed check future.
pub type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One named conformance check.
#[derive(Clone, Copy)]
pub struct Check {
    /// The check's function name.
    pub name: &'static str,
    /// Runs the check on a fresh store.
    pub run: fn(Arc<dyn Store>) -> CheckFuture,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The one list of conformance checks: expands to
/// `CALLBACK!(ARGS ; name, name, ...)`, so the `CHECKS` table and the
/// generated tests cannot drift apart.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_conformance_checks {
    ([$($callback:tt)*] ($($args:tt)*)) => {
        $($callback)*!($($args)* ;
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
        thread_names_are_scoped_per_minter,
        thread_names_cannot_be_uuids,
        self_messages_are_refused,
        peers_and_aliases_share_one_namespace,
        deleted_names_with_history_are_retired,
        purge_removes_a_peers_history,
        peer_secret_guard_policies,
        pages_stop_at_the_byte_budget,
        message_heads_follow_ids,
        credential_changes_are_published,
        member_view_hides_others_activity,
        sends_recheck_that_both_ends_are_peers,
        commits_are_reported_to_the_observer,
        retention_deletes_expired_dms_and_emptied_threads,
        delivery_is_recorded_once,
        answers_link_to_questions,
        obligations_list_open_questions,
        receipts_follow_ladder_changes,
        sender_verification_is_kept,
        prior_message_answers_without_storing,
        idempotency_keys_cover_in_reply_to,
        obligations_list_overdue_first_within_the_limit,
        an_answer_implies_delivery,

        search_finds_and_ranks,
        search_is_scoped_to_the_caller,
        search_index_follows_writes,
        search_caps_its_candidates,
        obligations_carry_sender_verification,

        search_bounds_its_ranking_work,
        search_keeps_the_page_byte_budget,
        threads_peer_filter_takes_every_name_of_the_peer,
        threads_peer_filter_is_an_exact_name,
        obligations_end_when_a_party_is_deleted,
        visits_stop_when_the_sink_refuses,
        search_indexes_exactly_the_committed_writes,
        list_pages_say_when_the_budget_cut_them,
        committed_heads_follow_commits,
        pages_resolve_aliases_in_their_query,
        change_marks_move_with_every_commit,
        sends_recheck_peers_resolved_just_before,
        );
    };
}

macro_rules! checks {
    (; $($name:ident),* $(,)?) => {
        /// Every check, in a stable order.
        pub const CHECKS: &[Check] = &[$(Check {
            name: stringify!($name),
            run: |s| Box::pin($name(s)),
        }),*];
    };
}

__with_conformance_checks!([checks]());

/// A boxed check on two fresh stores.
#[derive(Clone, Copy)]
pub struct PairCheck {
    /// The check's function name.
    pub name: &'static str,
    /// Runs the check on two fresh stores (source, target).
    pub run: fn(Arc<dyn Store>, Arc<dyn Store>) -> CheckFuture,
}

impl std::fmt::Debug for PairCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

macro_rules! pair_checks {
    ($($name:ident),* $(,)?) => {
        /// Every check that needs two fresh stores of the same backend, in a
        /// stable order.
        pub const PAIR_CHECKS: &[PairCheck] = &[$(PairCheck {
            name: stringify!($name),
            run: |a, b| Box::pin($name(a, b)),
        }),*];
    };
}

pair_checks!(export_import_round_trip, receipts_survive_export_import);

mod identity;
pub use identity::*;

mod members;
pub use members::*;

mod recheck;
pub use recheck::*;

mod observer;
pub use observer::*;

mod retention;
pub use retention::*;
mod receipts;
pub use receipts::*;
mod search;
pub use search::*;

/// Generates one `#[tokio::test]` per conformance check.
///
/// `$fresh` is the path of an `async fn() -> (Arc<dyn Store>, G)` that
/// builds a fresh, empty store; `G` is kept alive until the check ends.
/// With `skippable $fresh`, the function returns an `Option` of that pair
/// and `None` skips the test (a backend whose server may be absent).
/// The calling crate needs `tokio` (features `macros`, `rt-multi-thread`)
/// as a dev-dependency.
#[macro_export]
macro_rules! conformance_tests {
    (skippable $fresh:path) => {
        $crate::__with_conformance_checks!([$crate::conformance_tests] (@each_skippable $fresh));
        $crate::conformance_tests!(@pairs_skippable $fresh;
            export_import_round_trip,
            receipts_survive_export_import,
        );
    };
    ($fresh:path) => {
        $crate::__with_conformance_checks!([$crate::conformance_tests] (@each $fresh));
        $crate::conformance_tests!(@pairs $fresh;
            export_import_round_trip,
            receipts_survive_export_import,
        );
    };
    (@each_skippable $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some((store, _guard)) = $fresh().await else { return };
                $crate::conformance::$name(store).await;
            }
        )*
    };
    (@pairs_skippable $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some((source, _source_guard)) = $fresh().await else { return };
                let Some((target, _target_guard)) = $fresh().await else { return };
                $crate::conformance::$name(source, target).await;
            }
        )*
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (store, _guard) = $fresh().await;
                $crate::conformance::$name(store).await;
            }
        )*
    };
    (@pairs $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (source, _source_guard) = $fresh().await;
                let (target, _target_guard) = $fresh().await;
                $crate::conformance::$name(source, target).await;
            }
        )*
    };
}

/// Runs every check, each on its own fresh store from `fresh`, and panics
/// with the name of the first that fails.
pub async fn run_all<F, Fut, G>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = (Arc<dyn Store>, G)>,
{
    for check in CHECKS {
        let (store, guard) = fresh().await;
        let outcome = tokio::spawn((check.run)(store)).await;
        drop(guard);
        if let Err(e) = outcome {
            panic!("conformance check {} failed: {e}", check.name);
        }
    }
    for check in PAIR_CHECKS {
        let (source, source_guard) = fresh().await;
        let (target, target_guard) = fresh().await;
        let outcome = tokio::spawn((check.run)(source, target)).await;
        drop((source_guard, target_guard));
        if let Err(e) = outcome {
            panic!("conformance check {} failed: {e}", check.name);
        }
    }
}

// ------------------------------------------------------------------ helpers

/// A registration with no url/capabilities and a token unique to `name`
/// and `salt`.
fn reg(name: &str, salt: &str) -> PeerRegistration {
    PeerRegistration {
        name: name.to_owned(),
        url: None,
        capabilities: None,
        mint: TokenHash::of(&format!("token-{name}-{salt}")),
        adopt_history: false,
    }
}

fn caps(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A plain `fyi` message, for checks and backend tests.
pub fn msg(from: &str, to: &str, content: &str) -> NewMessage {
    NewMessage {
        from_node: from.to_owned(),
        to_node: to.to_owned(),
        kind: Kind::Fyi,
        content: content.to_owned(),
        thread_id: None,
        related_task_id: None,
        idempotency_key: None,
        in_reply_to: None,
        due_at: None,
        sender_verified: false,
    }
}

fn query(limit: u32) -> MessageQuery {
    MessageQuery { limit, ..MessageQuery::default() }
}

fn ids(rows: &[meshgate_proto::Message]) -> Vec<i64> {
    rows.iter().map(|m| m.id).collect()
}

async fn send(store: &dyn Store, m: NewMessage) -> i64 {
    store.insert_message(m).await.expect("insert").message.id
}

fn is_timestamp(t: &str) -> bool {
    parse_timestamp(t).as_deref() == Some(t)
}
