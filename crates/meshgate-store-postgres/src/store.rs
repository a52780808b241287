//! The [`Store`] impl of [`PgStore`]: each method runs the SQL of its
//! resource in `ops` on a pooled client or in a transaction (`with_client!`,
//! `in_tx!`); inserts go through the batch task (`batch`).

use std::sync::Arc;

use async_trait::async_trait;
use meshgate_proto::{Alias, MarkRead, Message, MessageStatus, Obligations, Peer, Receipt, Thread};
use meshgate_store::{
    CredentialEvent, ImportRecord, ImportStats, Inserted, MessageHead, MessageQuery, MessageRecord, NewMessage,
    ObligationQuery, PeerRegistration, Purged, Registered, Resolved, RowSink, Store, StoreResult, ThreadQuery,
    Timestamp, TokenHash, TokenOwner, TokenRecord,
};
use tokio::sync::{broadcast, watch};

use crate::{live, ops, publish, PgStore};

#[async_trait]
impl Store for PgStore {
    async fn schema_version(&self) -> StoreResult<i64> {
        with_client!(self, |c| ops::schema_version(&c))
    }

    async fn register_peer(&self, reg: PeerRegistration) -> StoreResult<Registered> {
        in_tx!(self, |tx| ops::register_peer(&tx, reg))
    }

    async fn list_peers(&self) -> StoreResult<Vec<Peer>> {
        with_client!(self, |c| ops::list_peers(&c))
    }

    async fn peer(&self, name: &str) -> StoreResult<Option<Peer>> {
        with_client!(self, |c| ops::peer(&c, name))
    }

    async fn delete_peer(&self, name: &str) -> StoreResult<()> {
        in_tx!(self, |tx| live::noting(&tx, Some(CredentialEvent::Peer(name.to_owned())), ops::delete_peer(&tx, name)))
    }

    async fn set_peer_enabled(&self, name: &str, enabled: bool) -> StoreResult<Peer> {
        in_tx!(self, |tx| live::noting(
            &tx,
            Some(CredentialEvent::Peer(name.to_owned())),
            ops::set_peer_enabled(&tx, name, enabled)
        ))
    }

    async fn touch_peers(&self, seen: Vec<(String, Timestamp)>) -> StoreResult<()> {
        if seen.is_empty() {
            return Ok(());
        }
        in_tx!(self, |tx| ops::touch_peers(&tx, &seen))
    }

    async fn token_owner(&self, token_hash: &TokenHash) -> StoreResult<Option<TokenOwner>> {
        with_client!(self, |c| ops::token_owner(&c, token_hash))
    }

    async fn rotate_token(&self, name: &str, new_hash: TokenHash) -> StoreResult<i64> {
        in_tx!(self, |tx| live::noting(
            &tx,
            Some(CredentialEvent::Peer(name.to_owned())),
            ops::rotate_token(&tx, name, &new_hash)
        ))
    }

    async fn revoke_tokens(&self, name: &str) -> StoreResult<()> {
        in_tx!(self, |tx| live::noting(
            &tx,
            Some(CredentialEvent::Peer(name.to_owned())),
            ops::revoke_tokens(&tx, name)
        ))
    }

    async fn put_alias(&self, alias: &str, canonical: &str) -> StoreResult<Alias> {
        in_tx!(self, |tx| ops::put_alias(&tx, alias, canonical))
    }

    async fn aliases(&self) -> StoreResult<Vec<Alias>> {
        with_client!(self, |c| ops::aliases(&c))
    }

    async fn delete_alias(&self, alias: &str) -> StoreResult<()> {
        in_tx!(self, |tx| ops::delete_alias(&tx, alias))
    }

    async fn resolve_name(&self, name: &str) -> StoreResult<Option<Resolved>> {
        with_client!(self, |c| ops::resolve_name(&c, name))
    }

    async fn insert_message(&self, msg: NewMessage) -> StoreResult<Inserted> {
        self.insert(msg, false).await
    }

    async fn message(&self, id: i64) -> StoreResult<Option<Message>> {
        with_client!(self, |c| ops::message(&c, id))
    }

    async fn mark_read(&self, ids: &[i64], recipient: Option<&str>) -> StoreResult<Vec<MarkRead>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        in_tx!(self, |tx| ops::mark_read(&tx, ids, recipient))
    }

    async fn mint_thread(&self, name: &str, session_id: Option<&str>) -> StoreResult<Thread> {
        in_tx!(self, |tx| ops::mint_thread(&tx, name, session_id, None))
    }

    async fn threads(&self, q: &ThreadQuery) -> StoreResult<Vec<Thread>> {
        with_client!(self, |c| ops::threads(&c, q))
    }

    async fn thread(&self, uuid: &str) -> StoreResult<Option<Thread>> {
        with_client!(self, |c| ops::thread(&c, uuid))
    }

    async fn store_id(&self) -> StoreResult<String> {
        with_client!(self, |c| ops::store_id(&c))
    }

    async fn export_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        with_client!(self, |c| ops::export_tokens(&c))
    }

    async fn export_threads(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Thread>> {
        with_client!(self, |c| ops::export_threads(&c, after, limit))
    }

    async fn export_messages(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageRecord>> {
        with_client!(self, |c| ops::export_messages(&c, after_id, limit))
    }

    async fn import_batch(&self, batch: Vec<ImportRecord>) -> StoreResult<ImportStats> {
        if batch.is_empty() {
            return Ok(ImportStats::default());
        }
        // One transaction per batch. Message ids come from message_seq like
        // any insert: its row lock (taken at the batch's first new message)
        // is held until the commit, so ids follow batch order and commit in
        // id order with every other writer's.
        let event = CredentialEvent::of_import(&batch);
        let (stats, max_id) = in_tx!(self, |tx| live::noting(&tx, event, ops::import_batch(&tx, batch)))?;
        if let Some(id) = max_id {
            publish(&self.max_id, id);
        }
        Ok(stats)
    }

    fn subscribe(&self) -> watch::Receiver<i64> {
        self.max_id.subscribe()
    }

    async fn mint_thread_as(&self, name: &str, session_id: Option<&str>, minter: Option<&str>) -> StoreResult<Thread> {
        in_tx!(self, |tx| ops::mint_thread(&tx, name, session_id, minter))
    }

    async fn purge_peer(&self, name: &str) -> StoreResult<Purged> {
        in_tx!(self, |tx| live::noting(&tx, Some(CredentialEvent::Peer(name.to_owned())), ops::purge_peer(&tx, name)))
    }

    async fn set_peer_secret_guard(&self, name: &str, policy: Option<&str>) -> StoreResult<Peer> {
        in_tx!(self, |tx| ops::set_peer_secret_guard(&tx, name, policy))
    }

    async fn message_heads(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageHead>> {
        with_client!(self, |c| live::message_heads(&c, after_id, limit))
    }

    fn subscribe_credentials(&self) -> broadcast::Receiver<CredentialEvent> {
        self.credentials.subscribe()
    }

    async fn insert_message_between_peers(&self, msg: NewMessage) -> StoreResult<Inserted> {
        self.insert(msg, true).await
    }

    fn observe_commits(&self, observer: Arc<dyn meshgate_store::CommitObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    async fn purge_expired(
        &self,
        policy: &meshgate_store::Retention,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<meshgate_store::PurgePass> {
        in_tx!(self, |tx| ops::purge_expired(&tx, policy, after_id, limit))
    }

    async fn mark_delivered(&self, ids: Vec<i64>) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        in_tx!(self, |tx| ops::mark_delivered(&tx, &ids))
    }

    async fn message_status(&self, id: i64) -> StoreResult<Option<MessageStatus>> {
        with_client!(self, |c| ops::message_status(&c, id))
    }

    async fn obligations(&self, q: &ObligationQuery) -> StoreResult<Obligations> {
        with_client!(self, |c| ops::obligations(&c, q))
    }

    async fn receipts(&self, sender: &str, after: (i64, i64), limit: u32) -> StoreResult<Vec<Receipt>> {
        with_client!(self, |c| ops::receipts(&c, sender, after, limit))
    }

    async fn receipt_head(&self) -> StoreResult<i64> {
        with_client!(self, |c| ops::receipt_head(&c))
    }

    async fn prior_message(&self, msg: &NewMessage) -> StoreResult<Option<Inserted>> {
        let Some(key) = &msg.idempotency_key else { return Ok(None) };
        let digest = msg.digest();
        with_client!(self, |c| async { ops::prior_for_key(&c, &msg.from_node, key, &digest).await?.transpose() })
    }

    async fn search(&self, q: &meshgate_store::SearchQuery) -> StoreResult<meshgate_store::SearchPage> {
        self.guard(async {
            let mut c = self.client().await?;
            ops::search(&mut c, q).await
        })
        .await
    }

    async fn visit_messages(&self, q: &MessageQuery, sink: &mut dyn RowSink) -> StoreResult<()> {
        with_client!(self, |c| ops::visit_messages(&c, q, sink))
    }
}
