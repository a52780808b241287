//! The [`Store`] impl of [`SqliteStore`]: each method picks where it runs
//! (a reader on the calling thread, the blocking pool, or the writer
//! thread, see the crate docs) and calls the SQL of its resource in `ops`.
use std::sync::Arc;

use async_trait::async_trait;
use meshgate_proto::{Alias, MarkRead, Message, MessageStatus, Obligations, Peer, Receipt, Thread};
use meshgate_store::{
    CredentialEvent, ImportRecord, ImportStats, Inserted, MessageHead, MessageQuery, MessageRecord, NewMessage,
    ObligationQuery, PeerRegistration, Purged, Registered, Resolved, RowSink, Store, StoreResult, ThreadQuery,
    Timestamp, TokenHash, TokenOwner, TokenRecord,
};
use tokio::sync::{broadcast, watch};

use crate::names::Lookup;
use crate::{live, ops, SqliteStore};

#[async_trait]
impl Store for SqliteStore {
    async fn schema_version(&self) -> StoreResult<i64> {
        self.read(ops::schema_version).await
    }

    async fn register_peer(&self, reg: PeerRegistration) -> StoreResult<Registered> {
        self.write(move |ctx| ops::register_peer(ctx, reg)).await
    }

    async fn list_peers(&self) -> StoreResult<Vec<Peer>> {
        self.read(ops::list_peers).await
    }

    async fn peer(&self, name: &str) -> StoreResult<Option<Peer>> {
        let name = name.to_owned();
        self.read_now(|c| ops::peer(c, &name)).await
    }

    async fn delete_peer(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        let event = Some(CredentialEvent::Peer(name.clone()));
        self.write_credentials(event, move |ctx| ops::delete_peer(ctx, &name)).await
    }

    async fn set_peer_enabled(&self, name: &str, enabled: bool) -> StoreResult<Peer> {
        let name = name.to_owned();
        let event = Some(CredentialEvent::Peer(name.clone()));
        self.write_credentials(event, move |ctx| ops::set_peer_enabled(ctx, &name, enabled)).await
    }

    async fn touch_peers(&self, seen: Vec<(String, Timestamp)>) -> StoreResult<()> {
        if seen.is_empty() {
            return Ok(());
        }
        // No message page shows `last_seen`: the write keeps the change mark.
        self.write_page_neutral(move |ctx| ops::touch_peers(ctx, &seen)).await
    }

    async fn token_owner(&self, token_hash: &TokenHash) -> StoreResult<Option<TokenOwner>> {
        self.read_now(|c| ops::token_owner(c, token_hash)).await
    }

    async fn rotate_token(&self, name: &str, new_hash: TokenHash) -> StoreResult<i64> {
        let name = name.to_owned();
        let event = Some(CredentialEvent::Peer(name.clone()));
        self.write_credentials(event, move |ctx| ops::rotate_token(ctx, &name, &new_hash)).await
    }

    async fn revoke_tokens(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        let event = Some(CredentialEvent::Peer(name.clone()));
        self.write_credentials(event, move |ctx| ops::revoke_tokens(ctx, &name)).await
    }

    async fn put_alias(&self, alias: &str, canonical: &str) -> StoreResult<Alias> {
        let (alias, canonical) = (alias.to_owned(), canonical.to_owned());
        self.write(move |ctx| ops::put_alias(ctx, &alias, &canonical)).await
    }

    async fn aliases(&self) -> StoreResult<Vec<Alias>> {
        self.read(ops::aliases).await
    }

    async fn delete_alias(&self, alias: &str) -> StoreResult<()> {
        let alias = alias.to_owned();
        self.write(move |ctx| ops::delete_alias(ctx, &alias)).await
    }

    async fn resolve_name(&self, name: &str) -> StoreResult<Option<Resolved>> {
        let Some(names) = &self.names else {
            return self.read_now(|c| ops::resolve_name(c, name)).await;
        };
        let epoch = match names.get(name) {
            Lookup::Hit(resolved) => return Ok(Some(resolved)),
            Lookup::Miss(epoch) => epoch,
        };
        let found = self.read_now(|c| ops::resolve_name(c, name)).await?;
        if let Some(resolved) = &found {
            names.keep(epoch, name, resolved);
        }
        Ok(found)
    }

    async fn insert_message(&self, msg: NewMessage) -> StoreResult<Inserted> {
        self.insert(msg, false).await
    }

    async fn message(&self, id: i64) -> StoreResult<Option<Message>> {
        self.read_now(|c| ops::message(c, id)).await
    }

    async fn mark_read(&self, ids: &[i64], recipient: Option<&str>) -> StoreResult<Vec<MarkRead>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        let recipient = recipient.map(str::to_owned);
        self.write(move |ctx| ops::mark_read(ctx, &ids, recipient.as_deref())).await
    }

    async fn mint_thread(&self, name: &str, session_id: Option<&str>) -> StoreResult<Thread> {
        let name = name.to_owned();
        let session_id = session_id.map(str::to_owned);
        self.write(move |ctx| ops::mint_thread(ctx, &name, session_id.as_deref(), None)).await
    }

    async fn threads(&self, q: &ThreadQuery) -> StoreResult<Vec<Thread>> {
        let q = q.clone();
        self.read(move |c| ops::threads(c, &q)).await
    }

    async fn thread(&self, uuid: &str) -> StoreResult<Option<Thread>> {
        let uuid = uuid.to_owned();
        self.read(move |c| ops::thread(c, &uuid)).await
    }

    async fn store_id(&self) -> StoreResult<String> {
        self.read(ops::store_id).await
    }

    async fn export_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.read(ops::export_tokens).await
    }

    async fn export_threads(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Thread>> {
        let after = after.map(str::to_owned);
        self.read(move |c| ops::export_threads(c, after.as_deref(), limit)).await
    }

    async fn export_messages(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageRecord>> {
        self.read(move |c| ops::export_messages(c, after_id, limit)).await
    }

    async fn import_batch(&self, batch: Vec<ImportRecord>) -> StoreResult<ImportStats> {
        if batch.is_empty() {
            return Ok(ImportStats::default());
        }
        // One writer job: the batch commits (or rolls back) as a whole, in
        // the writer's transaction, so ids follow batch order.
        let event = CredentialEvent::of_import(&batch);
        self.write_credentials(event, move |ctx| ops::import_batch(ctx, batch)).await
    }

    fn subscribe(&self) -> watch::Receiver<i64> {
        self.max_id.subscribe()
    }

    async fn mint_thread_as(&self, name: &str, session_id: Option<&str>, minter: Option<&str>) -> StoreResult<Thread> {
        let name = name.to_owned();
        let session_id = session_id.map(str::to_owned);
        let minter = minter.map(str::to_owned);
        self.write(move |ctx| ops::mint_thread(ctx, &name, session_id.as_deref(), minter.as_deref())).await
    }

    async fn purge_peer(&self, name: &str) -> StoreResult<Purged> {
        let name = name.to_owned();
        let event = Some(CredentialEvent::Peer(name.clone()));
        self.write_credentials(event, move |ctx| ops::purge_peer(ctx, &name)).await
    }

    async fn set_peer_secret_guard(&self, name: &str, policy: Option<&str>) -> StoreResult<Peer> {
        let name = name.to_owned();
        let policy = policy.map(str::to_owned);
        self.write(move |ctx| ops::set_peer_secret_guard(ctx, &name, policy.as_deref())).await
    }

    async fn message_heads(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageHead>> {
        self.read(move |c| live::message_heads(c, after_id, limit)).await
    }

    fn subscribe_credentials(&self) -> broadcast::Receiver<CredentialEvent> {
        self.credentials.subscribe()
    }

    async fn insert_message_between_peers(&self, msg: NewMessage) -> StoreResult<Inserted> {
        self.insert(msg, true).await
    }

    fn observe_commits(&self, observer: Arc<dyn meshgate_store::CommitObserver>) -> bool {
        self.counters.observer.set(observer).is_ok()
    }

    async fn purge_expired(
        &self,
        policy: &meshgate_store::Retention,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<meshgate_store::PurgePass> {
        let policy = policy.clone();
        self.write(move |ctx| ops::purge_expired(ctx, &policy, after_id, limit)).await
    }

    async fn mark_delivered(&self, ids: Vec<i64>) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(move |ctx| ops::mark_delivered(ctx, &ids)).await
    }

    async fn message_status(&self, id: i64) -> StoreResult<Option<MessageStatus>> {
        self.read_now(move |c| ops::message_status(c, id)).await
    }

    async fn obligations(&self, q: &ObligationQuery) -> StoreResult<Obligations> {
        let q = q.clone();
        self.read(move |c| ops::obligations(c, &q)).await
    }

    async fn receipts(&self, sender: &str, after: (i64, i64), limit: u32) -> StoreResult<Vec<Receipt>> {
        let sender = sender.to_owned();
        self.read_now(move |c| ops::receipts(c, &sender, after, limit)).await
    }

    async fn receipt_head(&self) -> StoreResult<i64> {
        self.read_now(ops::receipt_head).await
    }

    async fn prior_message(&self, msg: &NewMessage) -> StoreResult<Option<Inserted>> {
        if msg.idempotency_key.is_none() {
            return Ok(None);
        }
        self.read_now(|c| ops::prior_message(c, msg)).await
    }

    async fn search(&self, q: &meshgate_store::SearchQuery) -> StoreResult<meshgate_store::SearchPage> {
        let q = q.clone();
        self.read(move |c| ops::search(c, &q)).await
    }

    async fn visit_messages(&self, q: &MessageQuery, sink: &mut dyn RowSink) -> StoreResult<()> {
        self.read_page(q, sink).await
    }

    async fn committed_heads(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageHead>> {
        if let Some(heads) = self.recent.as_ref().and_then(|r| r.after(after_id, limit)) {
            return Ok(heads);
        }
        self.message_heads(after_id, limit).await
    }

    fn change_mark(&self) -> Option<u64> {
        self.mark.as_ref()?.now()
    }
}
