//! The heads (id, sender, recipient) of the messages this store's writer
//! committed last, kept in memory for the wake-up hub
//! ([`Store::committed_heads`](meshgate_store::Store::committed_heads)).
//!
//! After every commit that inserted messages the hub asks which peers they
//! concern. Read from the file, that was a hop to the blocking pool and a
//! read transaction per batch (about 11,000 instructions and one system
//! call per send, see bench/RESULTS.md "Send path, session 7"). The writer
//! already reads the batch's new rows to index them, so it hands their heads
//! here before it publishes the new highest id.
//!
//! The ring is exact for the ids it covers: every message with an id in
//! `(complete_after, upto]` is one this writer committed, because the
//! writer takes the newest id at the start of each batch inside the write
//! lock. When that id is not where the previous batch ended, rows were
//! written (or the newest deleted) by someone else in between, e.g. a
//! `meshgate import` into the same file: the ring starts over above them
//! and a cursor below its start is answered from the file. A message
//! deleted after its commit may still be named: a wake-up is only a hint.

use std::collections::VecDeque;
use std::sync::Mutex;

use meshgate_store::MessageHead;

/// Most heads kept (a batch with more is not kept at all). The hub reads
/// right after each commit, so it is rarely more than a batch behind.
pub(crate) const CAPACITY: usize = 1024;

/// The ring, shared by the writer (which fills it) and the store (which reads it).
pub(crate) struct Recent(Mutex<Ring>);

struct Ring {
    /// Every committed message with an id above this and at most `upto` is in `heads`.
    complete_after: i64,
    /// The newest id when the last recorded batch ended.
    upto: i64,
    /// In id order.
    heads: VecDeque<MessageHead>,
}

impl Recent {
    /// An empty ring for a store whose newest message id is `newest`.
    pub(crate) fn new(newest: i64) -> Self {
        Recent(Mutex::new(Ring { complete_after: newest, upto: newest, heads: VecDeque::new() }))
    }

    /// Records a committed batch: `before` is the newest id when it began,
    /// `heads` its new messages in id order (`None`: more than
    /// [`CAPACITY`], not kept), `newest` the newest id after it.
    pub(crate) fn committed(&self, before: i64, heads: Option<Vec<MessageHead>>, newest: i64) {
        let mut ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if before != ring.upto || heads.is_none() {
            // Someone else wrote (or deleted) in between, or the batch is
            // too large to keep: start over above what is known.
            ring.heads.clear();
            ring.complete_after = if heads.is_some() { before } else { newest };
        }
        ring.heads.extend(heads.unwrap_or_default());
        ring.upto = newest;
        while ring.heads.len() > CAPACITY {
            if let Some(dropped) = ring.heads.pop_front() {
                ring.complete_after = dropped.id;
            }
        }
    }

    /// Up to `limit` heads with an id above `after_id`, in id order, if the
    /// ring covers that cursor; `None`: read the file.
    pub(crate) fn after(&self, after_id: i64, limit: u32) -> Option<Vec<MessageHead>> {
        let ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if after_id < ring.complete_after {
            return None;
        }
        let start = ring.heads.partition_point(|h| h.id <= after_id);
        Some(ring.heads.range(start..).take(limit as usize).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(id: i64) -> MessageHead {
        MessageHead { id, from_node: "a".into(), to_node: "b".into() }
    }

    fn ids(heads: Option<Vec<MessageHead>>) -> Option<Vec<i64>> {
        heads.map(|h| h.into_iter().map(|h| h.id).collect())
    }

    #[test]
    fn answers_only_what_it_covers() {
        let recent = Recent::new(10);
        assert_eq!(ids(recent.after(10, 5)), Some(vec![]));
        assert_eq!(ids(recent.after(9, 5)), None, "below the ring's start: read the file");
        recent.committed(10, Some(vec![head(11), head(13)]), 13);
        assert_eq!(ids(recent.after(10, 5)), Some(vec![11, 13]));
        assert_eq!(ids(recent.after(11, 1)), Some(vec![13]));
        assert_eq!(ids(recent.after(13, 5)), Some(vec![]));
        // Rows 14..=20 came from another process: the ring starts over above them.
        recent.committed(20, Some(vec![head(21)]), 21);
        assert_eq!(ids(recent.after(13, 5)), None);
        assert_eq!(ids(recent.after(20, 5)), Some(vec![21]));
        // A batch too large to keep: nothing below its end is answered.
        recent.committed(21, None, 30);
        assert_eq!(ids(recent.after(21, 5)), None);
        assert_eq!(ids(recent.after(30, 5)), Some(vec![]));
    }

    #[test]
    fn keeps_at_most_its_capacity() {
        let recent = Recent::new(0);
        let n = CAPACITY as i64 + 10;
        recent.committed(0, Some((1..=n).map(head).collect()), n);
        assert_eq!(ids(recent.after(9, 1)), None, "the oldest ten were dropped");
        assert_eq!(ids(recent.after(10, 2)), Some(vec![11, 12]));
    }
}
