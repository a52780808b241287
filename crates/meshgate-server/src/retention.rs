//! Retention: deleting read DMs older than `--retain-days` (and unread ones
//! older than `--retain-unread-days`, if set), off the hot path.
//!
//! A pass walks all messages in id order in batches of [`BATCH`] through
//! [`Store::purge_expired`] (reading id, times and thread of each; imported
//! DMs keep old times under new ids, so there is no early stop), pausing
//! [`PAUSE`] between batches so sends queue between them (SQLite: each
//! batch is one writer job among the sends). `serve` runs a pass every
//! [`EVERY`]; `meshgate gc` runs one by hand.

use std::time::Duration;

use meshgate_store::{timestamp_ago, Retention, Store, StoreResult};

/// DMs examined per store call.
pub const BATCH: u32 = 1_000;

/// Pause between batches of a pass.
pub const PAUSE: Duration = Duration::from_millis(20);

/// Time between passes in `serve`.
pub const EVERY: Duration = Duration::from_secs(300);

/// `--retain-days` / `--retain-unread-days`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetainDays {
    /// Read DMs go once read this many days ago; `None`: kept.
    pub read: Option<u32>,
    /// Unread DMs go once this many days old; `None`: kept.
    pub unread: Option<u32>,
}

impl RetainDays {
    /// True when anything is purged.
    pub fn is_on(&self) -> bool {
        self.read.is_some() || self.unread.is_some()
    }

    /// The cutoffs as of now.
    pub fn policy(&self) -> Retention {
        let ago = |days: u32| timestamp_ago(Duration::from_secs(u64::from(days) * 86_400));
        Retention { read_before: self.read.map(ago), unread_before: self.unread.map(ago) }
    }
}

/// What a pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purge {
    /// DMs deleted.
    pub messages: u64,
    /// Threads deleted (emptied by the pass, unused since the cutoff).
    pub threads: u64,
    /// Store calls made.
    pub batches: u64,
}

/// Runs one pass with `policy` to its end, `pause` between batches.
pub async fn purge_pass(store: &dyn Store, policy: &Retention, pause: Duration) -> StoreResult<Purge> {
    let mut total = Purge::default();
    let mut after = 0;
    loop {
        let pass = store.purge_expired(policy, after, BATCH).await?;
        total.messages += pass.messages;
        total.threads += pass.threads;
        total.batches += 1;
        if pass.done || pass.next_after_id <= after {
            return Ok(total);
        }
        after = pass.next_after_id;
        tokio::time::sleep(pause).await;
    }
}

/// The background task of `serve`: a pass every `every` (the first after
/// one `every`), logged when it deleted anything.
pub(crate) async fn run(store: std::sync::Arc<dyn Store>, days: RetainDays, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match purge_pass(store.as_ref(), &days.policy(), PAUSE).await {
            Ok(p) if p.messages > 0 || p.threads > 0 => {
                tracing::info!(messages = p.messages, threads = p.threads, batches = p.batches, "retention pass");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying at the next one"),
        }
    }
}
