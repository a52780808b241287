//! Checks of export and import.

use meshgate_proto::{Alias, Kind, Message, Peer, Thread};
use serde_json::json;
use std::sync::Arc;

use super::{caps, ids, msg, query, reg, send};
use crate::{
    skip, ImportCounts, ImportRecord, ImportStats, MessageQuery, MessageRecord, NewMessage, RecordKind, Store,
    StoreError, TokenHash, TokenRecord,
};

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

pub(super) fn foreign_peer(name: &str, url: Option<&str>, enabled: bool, day: u32) -> Peer {
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

pub(super) fn foreign_token(peer: &str, generation: i64, revoked: bool) -> TokenRecord {
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
            // Derived by the store: an imported question nobody answered.
            owed: kind == Kind::Question,
            sender_verified: false,
        },
        idempotency_key: key.map(Into::into),
        idempotency_digest: None,
        origin: Some(format!("test:{source}:{n}")),
        ladder: Default::default(),
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
        in_reply_to: None,
        due_at: None,
        sender_verified: false,
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
