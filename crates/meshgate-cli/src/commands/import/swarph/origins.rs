//! Message origins of a swarph import that tell forked databases apart.
//!
//! Two copies of one swarph database that diverged (a backup restored on
//! another machine, say) share their source id and reuse the same message
//! ids for different DMs after the fork. An origin of `swarph:<source
//! id>:<id>` alone would make the second fork's new DMs look "already
//! present". So each row's origin also carries a row key: 16 hex digits of
//! SHA-256 over its sender, recipient, created_at and content,
//! `swarph:<source id>:<id>:<row key>`. Rows the forks share have equal
//! keys (stored once); rows that differ get their own origin (both kept);
//! re-importing a file finds every row present.
//!
//! Stores filled by an older meshgate hold `swarph:<source id>:<id>`
//! origins. Before importing, the target's messages with such a legacy
//! origin for this source are read once (one pass over the target's
//! messages); a row whose legacy origin is there with the same row key
//! keeps that origin (present), a row whose key differs is a fork's own DM
//! and gets the new origin.

use std::collections::HashMap;

use anyhow::{Context, Result};
use meshgate_proto::Message;
use meshgate_store::Store;
use sha2::{Digest, Sha256};

/// Messages read per page while looking for legacy origins.
const PAGE: u32 = 1000;

/// The row key of `m`: 16 hex digits of SHA-256 over its sender,
/// recipient, created_at and content (each length-prefixed).
pub(super) fn row_key(m: &Message) -> String {
    let mut h = Sha256::new();
    for part in [&m.from_node, &m.to_node, &m.created_at, &m.content] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Source message id -> row key of each target message whose origin is the
/// legacy `swarph:<source_id>:<id>`.
pub(super) async fn legacy_keys(store: &dyn Store, source_id: &str) -> Result<HashMap<i64, String>> {
    let prefix = format!("swarph:{source_id}:");
    let mut out = HashMap::new();
    let mut after = 0;
    loop {
        let page = store.export_messages(after, PAGE).await.context("reading the target's message origins")?;
        let Some(last) = page.last() else { break };
        after = last.message.id;
        for record in &page {
            let legacy_id =
                record.origin.as_deref().and_then(|o| o.strip_prefix(&prefix)).and_then(|id| id.parse().ok());
            if let Some(id) = legacy_id {
                out.insert(id, row_key(&record.message));
            }
        }
    }
    Ok(out)
}

/// The origin for source row `m`: its legacy origin when the target holds
/// that very row under it, else the per-row origin.
pub(super) fn origin(source_id: &str, m: &Message, legacy: &HashMap<i64, String>) -> String {
    let key = row_key(m);
    match legacy.get(&m.id) {
        Some(stored) if *stored == key => format!("swarph:{source_id}:{}", m.id),
        _ => format!("swarph:{source_id}:{}:{key}", m.id),
    }
}
