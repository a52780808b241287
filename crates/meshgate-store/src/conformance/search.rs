//! Full-text search ([`Store::search`]): the query language, ranking,
//! filters, the scope rule (a peer finds only its own DMs, whatever it
//! types), the index following every write path, and the candidate cap.

use std::sync::Arc;

use meshgate_proto::Kind;

use super::{msg, reg, send};
use crate::{
    now_timestamp, parse_query, rank_window, PurgePass, Retention, SearchPage, SearchQuery, Store,
    SEARCH_CANDIDATES_MAX, SEARCH_RANK_BYTES,
};

fn search_q(q: &str) -> SearchQuery {
    SearchQuery { limit: 100, ..SearchQuery::new(parse_query(q).expect("valid query")) }
}

async fn found(store: &dyn Store, q: SearchQuery) -> Vec<i64> {
    let page: SearchPage = store.search(&q).await.expect("search");
    assert!(!page.truncated);
    let mut ids: Vec<i64> = page.hits.iter().map(|h| h.message.id).collect();
    ids.sort_unstable();
    ids
}

async fn ids_for(store: &dyn Store, q: &str) -> Vec<i64> {
    found(store, search_q(q)).await
}

/// Words, phrases, prefixes, OR and exclusions find what they say;
/// case is folded; the best match ranks first; filters narrow.
pub async fn search_finds_and_ranks(store: Arc<dyn Store>) {
    for name in ["sa", "sb", "sc"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let s = &*store;
    let m1 = send(s, msg("sa", "sb", "Deploy the release tonight")).await;
    let m2 = send(s, msg("sb", "sa", "the deploy failed: deploy deploy again")).await;
    let mut q = msg("sa", "sb", "who owns the staging box?");
    q.kind = Kind::Question;
    let m3 = send(s, q).await;
    let m4 = send(s, msg("sc", "sa", "release notes\0with a NUL, and ünïcode wörds")).await;

    assert_eq!(ids_for(s, "deploy").await, vec![m1, m2]);
    assert_eq!(ids_for(s, "DEPLOY release").await, vec![m1], "words are ANDed, case folded");
    assert_eq!(ids_for(s, "\"deploy failed\"").await, vec![m2]);
    assert_eq!(ids_for(s, "\"again deploy\"").await, Vec::<i64>::new(), "a phrase keeps its order");
    assert_eq!(ids_for(s, "rel*").await, vec![m1, m4]);
    assert_eq!(ids_for(s, "staging OR failed").await, vec![m2, m3]);
    assert_eq!(ids_for(s, "release -tonight").await, vec![m4]);
    assert_eq!(ids_for(s, "wörds").await, vec![m4], "non-ASCII words");
    assert_eq!(ids_for(s, "nul with").await, vec![m4], "NUL separates words");
    assert_eq!(ids_for(s, "box?").await, vec![m3], "punctuation separates words");
    assert!(ids_for(s, "nothing-here").await.is_empty());

    let page = s.search(&search_q("deploy")).await.unwrap();
    assert_eq!(page.hits[0].message.id, m2, "three occurrences outrank one");
    assert!(page.hits[0].rank > page.hits[1].rank);
    assert_eq!(page.hits[0].message.content, "the deploy failed: deploy deploy again");

    let mut one = search_q("deploy");
    one.limit = 1;
    assert_eq!(found(s, one).await, vec![m2], "limit keeps the best");
    let mut kind = search_q("staging OR deploy");
    kind.kind = Some(Kind::Question);
    assert_eq!(found(s, kind).await, vec![m3]);
    let mut from = search_q("deploy");
    from.from = Some("sb".into());
    assert_eq!(found(s, from).await, vec![m2]);
    let mut to = search_q("deploy");
    to.to = Some("sb".into());
    assert_eq!(found(s, to).await, vec![m1]);
    let created = s.message(m2).await.unwrap().unwrap().created_at;
    let mut since = search_q("deploy OR release");
    since.since = Some(created);
    assert_eq!(found(s, since).await, vec![m4], "strictly after");
    let thread = s.mint_thread("searched", None).await.unwrap().thread_uuid;
    let mut in_thread = msg("sb", "sc", "deploy in a thread");
    in_thread.thread_id = Some(thread.clone());
    let m5 = send(s, in_thread).await;
    let mut by_thread = search_q("deploy");
    by_thread.thread_id = Some(thread);
    assert_eq!(found(s, by_thread).await, vec![m5]);
    assert!(s.message_status(m1).await.unwrap().unwrap().delivered_at.is_none(), "a search delivers nothing");
}

/// A peer finds only DMs it sent or received: `from`/`to` naming others
/// only narrow; a third peer finds nothing of a DM between two others.
pub async fn search_is_scoped_to_the_caller(store: Arc<dyn Store>) {
    for name in ["pa", "pb", "pc", "pa-x", "p"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let s = &*store;
    let ab = send(s, msg("pa", "pb", "secret merger plan zebra")).await;
    // Names that extend or prefix each other are distinct parties.
    let xb = send(s, msg("pa-x", "pb", "zebra of pa-x")).await;
    let mut just_p = search_q("zebra");
    just_p.involving = Some("p".into());
    assert!(found(s, just_p).await.is_empty(), "p is party to nothing");
    let ca = send(s, msg("pc", "pa", "zebra crossing")).await;
    let scoped = |me: &str, q: &str| {
        let mut q = search_q(q);
        q.involving = Some(me.to_owned());
        q
    };
    assert_eq!(found(s, scoped("pa", "zebra")).await, vec![ab, ca]);
    assert_eq!(found(s, scoped("pa-x", "zebra")).await, vec![xb]);
    assert_eq!(found(s, scoped("pb", "zebra")).await, vec![ab, xb]);
    assert_eq!(found(s, scoped("pc", "zebra")).await, vec![ca]);
    for q in ["merger", "secret merger plan", "zebra -crossing", "mer*", "plan OR merger", "\"merger plan\""] {
        assert!(found(s, scoped("pc", q)).await.is_empty(), "pc must not find {q:?}");
        let mut narrowed = scoped("pc", q);
        narrowed.from = Some("pa".into());
        narrowed.to = Some("pb".into());
        assert!(found(s, narrowed).await.is_empty(), "naming others only narrows ({q:?})");
    }
    let mut others = scoped("pc", "zebra");
    others.to = Some("pb".into());
    assert!(found(s, others).await.is_empty());
    assert_eq!(found(s, search_q("zebra")).await, vec![ab, xb, ca], "the operator finds all");
}

/// The index follows every write path: imports are found, retention and
/// peer purges remove what they delete.
pub async fn search_index_follows_writes(store: Arc<dyn Store>) {
    for name in ["ia", "ib", "ic"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let s = &*store;
    let keep = send(s, msg("ia", "ib", "kept quokka")).await;
    let read = send(s, msg("ia", "ib", "expiring quokka")).await;
    let purged = send(s, msg("ic", "ia", "purged quokka")).await;
    s.mark_read(&[read], None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let policy = Retention { read_before: Some(now_timestamp()), unread_before: None };
    let pass: PurgePass = s.purge_expired(&policy, 0, 1000).await.unwrap();
    assert_eq!(pass.messages, 1);
    assert_eq!(ids_for(s, "quokka").await, vec![keep, purged]);
    s.purge_peer("ic").await.unwrap();
    assert_eq!(ids_for(s, "quokka").await, vec![keep]);
    assert!(ids_for(s, "purged").await.is_empty());

    let records = s.export_messages(0, 100).await.unwrap();
    let origin_copy: Vec<crate::ImportRecord> = records
        .into_iter()
        .map(|mut r| {
            r.origin = Some(format!("meshgate:{}:{}", "0".repeat(32), r.message.id));
            crate::ImportRecord::Message(r)
        })
        .collect();
    let stats = s.import_batch(origin_copy).await.unwrap();
    assert_eq!(stats.get(crate::RecordKind::Message).imported, 1);
    assert_eq!(ids_for(s, "kept quokka").await.len(), 2, "the imported copy is found");
}

/// More matches than [`SEARCH_CANDIDATES_MAX`]: the newest are ranked and
/// the page says it is truncated.
pub async fn search_caps_its_candidates(store: Arc<dyn Store>) {
    for name in ["ca", "cb"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let n = SEARCH_CANDIDATES_MAX as usize + 10;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..10 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for i in (t..n).step_by(10) {
                store.insert_message(msg("ca", "cb", &format!("common word number {i}"))).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let page = store.search(&search_q("common")).await.unwrap();
    assert!(page.truncated, "more matches than candidates");
    assert_eq!(page.hits.len(), 100);
    let mut narrow = search_q("common 7");
    narrow.limit = 5;
    let page = store.search(&narrow).await.unwrap();
    assert!(!page.truncated);
    assert_eq!(page.hits.len(), 1);
}

/// Ranking reads a bounded start of each candidate, whatever the bodies
/// hold: maximum-size bodies of one repeated word cost the gateway at most
/// [`rank_window`] bytes each (the hostile review's 4-9 s `q=a`).
pub async fn search_bounds_its_ranking_work(store: Arc<dyn Store>) {
    for name in ["ra", "rb"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let body = format!("{}a", "a ".repeat(99_999));
    let n = 40;
    for _ in 0..n {
        send(&*store, msg("ra", "rb", &body)).await;
    }
    for q in ["a", "a OR b", "\"a a\""] {
        let mut sq = search_q(q);
        sq.involving = Some("ra".into());
        let page = store.search(&sq).await.unwrap();
        assert!(!page.hits.is_empty(), "{q}");
        assert!(page.ranked_bytes <= n * rank_window(n), "{q}: ranked {} bytes", page.ranked_bytes);
        assert!(page.ranked_bytes <= SEARCH_RANK_BYTES);
        assert_eq!(page.hits[0].message.content, body, "hits carry the whole body");
    }
}

/// Hits hold at most the page's byte budget, like `GET /messages`: the
/// best hit always, then hits while they fit; a cut page is `truncated`.
pub async fn search_keeps_the_page_byte_budget(store: Arc<dyn Store>) {
    for name in ["pa", "pb"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let body = format!("budget {}", "x".repeat(10_000));
    for _ in 0..10 {
        send(&*store, msg("pa", "pb", &body)).await;
    }
    let mut q = search_q("budget");
    q.max_bytes = 35_000;
    let page = store.search(&q).await.unwrap();
    assert_eq!(page.hits.len(), 3, "three 10 kB bodies fit in 35 kB, four do not");
    assert!(page.truncated);
    let size: usize = page.hits.iter().map(|h| meshgate_proto::MessageRef::from(&h.message).json_len() + 1).sum();
    assert!(size <= 35_000, "{size}");
    q.max_bytes = 1;
    let page = store.search(&q).await.unwrap();
    assert_eq!((page.hits.len(), page.truncated), (1, true), "the best hit always comes back");
    q.max_bytes = 0;
    let page = store.search(&q).await.unwrap();
    assert_eq!((page.hits.len(), page.truncated), (10, false), "0: no budget");
}

/// Concurrent writes, some refused (an idempotency key reused with another
/// body, a self-DM, an end that is not a peer) and an import among them,
/// so on SQLite they share write batches: exactly the stored DMs are found.
pub async fn search_indexes_exactly_the_committed_writes(store: Arc<dyn Store>) {
    for name in ["wa", "wb"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let keyed = |i: usize, body: &str| crate::NewMessage {
        idempotency_key: Some(format!("wkey-{i}")),
        ..msg("wa", "wb", body)
    };
    for i in 0..8 {
        send(&*store, keyed(i, &format!("first numbat {i}"))).await;
    }
    let mut record = store.export_messages(0, 1).await.unwrap().remove(0);
    record.message.content = "imported wombat".into();
    record.idempotency_key = None;
    record.idempotency_digest = None;
    record.origin = Some("swarph:wombat-test:1".into());

    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..8 {
        let s = Arc::clone(&store);
        tasks.spawn(async move {
            let mut kept = Vec::new();
            let fresh = s.insert_message(msg("wa", "wb", &format!("fresh wombat {round}"))).await.unwrap();
            kept.push(fresh.message.id);
            let conflict = s.insert_message(keyed(round, &format!("conflicting wombat {round}"))).await;
            assert!(matches!(conflict, Err(crate::StoreError::Conflict(_))), "{conflict:?}");
            assert!(s.insert_message(msg("wa", "wa", "self wombat")).await.is_err());
            let stranger = s.insert_message_between_peers(msg("wa", "nobody", "stranger wombat")).await;
            assert!(stranger.is_err(), "{stranger:?}");
            let reply = s.insert_message(msg("wb", "wa", &format!("reply wombat {round}"))).await.unwrap();
            kept.push(reply.message.id);
            kept
        });
    }
    let s = Arc::clone(&store);
    let import = tokio::spawn(async move { s.import_batch(vec![crate::ImportRecord::Message(record)]).await });
    let mut kept = Vec::new();
    while let Some(r) = tasks.join_next().await {
        kept.extend(r.unwrap());
    }
    let stats = import.await.unwrap().unwrap();
    assert_eq!(stats.get(crate::RecordKind::Message).imported, 1);
    let imported = ids_for(&*store, "imported").await;
    assert_eq!(imported.len(), 1, "the imported DM is found");
    kept.extend(imported);
    kept.sort_unstable();
    assert_eq!(ids_for(&*store, "wombat").await, kept);
    for refused in ["conflicting", "self", "stranger"] {
        assert!(ids_for(&*store, refused).await.is_empty(), "{refused}");
    }
    assert_eq!(ids_for(&*store, "numbat").await.len(), 8);
}
