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

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use meshgate_proto::Kind;
use serde_json::{json, Map, Value};

use crate::{
    parse_timestamp, skip, ImportCounts, ImportRecord, ImportStats, MessageQuery, MessageRecord, NewMessage, Order,
    PeerRegistration, RecordKind, Refusal, Store, StoreError, ThreadQuery, TokenHash, TokenRecord,
};
use meshgate_proto::{Alias, Message, MessageList, Peer, Thread};

mod live;
pub use live::*;

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

pair_checks!(export_import_round_trip);

mod identity;
pub use identity::*;

mod members;
pub use members::*;

mod recheck;
pub use recheck::*;

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
        );
    };
    ($fresh:path) => {
        $crate::__with_conformance_checks!([$crate::conformance_tests] (@each $fresh));
        $crate::conformance_tests!(@pairs $fresh;
            export_import_round_trip,
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

// ------------------------------------------------------------------ peers

/// First registration mints the token; re-registration keeps it.
pub async fn register_mints_once(store: Arc<dyn Store>) {
    let first = store.register_peer(reg("alpha", "1")).await.unwrap();
    assert!(first.minted);
    assert_eq!(first.generation, 1);
    assert_eq!(first.peer.name, "alpha");
    assert!(first.peer.enabled);
    assert_eq!(first.peer.url, None);
    assert!(first.peer.capabilities.is_empty());
    let registered_at = first.peer.registered_at.clone().expect("registered_at");
    assert!(is_timestamp(&registered_at), "{registered_at}");
    assert!(first.peer.last_seen.is_some());

    let again = store.register_peer(reg("alpha", "2")).await.unwrap();
    assert!(!again.minted, "a live token must not be replaced");
    assert_eq!(again.generation, 1);
    assert_eq!(again.peer.registered_at.as_deref(), Some(registered_at.as_str()));

    // The first token still works, the second never became one.
    let owner = store.token_owner(&TokenHash::of("token-alpha-1")).await.unwrap();
    assert_eq!(owner.map(|o| o.generation), Some(1));
    assert_eq!(store.token_owner(&TokenHash::of("token-alpha-2")).await.unwrap(), None);
}

/// `None` keeps the stored url/capabilities, `Some` replaces them.
pub async fn register_keeps_or_replaces_url_and_capabilities(store: Arc<dyn Store>) {
    let mut r = reg("beta", "1");
    r.url = Some("http://beta:1".into());
    r.capabilities = Some(caps(json!({"runtime": "claude", "n": 1})));
    let p = store.register_peer(r).await.unwrap().peer;
    assert_eq!(p.url.as_deref(), Some("http://beta:1"));
    assert_eq!(p.capabilities["runtime"], "claude");

    let p = store.register_peer(reg("beta", "2")).await.unwrap().peer;
    assert_eq!(p.url.as_deref(), Some("http://beta:1"), "url kept when None");
    assert_eq!(p.capabilities["n"], 1, "capabilities kept when None");

    let mut r = reg("beta", "3");
    r.url = Some("http://beta:2".into());
    r.capabilities = Some(caps(json!({"other": true})));
    let p = store.register_peer(r).await.unwrap().peer;
    assert_eq!(p.url.as_deref(), Some("http://beta:2"));
    assert_eq!(p.capabilities, caps(json!({"other": true})), "replaced wholesale");
    assert_eq!(store.peer("beta").await.unwrap(), Some(p));
}

/// Generations are never reused: rotation and delete+re-register both
/// move past every earlier generation.
pub async fn generations_grow_across_rotation_and_reregistration(store: Arc<dyn Store>) {
    assert_eq!(store.register_peer(reg("gamma", "1")).await.unwrap().generation, 1);
    assert_eq!(store.rotate_token("gamma", TokenHash::of("gamma-r2")).await.unwrap(), 2);
    assert_eq!(store.rotate_token("gamma", TokenHash::of("gamma-r3")).await.unwrap(), 3);
    store.delete_peer("gamma").await.unwrap();
    let again = store.register_peer(reg("gamma", "4")).await.unwrap();
    assert!(again.minted);
    assert_eq!(again.generation, 4);
    // A revocation lets the next registration mint, one generation up.
    store.revoke_tokens("gamma").await.unwrap();
    let after = store.register_peer(reg("gamma", "5")).await.unwrap();
    assert!(after.minted);
    assert_eq!(after.generation, 5);
    assert!(matches!(store.rotate_token("nobody", TokenHash::of("x")).await, Err(StoreError::NotFound(_))));
}

/// Listing is ordered by name; delete removes the peer but not its messages.
pub async fn peers_list_get_delete(store: Arc<dyn Store>) {
    for n in ["delta", "alpha", "charlie"] {
        store.register_peer(reg(n, "1")).await.unwrap();
    }
    let names: Vec<String> = store.list_peers().await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["alpha", "charlie", "delta"]);
    assert!(store.peer("charlie").await.unwrap().is_some());
    assert!(store.peer("zulu").await.unwrap().is_none());

    let id = send(&*store, msg("charlie", "alpha", "before delete")).await;
    store.delete_peer("charlie").await.unwrap();
    assert!(store.peer("charlie").await.unwrap().is_none());
    assert_eq!(store.list_peers().await.unwrap().len(), 2);
    assert!(matches!(store.delete_peer("charlie").await, Err(StoreError::NotFound(_))));
    let kept = store.message(id).await.unwrap().expect("messages outlive peers");
    assert_eq!(kept.from_node, "charlie");
}

/// `set_peer_enabled` flips the flag and shows in every view of the peer.
pub async fn enabled_flag(store: Arc<dyn Store>) {
    store.register_peer(reg("echo", "1")).await.unwrap();
    let p = store.set_peer_enabled("echo", false).await.unwrap();
    assert!(!p.enabled);
    assert!(!store.peer("echo").await.unwrap().unwrap().enabled);
    let owner = store.token_owner(&TokenHash::of("token-echo-1")).await.unwrap().unwrap();
    assert!(!owner.enabled);
    assert!(!store.resolve_name("echo").await.unwrap().unwrap().enabled);
    // Re-registration does not re-enable.
    assert!(!store.register_peer(reg("echo", "2")).await.unwrap().peer.enabled);
    assert!(store.set_peer_enabled("echo", true).await.unwrap().enabled);
    assert!(matches!(store.set_peer_enabled("nobody", true).await, Err(StoreError::NotFound(_))));
}

/// `touch_peers` never moves `last_seen` backwards and ignores unknown peers.
pub async fn touch_peers_keeps_the_latest(store: Arc<dyn Store>) {
    store.register_peer(reg("fox", "1")).await.unwrap();
    store.register_peer(reg("golf", "1")).await.unwrap();
    let late = "2999-01-01T00:00:00.000000+00:00".to_owned();
    let early = "2000-01-01T00:00:00.000000+00:00".to_owned();
    store
        .touch_peers(vec![
            ("fox".into(), late.clone()),
            ("golf".into(), early.clone()),
            ("nobody".into(), late.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(store.peer("fox").await.unwrap().unwrap().last_seen.as_deref(), Some(late.as_str()));
    let golf = store.peer("golf").await.unwrap().unwrap().last_seen.unwrap();
    assert!(golf > early, "an older timestamp must not win: {golf}");
    store.touch_peers(vec![("fox".into(), early)]).await.unwrap();
    assert_eq!(store.peer("fox").await.unwrap().unwrap().last_seen.as_deref(), Some(late.as_str()));
    store.touch_peers(Vec::new()).await.unwrap();
}

/// Token lookup, rotation (old token dies) and revocation.
pub async fn tokens_resolve_rotate_and_revoke(store: Arc<dyn Store>) {
    store.register_peer(reg("hotel", "1")).await.unwrap();
    let t1 = TokenHash::of("token-hotel-1");
    let owner = store.token_owner(&t1).await.unwrap().expect("live token");
    assert_eq!(owner, crate::TokenOwner { peer: "hotel".into(), generation: 1, enabled: true });
    assert_eq!(store.token_owner(&TokenHash::of("unknown")).await.unwrap(), None);

    let t2 = TokenHash::of("hotel-rotated");
    assert_eq!(store.rotate_token("hotel", t2).await.unwrap(), 2);
    assert_eq!(store.token_owner(&t1).await.unwrap(), None, "rotation kills the old token");
    assert_eq!(store.token_owner(&t2).await.unwrap().unwrap().generation, 2);

    store.revoke_tokens("hotel").await.unwrap();
    assert_eq!(store.token_owner(&t2).await.unwrap(), None);
    // Revoking again is harmless.
    store.revoke_tokens("hotel").await.unwrap();
    // A re-registration after revocation mints again.
    let r = store.register_peer(reg("hotel", "3")).await.unwrap();
    assert!(r.minted);
    assert_eq!(r.generation, 3);
    assert!(store.token_owner(&TokenHash::of("token-hotel-3")).await.unwrap().is_some());
}

/// A deleted peer's token never authenticates again, even after the name
/// is registered anew.
pub async fn deleted_peers_tokens_are_dead(store: Arc<dyn Store>) {
    store.register_peer(reg("india", "1")).await.unwrap();
    let old = TokenHash::of("token-india-1");
    store.delete_peer("india").await.unwrap();
    assert_eq!(store.token_owner(&old).await.unwrap(), None);
    let r = store.register_peer(reg("india", "2")).await.unwrap();
    assert!(r.minted);
    assert_eq!(store.token_owner(&old).await.unwrap(), None);
    assert_eq!(store.token_owner(&TokenHash::of("token-india-2")).await.unwrap().unwrap().generation, r.generation);
}

/// Aliases: creation rules, resolution, repointing, deletion.
pub async fn aliases_put_resolve_delete(store: Arc<dyn Store>) {
    store.register_peer(reg("juliet", "1")).await.unwrap();
    store.register_peer(reg("kilo", "1")).await.unwrap();

    let a = store.put_alias("jul", "juliet").await.unwrap();
    assert_eq!((a.alias.as_str(), a.canonical.as_str()), ("jul", "juliet"));
    assert!(matches!(store.put_alias("kilo", "juliet").await, Err(StoreError::Refused(Refusal::NameTaken, _))));
    assert!(matches!(store.put_alias("x1", "nobody").await, Err(StoreError::NotFound(_))));

    let direct = store.resolve_name("juliet").await.unwrap().unwrap();
    assert_eq!(direct, crate::Resolved { canonical: "juliet".into(), via_alias: false, enabled: true });
    let via = store.resolve_name("jul").await.unwrap().unwrap();
    assert_eq!(via, crate::Resolved { canonical: "juliet".into(), via_alias: true, enabled: true });
    assert_eq!(store.resolve_name("nobody").await.unwrap(), None);

    // Repoint.
    store.put_alias("jul", "kilo").await.unwrap();
    assert_eq!(store.resolve_name("jul").await.unwrap().unwrap().canonical, "kilo");
    store.put_alias("aaa", "kilo").await.unwrap();
    let listed: Vec<(String, String)> =
        store.aliases().await.unwrap().into_iter().map(|a| (a.alias, a.canonical)).collect();
    assert_eq!(listed, [("aaa".into(), "kilo".into()), ("jul".into(), "kilo".into())]);

    store.put_alias("jj", "juliet").await.unwrap();
    store.delete_alias("jj").await.unwrap();
    assert!(matches!(store.delete_alias("jj").await, Err(StoreError::NotFound(_))));

    // Deleting a peer deletes its aliases: they never come back to life.
    store.delete_peer("kilo").await.unwrap();
    assert_eq!(store.resolve_name("aaa").await.unwrap(), None);
    assert!(store.aliases().await.unwrap().is_empty());
    store.register_peer(reg("kilo", "2")).await.unwrap();
    assert_eq!(store.resolve_name("jul").await.unwrap(), None, "a re-registered kilo gets no old alias");
}

// ------------------------------------------------------------------ messages

/// Sending stores every field; a resend with the same key and body returns
/// the original, a different body is a conflict, keys are per sender.
pub async fn send_and_idempotent_resend(store: Arc<dyn Store>) {
    let mut m = msg("lima", "mike", "hello");
    m.kind = Kind::Question;
    m.related_task_id = Some("task-7".into());
    m.idempotency_key = Some("k1".into());
    let first = store.insert_message(m.clone()).await.unwrap();
    assert!(!first.duplicate);
    let stored = first.message.clone();
    assert!(stored.id > 0);
    assert_eq!(stored.from_node, "lima");
    assert_eq!(stored.to_node, "mike");
    assert_eq!(stored.kind, Kind::Question);
    assert_eq!(stored.content, "hello");
    assert_eq!(stored.related_task_id.as_deref(), Some("task-7"));
    assert_eq!(stored.read_at, None);
    assert!(is_timestamp(&stored.created_at), "{}", stored.created_at);
    assert_eq!(store.message(stored.id).await.unwrap(), Some(stored.clone()));

    let again = store.insert_message(m.clone()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.message, stored);

    let mut changed = m.clone();
    changed.content = "hello!".into();
    assert!(matches!(store.insert_message(changed).await, Err(StoreError::Conflict(_))));
    let mut retargeted = m.clone();
    retargeted.to_node = "november".into();
    assert!(matches!(store.insert_message(retargeted).await, Err(StoreError::Conflict(_))));

    // The same key from another sender is a different message.
    let mut other = m.clone();
    other.from_node = "oscar".into();
    let other = store.insert_message(other).await.unwrap();
    assert!(!other.duplicate);
    assert_ne!(other.message.id, stored.id);

    // Without a key, identical sends are distinct messages.
    let a = send(&*store, msg("lima", "mike", "same")).await;
    let b = send(&*store, msg("lima", "mike", "same")).await;
    assert_ne!(a, b);
    assert_eq!(store.list_messages(&query(100)).await.unwrap().len(), 4);
    assert_eq!(store.message(999_999).await.unwrap(), None);
}

/// Every filter of [`MessageQuery`], alone and combined, with limits and
/// both orders.
pub async fn list_filters(store: Arc<dyn Store>) {
    let thread = "7f1c1f7e-0000-4000-8000-000000000001".to_owned();
    let a1 = send(&*store, msg("pa", "pb", "1")).await;
    let a2 = send(&*store, msg("pb", "pa", "2")).await;
    let mut q = msg("pa", "pc", "3");
    q.kind = Kind::Question;
    q.thread_id = Some(thread.clone());
    let a3 = send(&*store, q).await;
    let a4 = send(&*store, msg("pc", "pb", "4")).await;
    let mut t = msg("pb", "pa", "5");
    t.thread_id = Some(thread.clone());
    t.kind = Kind::Answer;
    let a5 = send(&*store, t).await;

    let run = |q: MessageQuery| {
        let store = Arc::clone(&store);
        async move {
            let rows = store.list_messages(&q).await.unwrap();
            let json = store.list_messages_json(&q).await.unwrap();
            let expected = serde_json::to_vec(&MessageList { n: rows.len(), messages: rows.clone() }).unwrap();
            assert_eq!(json.n, rows.len(), "{q:?}");
            assert_eq!(String::from_utf8(json.body).unwrap(), String::from_utf8(expected).unwrap(), "{q:?}");
            ids(&rows)
        }
    };

    assert_eq!(run(query(100)).await, [a5, a4, a3, a2, a1], "newest first by default");
    assert_eq!(run(MessageQuery { order: Order::OldestFirst, ..query(100) }).await, [a1, a2, a3, a4, a5]);
    assert_eq!(run(query(2)).await, [a5, a4]);
    assert_eq!(run(MessageQuery { order: Order::OldestFirst, ..query(2) }).await, [a1, a2]);
    assert_eq!(run(MessageQuery { to: Some("pa".into()), ..query(100) }).await, [a5, a2]);
    assert_eq!(run(MessageQuery { from: Some("pa".into()), ..query(100) }).await, [a3, a1]);
    assert_eq!(run(MessageQuery { involving: Some("pc".into()), ..query(100) }).await, [a4, a3]);
    assert_eq!(run(MessageQuery { involving: Some("pa".into()), ..query(100) }).await, [a5, a3, a2, a1]);
    assert_eq!(run(MessageQuery { involving: Some("pa".into()), ..query(2) }).await, [a5, a3]);
    assert_eq!(
        run(MessageQuery { involving: Some("pa".into()), order: Order::OldestFirst, ..query(3) }).await,
        [a1, a2, a3]
    );
    assert_eq!(run(MessageQuery { involving: Some("pa".into()), to: Some("pb".into()), ..query(100) }).await, [a1]);
    assert_eq!(
        run(MessageQuery { involving: Some("pc".into()), to: Some("pa".into()), ..query(100) }).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        run(MessageQuery { thread_id: Some(thread.clone()), order: Order::OldestFirst, ..query(100) }).await,
        [a3, a5]
    );
    assert_eq!(run(MessageQuery { kind: Some(Kind::Question), ..query(100) }).await, [a3]);
    assert_eq!(run(MessageQuery { kind: Some(Kind::Answer), to: Some("pa".into()), ..query(100) }).await, [a5]);
    assert_eq!(run(MessageQuery { after_id: Some(a2), order: Order::OldestFirst, ..query(100) }).await, [a3, a4, a5]);
    assert_eq!(run(MessageQuery { after_id: Some(a2), order: Order::OldestFirst, ..query(1) }).await, [a3]);
    assert_eq!(run(MessageQuery { after_id: Some(a2), involving: Some("pa".into()), ..query(100) }).await, [a5, a3]);

    // since: strictly after a stored created_at.
    let m2 = store.message(a2).await.unwrap().unwrap();
    let since = run(MessageQuery { since: Some(m2.created_at.clone()), ..query(100) }).await;
    assert!(!since.contains(&a1) && !since.contains(&a2), "{since:?}");
    assert!(since.contains(&a5));
    let all = run(MessageQuery { since: Some("2000-01-01T00:00:00.000000+00:00".into()), ..query(100) }).await;
    assert_eq!(all.len(), 5);
    let none = run(MessageQuery { since: Some("2999-01-01T00:00:00.000000+00:00".into()), ..query(100) }).await;
    assert!(none.is_empty());

    // unread_only.
    store.mark_read(&[a2], None).await.unwrap();
    assert_eq!(run(MessageQuery { to: Some("pa".into()), unread_only: true, ..query(100) }).await, [a5]);
    assert_eq!(run(MessageQuery { unread_only: true, ..query(100) }).await, [a5, a4, a3, a1]);
}

/// Ids grow strictly, and `created_at` never decreases with them.
pub async fn ids_strictly_increase(store: Arc<dyn Store>) {
    let mut prev_id = 0;
    let mut prev_at = String::new();
    for i in 0..20 {
        let m = store.insert_message(msg("qa", "qb", &format!("m{i}"))).await.unwrap().message;
        assert!(m.id > prev_id, "{} after {prev_id}", m.id);
        assert!(m.created_at >= prev_at, "{} after {prev_at}", m.created_at);
        prev_id = m.id;
        prev_at = m.created_at;
    }
}

/// Marking read keeps the first `read_at`, skips missing ids and honours the
/// recipient restriction.
pub async fn mark_read_is_idempotent_and_scoped(store: Arc<dyn Store>) {
    let a = send(&*store, msg("ra", "rb", "1")).await;
    let b = send(&*store, msg("ra", "rb", "2")).await;
    let c = send(&*store, msg("rb", "ra", "3")).await;

    let marked = store.mark_read(&[a, 999_999], Some("rb")).await.unwrap();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].id, a);
    let first = marked[0].read_at.clone();
    assert!(is_timestamp(&first), "{first}");
    assert_eq!(store.message(a).await.unwrap().unwrap().read_at.as_deref(), Some(first.as_str()));

    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = store.mark_read(&[a, b], Some("rb")).await.unwrap();
    let again: Vec<(i64, String)> = again.into_iter().map(|m| (m.id, m.read_at)).collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0], (a, first.clone()), "first read_at kept");
    assert_eq!(again[1].0, b);

    // Not the recipient: not marked, not returned.
    assert!(store.mark_read(&[c], Some("rb")).await.unwrap().is_empty());
    assert_eq!(store.message(c).await.unwrap().unwrap().read_at, None);
    // Without a recipient restriction (operator): marked.
    let op = store.mark_read(&[c], None).await.unwrap();
    assert_eq!(op.len(), 1);
    assert!(store.mark_read(&[], None).await.unwrap().is_empty());
}

// ------------------------------------------------------------------ threads

/// Minting is idempotent by name; listing filters and orders by use.
pub async fn threads_mint_and_list(store: Arc<dyn Store>) {
    let t = store.mint_thread("lab\u{2194}gpu:phase-7", Some("s1")).await.unwrap();
    assert_eq!(t.created, Some(true));
    assert_eq!(t.peer_pair, "lab\u{2194}gpu");
    assert_eq!(t.topic, "phase-7");
    assert_eq!(t.session_id.as_deref(), Some("s1"));
    assert_eq!(t.thread_uuid.len(), 36, "a UUID: {}", t.thread_uuid);
    assert!(is_timestamp(&t.created_at));

    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = store.mint_thread("lab\u{2194}gpu:phase-7", None).await.unwrap();
    assert_eq!(again.created, Some(false));
    assert_eq!(again.thread_uuid, t.thread_uuid);
    assert_eq!(again.session_id.as_deref(), Some("s1"), "kept when not given");
    assert_eq!(again.created_at, t.created_at);
    assert!(again.last_used_at >= t.last_used_at);
    let moved = store.mint_thread("lab\u{2194}gpu:phase-7", Some("s2")).await.unwrap();
    assert_eq!(moved.session_id.as_deref(), Some("s2"));

    let plain = store.mint_thread("no-colon", None).await.unwrap();
    assert_eq!((plain.peer_pair.as_str(), plain.topic.as_str()), ("no-colon", ""));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let other = store.mint_thread("ops\u{2194}lab:deploy", Some("s3")).await.unwrap();

    let got = store.thread(&t.thread_uuid).await.unwrap().unwrap();
    assert_eq!(got.thread_name, "lab\u{2194}gpu:phase-7");
    assert_eq!(store.thread("00000000-0000-4000-8000-000000000000").await.unwrap(), None);

    let list = |q: ThreadQuery| {
        let store = Arc::clone(&store);
        async move { store.threads(&q).await.unwrap().into_iter().map(|t| t.thread_uuid).collect::<Vec<_>>() }
    };
    let all = list(ThreadQuery { limit: 50, ..Default::default() }).await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], other.thread_uuid, "most recently used first");
    assert_eq!(list(ThreadQuery { limit: 1, ..Default::default() }).await, vec![other.thread_uuid.clone()]);
    let lab = list(ThreadQuery { peer: Some("lab".into()), limit: 50, ..Default::default() }).await;
    assert_eq!(lab, [other.thread_uuid.clone(), t.thread_uuid.clone()]);
    assert_eq!(
        list(ThreadQuery { topic: Some("phase".into()), limit: 50, ..Default::default() }).await,
        vec![t.thread_uuid.clone()]
    );
    assert_eq!(
        list(ThreadQuery { session_id: Some("s3".into()), limit: 50, ..Default::default() }).await,
        vec![other.thread_uuid.clone()]
    );
    assert!(list(ThreadQuery { session_id: Some("s".into()), limit: 50, ..Default::default() }).await.is_empty());
}

/// Bodies come back byte for byte: NUL and other control characters,
/// every Unicode plane, and 200,000 characters.
pub async fn content_round_trips_exactly(store: Arc<dyn Store>) {
    let bodies = [
        "nul \u{0} inside".to_owned(),
        "\u{0}".to_owned(),
        "tab\tcr\rlf\nbell\u{7} é 😀 \u{10FFFF}".to_owned(),
        "😀".repeat(200_000),
    ];
    for body in bodies {
        let id = send(&*store, msg("ra", "rb", &body)).await;
        let got = store.message(id).await.unwrap().expect("stored");
        assert_eq!(got.content, body, "message {id}");
    }
}

/// `member` finds exactly the threads a peer takes part in: minted by it,
/// or with a DM it sent or received. Being named in a thread's name gives
/// nothing, and neither does a name that merely contains the member's.
pub async fn threads_by_membership(store: Arc<dyn Store>) {
    let named = store.mint_thread_as("ann\u{2194}bob:plans", None, Some("ann")).await.unwrap();
    let longer = store.mint_thread_as("ann-2\u{2194}cat:other", None, Some("ann-2")).await.unwrap();
    let foreign = store.mint_thread("tooling:release", None).await.unwrap();
    let mut m = msg("cat", "ann", "in a foreign-named thread");
    m.thread_id = Some(foreign.thread_uuid.clone());
    send(&*store, m).await;
    let member = |name: &str| {
        let store = Arc::clone(&store);
        let q = ThreadQuery { member: Some(name.into()), limit: 50, ..Default::default() };
        async move {
            let mut ids: Vec<String> = store.threads(&q).await.unwrap().into_iter().map(|t| t.thread_uuid).collect();
            ids.sort();
            ids
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(member("ann").await, sorted(vec![named.thread_uuid.clone(), foreign.thread_uuid.clone()]));
    assert!(member("bob").await.is_empty(), "named in the pair, no DM: not a member");
    assert_eq!(member("cat").await, vec![foreign.thread_uuid.clone()]);
    assert_eq!(member("ann-2").await, vec![longer.thread_uuid.clone()]);
    assert!(member("an").await.is_empty(), "substrings are not members");
}

/// A message carrying an unknown thread UUID registers that thread, and
/// messages bump a known thread's `last_used_at`.
pub async fn unknown_thread_id_registers_a_thread(store: Arc<dyn Store>) {
    let uuid = "5b0c4a1e-1111-4222-8333-444455556666";
    let mut m = msg("sa", "sb", "first in thread");
    m.thread_id = Some(uuid.into());
    let id = send(&*store, m.clone()).await;
    let t = store.thread(uuid).await.unwrap().expect("implicit thread");
    assert_eq!(t.thread_name, uuid);
    assert_eq!(t.peer_pair, "sa\u{2194}sb");
    assert_eq!(t.topic, "");
    let used = t.last_used_at.clone().expect("last_used_at");

    tokio::time::sleep(Duration::from_millis(5)).await;
    m.content = "second".into();
    let id2 = send(&*store, m).await;
    let t2 = store.thread(uuid).await.unwrap().unwrap();
    assert!(t2.last_used_at.unwrap() > used, "a message bumps last_used_at");
    assert_eq!(t2.created_at, t.created_at);
    let rows = store
        .list_messages(&MessageQuery { thread_id: Some(uuid.into()), order: Order::OldestFirst, ..query(10) })
        .await
        .unwrap();
    assert_eq!(ids(&rows), [id, id2]);

    // A minted thread's uuid used in a message: still one thread.
    let minted = store.mint_thread("sa\u{2194}sb:topic", None).await.unwrap();
    let mut m = msg("sa", "sb", "in minted");
    m.thread_id = Some(minted.thread_uuid.clone());
    send(&*store, m).await;
    let listed = store.threads(&ThreadQuery { limit: 50, ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].thread_name, "sa\u{2194}sb:topic");
}

/// `subscribe` sees the highest committed message id after each insert.
pub async fn wakeups_follow_commits(store: Arc<dyn Store>) {
    let mut rx = store.subscribe();
    assert_eq!(*rx.borrow_and_update(), 0, "a fresh store has no messages");
    let id = send(&*store, msg("ta", "tb", "wake")).await;
    tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.expect("woken within 5 s").expect("sender alive");
    assert_eq!(*rx.borrow_and_update(), id);

    // A waiter parked before the commit is woken by it.
    let waiter = {
        let mut rx = store.subscribe();
        tokio::spawn(async move {
            rx.borrow_and_update();
            tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.expect("woken").expect("sender alive");
            let v = *rx.borrow();
            v
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let id2 = send(&*store, msg("ta", "tb", "wake 2")).await;
    assert!(waiter.await.unwrap() >= id2);
    assert_eq!(*store.subscribe().borrow(), id2);

    // Writes that add no message do not have to wake anyone, but must not
    // lower the value.
    store.register_peer(reg("tango", "1")).await.unwrap();
    assert_eq!(*store.subscribe().borrow(), id2);
}

/// 32 tasks x 50 concurrent inserts: every id distinct, none lost, and the
/// published max id is the highest.
pub async fn concurrent_writers_lose_nothing(store: Arc<dyn Store>) {
    const TASKS: usize = 32;
    const EACH: usize = 50;
    let mut handles = Vec::with_capacity(TASKS);
    for t in 0..TASKS {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let mut m = msg(&format!("w{t}"), "sink", &format!("{t}/{i}"));
                // Every other message carries a key, to exercise that path too.
                if i % 2 == 0 {
                    m.idempotency_key = Some(format!("k{i}"));
                }
                ids.push(store.insert_message(m).await.expect("insert").message.id);
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    for h in handles {
        for id in h.await.unwrap() {
            assert!(all.insert(id), "id {id} handed out twice");
        }
    }
    assert_eq!(all.len(), TASKS * EACH);
    let stored = store.list_messages(&query(10_000)).await.unwrap();
    assert_eq!(stored.len(), TASKS * EACH, "none lost");
    let max = *all.iter().max().unwrap();
    assert_eq!(stored[0].id, max);
    assert_eq!(max, (TASKS * EACH) as i64, "ids are dense on a fresh store");
    assert_eq!(*store.subscribe().borrow(), max);
}

/// A migrated store reports a positive schema version.
pub async fn schema_version_is_positive(store: Arc<dyn Store>) {
    assert!(store.schema_version().await.unwrap() >= 1);
}

// ------------------------------------------------------------------ moving data

/// Everything in `store`, in the order `meshgate export` writes it, in
/// pages of `page` rows: peers, tokens, aliases, threads, messages (with
/// the origin a native message gets: `meshgate:<store id>:<id>`).
pub async fn export_all(store: &dyn Store, page: u32) -> Vec<ImportRecord> {
    let store_id = store.store_id().await.expect("store_id");
    let mut out: Vec<ImportRecord> = Vec::new();
    out.extend(store.list_peers().await.expect("peers").into_iter().map(ImportRecord::Peer));
    out.extend(store.export_tokens().await.expect("tokens").into_iter().map(ImportRecord::Token));
    out.extend(store.aliases().await.expect("aliases").into_iter().map(ImportRecord::Alias));
    let mut after: Option<String> = None;
    loop {
        let threads = store.export_threads(after.as_deref(), page).await.expect("threads");
        let Some(last) = threads.last() else { break };
        after = Some(last.thread_uuid.clone());
        assert!(threads.len() <= page as usize, "a page holds at most `limit` threads");
        out.extend(threads.into_iter().map(ImportRecord::Thread));
    }
    let mut after_id = 0;
    loop {
        let messages = store.export_messages(after_id, page).await.expect("messages");
        let Some(last) = messages.last() else { break };
        assert!(messages.len() <= page as usize, "a page holds at most `limit` messages");
        after_id = last.message.id;
        out.extend(messages.into_iter().map(|mut m| {
            if m.origin.is_none() {
                m.origin = Some(format!("meshgate:{store_id}:{}", m.message.id));
            }
            ImportRecord::Message(m)
        }));
    }
    out
}

/// `records` with message ids zeroed (ids are the target's own).
fn without_ids(records: &[ImportRecord]) -> Vec<ImportRecord> {
    records
        .iter()
        .cloned()
        .map(|r| match r {
            ImportRecord::Message(mut m) => {
                m.message.id = 0;
                ImportRecord::Message(m)
            }
            other => other,
        })
        .collect()
}

fn message_ids(records: &[ImportRecord]) -> Vec<i64> {
    records
        .iter()
        .filter_map(|r| match r {
            ImportRecord::Message(m) => Some(m.message.id),
            _ => None,
        })
        .collect()
}

fn counts(imported: u64, present: u64) -> ImportCounts {
    ImportCounts { imported, present, skipped: Default::default() }
}

fn per_kind(
    peers: ImportCounts,
    tokens: ImportCounts,
    aliases: ImportCounts,
    threads: ImportCounts,
    messages: ImportCounts,
) -> ImportStats {
    let mut s = ImportStats::default();
    for (kind, c) in RecordKind::ALL.into_iter().zip([peers, tokens, aliases, threads, messages]) {
        if c != ImportCounts::default() {
            s.counts.insert(kind, c);
        }
    }
    s
}

const T_THREAD: &str = "11111111-2222-4333-8444-555555555555";
const T_IMPLICIT: &str = "99999999-8888-4777-8666-555555555555";

fn ts(day: u32, micros: u32) -> String {
    format!("2025-01-{day:02}T03:04:05.{micros:06}+00:00")
}

fn foreign_peer(name: &str, url: Option<&str>, enabled: bool, day: u32) -> Peer {
    Peer {
        name: name.into(),
        url: url.map(Into::into),
        capabilities: caps(json!({"runtime": "claude", "day": day})),
        enabled,
        registered_at: Some(ts(day, 1)),
        last_seen: Some(ts(day + 1, 2)),
        last_health: None,
        secret_guard: None,
    }
}

fn foreign_token(peer: &str, generation: i64, revoked: bool) -> TokenRecord {
    TokenRecord {
        peer: peer.into(),
        hash: TokenHash::of(&format!("{peer}-token-{generation}")),
        generation,
        created_at: ts(generation as u32 + 1, 3),
        revoked_at: revoked.then(|| ts(generation as u32 + 2, 4)),
    }
}

#[allow(clippy::too_many_arguments)]
fn foreign_message(
    source: &str,
    n: i64,
    from: &str,
    to: &str,
    kind: Kind,
    content: &str,
    thread: Option<&str>,
    task: Option<&str>,
    key: Option<&str>,
    created_day: u32,
    read_day: Option<u32>,
) -> MessageRecord {
    MessageRecord {
        message: Message {
            id: 1000 + n,
            from_node: from.into(),
            to_node: to.into(),
            kind,
            content: content.into(),
            created_at: ts(created_day, 5),
            read_at: read_day.map(|d| ts(d, 6)),
            thread_id: thread.map(Into::into),
            related_task_id: task.map(Into::into),
        },
        idempotency_key: key.map(Into::into),
        idempotency_digest: None,
        origin: Some(format!("test:{source}:{n}")),
    }
}

/// A batch as a foreign gateway would give it: two peers, three tokens
/// (one revoked), an alias, a thread, three messages (one in an unknown
/// thread, the last one older than the others).
fn foreign_batch(source: &str) -> Vec<ImportRecord> {
    vec![
        ImportRecord::Peer(foreign_peer("imp-a", Some("http://imp-a:1"), true, 2)),
        ImportRecord::Peer(foreign_peer("imp-b", None, false, 3)),
        ImportRecord::Token(foreign_token("imp-a", 1, true)),
        ImportRecord::Token(foreign_token("imp-a", 2, false)),
        ImportRecord::Token(foreign_token("imp-b", 1, false)),
        ImportRecord::Alias(Alias { alias: "ia".into(), canonical: "imp-a".into(), created_at: Some(ts(4, 7)) }),
        ImportRecord::Thread(Thread {
            thread_uuid: T_THREAD.into(),
            thread_name: "imp-a\u{2194}imp-b:plans".into(),
            peer_pair: "imp-a\u{2194}imp-b".into(),
            topic: "plans".into(),
            session_id: Some("s-imp".into()),
            created_at: ts(4, 8),
            last_used_at: Some(ts(5, 9)),
            created: None,
            minted_by: Some("imp-a".into()),
        }),
        ImportRecord::Message(foreign_message(
            source,
            1,
            "imp-a",
            "imp-b",
            Kind::Fyi,
            "first",
            Some(T_THREAD),
            Some("42"),
            Some("k1"),
            6,
            Some(7),
        )),
        ImportRecord::Message(foreign_message(
            source,
            2,
            "imp-b",
            "imp-a",
            Kind::Question,
            "second",
            None,
            None,
            None,
            8,
            None,
        )),
        ImportRecord::Message(foreign_message(
            source,
            3,
            "imp-a",
            "imp-b",
            Kind::Answer,
            "third, older",
            Some(T_IMPLICIT),
            None,
            None,
            1,
            None,
        )),
    ]
}

/// An import stores every field as given: peers, tokens (hash, generation,
/// revocation), aliases, threads, and messages with their time, read state,
/// thread, task id, key and computed digest; ids follow batch order, the
/// import wakes subscribers, and a later send with an imported idempotency
/// key is a repeat of the imported message.
pub async fn import_preserves_fields(store: Arc<dyn Store>) {
    let batch = foreign_batch("src1");
    let stats = store.import_batch(batch.clone()).await.expect("import");
    assert_eq!(stats, per_kind(counts(2, 0), counts(3, 0), counts(1, 0), counts(1, 0), counts(3, 0)));

    assert_eq!(
        store.peer("imp-a").await.unwrap().as_ref(),
        Some(&foreign_peer("imp-a", Some("http://imp-a:1"), true, 2))
    );
    assert_eq!(store.peer("imp-b").await.unwrap().as_ref(), Some(&foreign_peer("imp-b", None, false, 3)));

    let live = store.token_owner(&TokenHash::of("imp-a-token-2")).await.unwrap();
    assert_eq!(live, Some(crate::TokenOwner { peer: "imp-a".into(), generation: 2, enabled: true }));
    assert_eq!(store.token_owner(&TokenHash::of("imp-a-token-1")).await.unwrap(), None, "revoked stays revoked");
    assert!(!store.token_owner(&TokenHash::of("imp-b-token-1")).await.unwrap().unwrap().enabled);
    let tokens = store.export_tokens().await.unwrap();
    assert_eq!(
        tokens,
        vec![foreign_token("imp-a", 1, true), foreign_token("imp-a", 2, false), foreign_token("imp-b", 1, false)]
    );
    // Generations continue past the imported ones.
    assert_eq!(store.rotate_token("imp-a", TokenHash::of("imp-a-rotated")).await.unwrap(), 3);

    assert_eq!(
        store.aliases().await.unwrap(),
        vec![Alias { alias: "ia".into(), canonical: "imp-a".into(), created_at: Some(ts(4, 7)) }]
    );
    assert!(store.resolve_name("ia").await.unwrap().unwrap().via_alias);

    let ImportRecord::Thread(thread) = &batch[6] else { unreachable!() };
    assert_eq!(store.thread(T_THREAD).await.unwrap().as_ref(), Some(thread));
    let implicit = store.thread(T_IMPLICIT).await.unwrap().expect("a message's unknown thread is registered");
    assert_eq!(implicit.thread_name, T_IMPLICIT);
    assert_eq!(implicit.peer_pair, "imp-a\u{2194}imp-b");
    assert_eq!(implicit.created_at, ts(1, 5), "the message's time");

    let stored = store.export_messages(0, 100).await.unwrap();
    assert_eq!(stored.len(), 3);
    let ids: Vec<i64> = stored.iter().map(|m| m.message.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in batch order: {ids:?}");
    for (got, rec) in stored.iter().zip(batch[7..].iter()) {
        let ImportRecord::Message(want) = rec else { unreachable!() };
        let mut got = got.clone();
        got.message.id = want.message.id;
        let mut want = want.clone();
        if want.idempotency_key.is_some() {
            want.idempotency_digest = Some(want.computed_digest());
        }
        assert_eq!(got, want);
    }
    assert_eq!(*store.subscribe().borrow(), ids[2], "subscribers see the imported messages");
    assert_eq!(store.message(ids[0]).await.unwrap().unwrap().read_at, Some(ts(7, 6)));
    let unread =
        store.list_messages(&MessageQuery { to: Some("imp-a".into()), unread_only: true, ..query(10) }).await.unwrap();
    assert_eq!(self::ids(&unread), [ids[1]]);

    // A retry of the first message with its key finds the imported one.
    let retry = NewMessage {
        from_node: "imp-a".into(),
        to_node: "imp-b".into(),
        kind: Kind::Fyi,
        content: "first".into(),
        thread_id: Some(T_THREAD.into()),
        related_task_id: Some("42".into()),
        idempotency_key: Some("k1".into()),
    };
    let again = store.insert_message(retry.clone()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.message.id, ids[0]);
    let mut changed = retry;
    changed.content = "different".into();
    assert!(matches!(store.insert_message(changed).await, Err(StoreError::Conflict(_))));

    // New messages come after the imported ones, with the current time.
    let next = send(&*store, msg("imp-a", "imp-b", "native")).await;
    assert_eq!(next, ids[2] + 1);
}

/// Importing the same records again stores nothing (in one batch or many);
/// conflicting records are skipped with a reason; present rows take the
/// documented merges (read state, revocation, earlier registration, later
/// last_seen) and keep everything else.
pub async fn import_is_idempotent_and_merges(store: Arc<dyn Store>) {
    let batch = foreign_batch("src2");
    store.import_batch(batch.clone()).await.expect("first import");
    let before = export_all(&*store, 100).await;

    let mut again = ImportStats::default();
    for record in batch.clone() {
        again.merge(&store.import_batch(vec![record]).await.expect("re-import"));
    }
    assert_eq!(again, per_kind(counts(0, 2), counts(0, 3), counts(0, 1), counts(0, 1), counts(0, 3)));
    assert_eq!(again.imported_total(), 0);
    assert_eq!(export_all(&*store, 100).await, before, "a re-import changes nothing");
    assert_eq!(store.import_batch(Vec::new()).await.unwrap(), ImportStats::default());

    // Conflicts are skipped, with a reason each.
    let mut key_taken =
        foreign_message("src2", 10, "imp-a", "imp-b", Kind::Fyi, "other body", None, None, Some("k1"), 9, None);
    key_taken.origin = Some("test:elsewhere:10".into());
    let mut same_key_same_body = match &batch[7] {
        ImportRecord::Message(m) => m.clone(),
        _ => unreachable!(),
    };
    same_key_same_body.origin = Some("test:elsewhere:1".into());
    let mut no_origin = foreign_message("src2", 11, "imp-a", "imp-b", Kind::Fyi, "x", None, None, None, 9, None);
    no_origin.origin = None;
    let mut other_hash_same_generation = foreign_token("imp-a", 2, true);
    other_hash_same_generation.hash = TokenHash::of("another");
    let mut second_live = foreign_token("imp-a", 3, false);
    second_live.hash = TokenHash::of("second-live");
    let conflicts = vec![
        ImportRecord::Token(other_hash_same_generation),
        ImportRecord::Token(second_live),
        ImportRecord::Alias(Alias { alias: "ia".into(), canonical: "imp-b".into(), created_at: None }),
        ImportRecord::Alias(Alias { alias: "imp-b".into(), canonical: "imp-a".into(), created_at: None }),
        ImportRecord::Alias(Alias { alias: "nobody-alias".into(), canonical: "nobody".into(), created_at: None }),
        ImportRecord::Thread(Thread {
            thread_uuid: "22222222-2222-4333-8444-555555555555".into(),
            thread_name: "imp-a\u{2194}imp-b:plans".into(),
            peer_pair: "imp-a\u{2194}imp-b".into(),
            topic: "plans".into(),
            session_id: None,
            created_at: ts(4, 8),
            last_used_at: None,
            created: None,
            minted_by: Some("imp-a".into()),
        }),
        ImportRecord::Message(key_taken),
        ImportRecord::Message(same_key_same_body),
        ImportRecord::Message(no_origin),
    ];
    let stats = store.import_batch(conflicts).await.expect("conflicting import");
    let skipped = |kind: RecordKind| -> Vec<String> { stats.get(kind).skipped.keys().cloned().collect() };
    let mut want_tokens = vec![skip::GENERATION_TAKEN.to_owned(), skip::PEER_HAS_LIVE_TOKEN.to_owned()];
    want_tokens.sort();
    assert_eq!(skipped(RecordKind::Token), want_tokens);
    let mut want_aliases =
        vec![skip::ALIAS_ELSEWHERE.to_owned(), skip::ALIAS_IS_PEER.to_owned(), skip::ALIAS_UNKNOWN_PEER.to_owned()];
    want_aliases.sort();
    assert_eq!(skipped(RecordKind::Alias), want_aliases);
    assert_eq!(skipped(RecordKind::Thread), [skip::THREAD_NAME_TAKEN]);
    let mut want_messages = vec![skip::KEY_TAKEN.to_owned(), skip::NO_ORIGIN.to_owned()];
    want_messages.sort();
    assert_eq!(skipped(RecordKind::Message), want_messages);
    assert_eq!(stats.get(RecordKind::Message).present, 1, "same key and body: the same message");
    assert_eq!(stats.imported_total(), 0);
    assert_eq!(export_all(&*store, 100).await, before, "skipped records change nothing");
    assert_eq!(
        store.token_owner(&TokenHash::of("imp-a-token-2")).await.unwrap().map(|o| o.generation),
        Some(2),
        "an import never revokes the target's live token"
    );

    // Merges into present rows.
    let mut peer = foreign_peer("imp-a", Some("http://elsewhere:9"), false, 1);
    peer.last_seen = Some(ts(30, 0));
    let mut read = match &batch[8] {
        ImportRecord::Message(m) => m.clone(),
        _ => unreachable!(),
    };
    read.message.read_at = Some(ts(20, 0));
    let stats = store
        .import_batch(vec![
            ImportRecord::Peer(peer),
            ImportRecord::Token(foreign_token("imp-b", 1, true)),
            ImportRecord::Message(read),
        ])
        .await
        .unwrap();
    assert_eq!(stats, per_kind(counts(0, 1), counts(0, 1), counts(0, 0), counts(0, 0), counts(0, 1)));
    let merged = store.peer("imp-a").await.unwrap().unwrap();
    assert_eq!(merged.url.as_deref(), Some("http://imp-a:1"), "the target's url is kept");
    assert!(merged.enabled, "the target's enabled flag is kept");
    assert_eq!(merged.registered_at, Some(ts(1, 1)), "the earlier registration wins");
    assert_eq!(merged.last_seen, Some(ts(30, 0)), "the later last_seen wins");
    assert_eq!(store.token_owner(&TokenHash::of("imp-b-token-1")).await.unwrap(), None, "revocations carry over");
    let second = message_ids(&before)[1];
    assert_eq!(store.message(second).await.unwrap().unwrap().read_at, Some(ts(20, 0)), "read state carries over");
    assert_eq!(store.export_messages(0, 100).await.unwrap().len(), 3);
}

/// Builds some native data: peers (one disabled, one deleted), a rotated
/// token, an alias, a minted thread and messages (keyed, read, in an
/// implicit thread).
async fn populate(store: &dyn Store) {
    for n in ["ra", "rb", "rc"] {
        store.register_peer(reg(n, "1")).await.unwrap();
    }
    let mut with_url = reg("ra", "2");
    with_url.url = Some("http://ra:1".into());
    with_url.capabilities = Some(caps(json!({"k": [1, 2]})));
    store.register_peer(with_url).await.unwrap();
    store.rotate_token("ra", TokenHash::of("ra-rotated")).await.unwrap();
    store.delete_peer("rc").await.unwrap();
    store.set_peer_enabled("rb", false).await.unwrap();
    store.put_alias("r-a", "ra").await.unwrap();
    let t = store.mint_thread("ra\u{2194}rb:topic", Some("s1")).await.unwrap();
    let mut m = msg("ra", "rb", "keyed");
    m.thread_id = Some(t.thread_uuid.clone());
    m.related_task_id = Some("t-1".into());
    m.idempotency_key = Some("k1".into());
    let first = send(store, m).await;
    send(store, msg("rb", "ra", "plain")).await;
    let mut implicit = msg("ra", "rb", "implicit thread");
    implicit.thread_id = Some("33333333-2222-4333-8444-555555555555".into());
    send(store, implicit).await;
    store.mark_read(&[first], None).await.unwrap();
}

/// Importing a store's own export finds everything present and changes
/// nothing.
pub async fn importing_own_export_changes_nothing(store: Arc<dyn Store>) {
    populate(&*store).await;
    let exported = export_all(&*store, 2).await;
    assert_eq!(exported.len(), 2 + 4 + 1 + 2 + 3, "{exported:#?}");
    let stats = store.import_batch(exported.clone()).await.unwrap();
    assert_eq!(stats, per_kind(counts(0, 2), counts(0, 4), counts(0, 1), counts(0, 2), counts(0, 3)));
    assert_eq!(export_all(&*store, 2).await, exported);
    assert_eq!(store.store_id().await.unwrap().len(), 32);
    assert_eq!(store.store_id().await.unwrap(), store.store_id().await.unwrap(), "stable");
}

/// Export from one store, import into another, export again: equal but for
/// the message ids (the target's own, dense and in the same order); a
/// second import stores nothing.
pub async fn export_import_round_trip(source: Arc<dyn Store>, target: Arc<dyn Store>) {
    populate(&*source).await;
    assert_ne!(source.store_id().await.unwrap(), target.store_id().await.unwrap(), "store ids are random");
    let exported = export_all(&*source, 2).await;
    // Something already in the target: imported messages come after it.
    let before = send(&*target, msg("zz", "yy", "already here")).await;
    let mut stats = ImportStats::default();
    for chunk in exported.chunks(4) {
        stats.merge(&target.import_batch(chunk.to_vec()).await.unwrap());
    }
    assert_eq!(stats, per_kind(counts(2, 0), counts(4, 0), counts(1, 0), counts(2, 0), counts(3, 0)));
    let mut reexported = export_all(&*target, 2).await;
    reexported.retain(|r| !matches!(r, ImportRecord::Message(m) if m.message.id == before));
    assert_eq!(without_ids(&reexported), without_ids(&exported));
    let new_ids = message_ids(&reexported);
    assert_eq!(new_ids, (before + 1..before + 4).collect::<Vec<_>>(), "dense, after the target's own, in order");
    assert_eq!(*target.subscribe().borrow(), before + 3);

    // The imported tokens authenticate in the target.
    assert_eq!(target.token_owner(&TokenHash::of("ra-rotated")).await.unwrap().map(|o| o.peer), Some("ra".into()));
    assert_eq!(target.token_owner(&TokenHash::of("token-ra-1")).await.unwrap(), None);
    assert!(!target.token_owner(&TokenHash::of("token-rb-1")).await.unwrap().unwrap().enabled);
    assert_eq!(target.token_owner(&TokenHash::of("token-rc-1")).await.unwrap(), None);

    let again = target.import_batch(exported).await.unwrap();
    assert_eq!(again.imported_total(), 0);
}
