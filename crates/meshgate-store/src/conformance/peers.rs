//! Checks of peers, tokens and aliases.

use serde_json::json;
use std::sync::Arc;

use super::{caps, ids, is_timestamp, msg, query, reg, send};
use crate::{MessageQuery, Refusal, Store, StoreError, TokenHash};

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

/// A page with [`MessageQuery::resolve_aliases`] matches an alias's peer
/// in `to` and `from`, with the aliases of the moment (added, repointed,
/// removed: the very next read follows); a peer's own name and any other
/// name stand for themselves; without the flag names match exactly.
pub async fn pages_resolve_aliases_in_their_query(store: Arc<dyn Store>) {
    for name in ["romeo", "sierra", "tango"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let r1 = send(&*store, msg("tango", "romeo", "r1")).await;
    let s1 = send(&*store, msg("tango", "sierra", "s1")).await;
    let s2 = send(&*store, msg("romeo", "sierra", "s2")).await;
    let gone = send(&*store, msg("tango", "ghost", "to a name that is no peer")).await;
    let page = |to: Option<&str>, from: Option<&str>, resolve_aliases: bool| MessageQuery {
        to: to.map(str::to_owned),
        from: from.map(str::to_owned),
        resolve_aliases,
        ..query(10)
    };
    let read = |q: MessageQuery| {
        let store = Arc::clone(&store);
        async move { ids(&store.list_messages(&q).await.unwrap()) }
    };

    assert_eq!(read(page(Some("rom"), None, true)).await, Vec::<i64>::new(), "no alias yet: the name as given");
    store.put_alias("rom", "romeo").await.unwrap();
    assert_eq!(read(page(Some("rom"), None, true)).await, [r1]);
    assert_eq!(read(page(Some("rom"), None, false)).await, Vec::<i64>::new(), "without the flag: exact names");
    assert_eq!(read(page(None, Some("rom"), true)).await, [s2]);
    assert_eq!(read(page(Some("rom"), Some("tango"), true)).await, [r1]);
    assert_eq!(read(page(Some("sierra"), Some("rom"), true)).await, [s2]);
    assert_eq!(read(MessageQuery { unread_only: true, ..page(Some("rom"), None, true) }).await, [r1]);
    assert_eq!(read(page(Some("romeo"), None, true)).await, [r1], "a peer's own name");
    assert_eq!(read(page(Some("ghost"), None, true)).await, [gone], "a name that is neither");

    store.put_alias("rom", "sierra").await.unwrap();
    assert_eq!(read(page(Some("rom"), None, true)).await, [s2, s1], "repointed");
    store.delete_alias("rom").await.unwrap();
    assert_eq!(read(page(Some("rom"), None, true)).await, Vec::<i64>::new(), "removed");

    // An alias dies with its peer; the peer's DMs stay under its name.
    store.put_alias("rom", "romeo").await.unwrap();
    store.delete_peer("romeo").await.unwrap();
    assert_eq!(read(page(Some("rom"), None, true)).await, Vec::<i64>::new());
    assert_eq!(read(page(Some("romeo"), None, true)).await, [r1]);
}
