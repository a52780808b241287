//! Commits are reported to a [`CommitObserver`] (the gateway's metrics).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{msg, reg};
use crate::{CommitObserver, Store};

#[derive(Default)]
struct Seen {
    commits: AtomicUsize,
    jobs: AtomicUsize,
}

impl CommitObserver for Seen {
    fn committed(&self, jobs: usize, _commit: std::time::Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(jobs, Ordering::Relaxed);
    }
}

/// Once observed, every send's commit is reported with its batch size; a
/// second observer is refused (the first keeps getting the reports).
pub async fn commits_are_reported_to_the_observer(store: Arc<dyn Store>) {
    for name in ["oa", "ob"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let seen = Arc::new(Seen::default());
    assert!(store.observe_commits(Arc::clone(&seen) as Arc<dyn CommitObserver>), "the backend reports commits");
    assert!(!store.observe_commits(Arc::new(Seen::default())), "one observer per store");
    for i in 0..3 {
        store.insert_message_between_peers(msg("oa", "ob", &format!("m{i}"))).await.unwrap();
    }
    let (commits, jobs) = (seen.commits.load(Ordering::Relaxed), seen.jobs.load(Ordering::Relaxed));
    assert!((1..=3).contains(&commits), "{commits} commits reported");
    assert!(jobs >= 3, "{jobs} jobs reported for 3 sends");
}
