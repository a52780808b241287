//! Name resolutions (peer or alias -> peer) kept in memory, so that
//! [`Store::resolve_name`](meshgate_store::Store::resolve_name) (twice per
//! send under the operator token) does not open a read transaction.
//!
//! A read transaction on a reader connection after each commit of the
//! writer resets that connection's pager and re-maps the file (system
//! calls and page faults), takes the shared-memory locks, and runs two
//! statements: about 9,000 instructions per lookup, see bench/RESULTS.md
//! "Send path, session 8".
//!
//! **Exact.** Only names of enabled peers are kept (a name that resolves
//! to nothing or to a disabled peer always asks the file, so a name
//! registered or re-enabled meanwhile is seen at once). An entry is dropped, with all others, when:
//! - a write job of this store that may change a peer or an alias (register,
//!   delete, purge, enable/disable, alias put/delete, import) was in the
//!   batch: the writer clears the map after the `COMMIT` and before it
//!   answers any job of the batch ([`WriteCtx::names_changed`]);
//! - another connection committed to the file (another process: `meshgate
//!   import`, `gc`, an `sqlite3` shell): the writer reads `PRAGMA
//!   data_version`, which moves only for other connections' commits, at the
//!   start of every batch, under the write lock.
//!
//! A lookup that missed notes the map's epoch before it reads the file and
//! keeps its answer only if no clear happened since, so an answer read
//! before a change can never be kept after the change's clear.
//!
//! Meshgate's own other processes never change or remove a name
//! (`import` adds peers and aliases and leaves existing ones as they are;
//! `gc` deletes DMs and threads; `backup` and `export` only read), so for
//! them the map is exact at every moment. Only a hand edit of `peers` or
//! `aliases` (an `sqlite3` shell) while the gateway runs is seen late: from
//! the gateway's next write batch on, so the first send after such an edit
//! may still resolve the old way (a repointed alias, a peer disabled by
//! hand); a peer deleted by hand is refused all the same (the insert's
//! re-check reads the file after the batch's clear).
//!
//! The writer uses the map too: a send's re-check that both ends are
//! still peers (in the insert's transaction) asks the map first
//! ([`WriteCtx::known_peer`]). Within a batch that is exact until a job of
//! the batch changes a name: the batch began under the write lock, with
//! other connections' commits already seen and the map cleared for them,
//! and the writer is the only one that writes.
//!
//! **Bounded.** At most [`MAX_ENTRIES`] names and [`MAX_BYTES`] of them;
//! past either, answers are not kept. Entries are names that resolve, so
//! their number is that of peers and aliases at most; a caller trying
//! random names adds nothing.
//!
//! [`WriteCtx::names_changed`]: crate::writer::WriteCtx::names_changed
//! [`WriteCtx::known_peer`]: crate::writer::WriteCtx::known_peer

use std::collections::HashMap;
use std::sync::Mutex;

use meshgate_store::Resolved;

/// Most names kept.
pub(crate) const MAX_ENTRIES: usize = 4096;

/// Most bytes of names kept (both strings of an entry plus
/// [`ENTRY_OVERHEAD`] each).
pub(crate) const MAX_BYTES: usize = 1 << 20;

/// Bytes counted per entry beyond its two strings (map slot, allocations).
const ENTRY_OVERHEAD: usize = 64;

/// The map, shared by the store (which reads and fills it) and the writer
/// (which clears it).
#[derive(Default)]
pub(crate) struct Names(Mutex<Map>);

#[derive(Default)]
struct Map {
    /// Counts clears: a lookup keeps its answer only under the epoch it began in.
    epoch: u64,
    entries: HashMap<Box<str>, Resolved>,
    bytes: usize,
}

/// Where a lookup stands: a kept answer, or the epoch to keep one under.
pub(crate) enum Lookup {
    /// The name's resolution.
    Hit(Resolved),
    /// Not kept; read the file, then [`Names::keep`] with this epoch.
    Miss(u64),
}

impl Names {
    fn map(&self) -> std::sync::MutexGuard<'_, Map> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept resolution of `name`, or the epoch a miss read under.
    pub(crate) fn get(&self, name: &str) -> Lookup {
        let map = self.map();
        match map.entries.get(name) {
            Some(r) => Lookup::Hit(r.clone()),
            None => Lookup::Miss(map.epoch),
        }
    }

    /// Keeps `resolved` for `name` if it names an enabled peer, nothing was
    /// cleared since `epoch` and the bounds allow. A disabled peer's name
    /// is read from the file every time: a refusal is rare, and kept it
    /// would outlast a re-enabling by hand until the gateway's next write.
    pub(crate) fn keep(&self, epoch: u64, name: &str, resolved: &Resolved) {
        if !resolved.enabled {
            return;
        }
        let mut map = self.map();
        let size = name.len() + resolved.canonical.len() + ENTRY_OVERHEAD;
        if map.epoch != epoch || map.entries.len() >= MAX_ENTRIES || map.bytes + size > MAX_BYTES {
            return;
        }
        if map.entries.insert(name.into(), resolved.clone()).is_none() {
            map.bytes += size;
        }
    }

    /// Whether `name` is kept as a peer's own name (not an alias).
    pub(crate) fn is_peer(&self, name: &str) -> bool {
        self.map().entries.get(name).is_some_and(|r| !r.via_alias)
    }

    /// Forgets every entry; lookups that began before do not keep theirs.
    pub(crate) fn clear(&self) {
        let mut map = self.map();
        map.epoch += 1;
        map.entries.clear();
        map.bytes = 0;
    }

    /// Names kept now.
    pub(crate) fn len(&self) -> usize {
        self.map().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str) -> Resolved {
        Resolved { canonical: name.into(), via_alias: false, enabled: true }
    }

    fn hit(names: &Names, name: &str) -> Option<Resolved> {
        match names.get(name) {
            Lookup::Hit(r) => Some(r),
            Lookup::Miss(_) => None,
        }
    }

    fn epoch(names: &Names, name: &str) -> u64 {
        match names.get(name) {
            Lookup::Hit(_) => panic!("{name} is kept"),
            Lookup::Miss(epoch) => epoch,
        }
    }

    #[test]
    fn an_answer_read_before_a_clear_is_not_kept() {
        let names = Names::default();
        let before = epoch(&names, "alpha");
        names.keep(before, "alpha", &peer("alpha"));
        assert_eq!(hit(&names, "alpha"), Some(peer("alpha")));
        let stale = epoch(&names, "beta");
        names.clear();
        assert_eq!(hit(&names, "alpha"), None);
        names.keep(stale, "beta", &peer("beta"));
        assert_eq!(hit(&names, "beta"), None, "read before the clear");
        let fresh = epoch(&names, "beta");
        names.keep(fresh, "beta", &peer("beta"));
        assert_eq!(hit(&names, "beta"), Some(peer("beta")));
    }

    #[test]
    fn a_disabled_peer_is_never_kept() {
        let names = Names::default();
        let disabled = Resolved { enabled: false, ..peer("gamma") };
        let e = epoch(&names, "gamma");
        names.keep(e, "gamma", &disabled);
        assert_eq!(hit(&names, "gamma"), None, "re-enabled by hand, it must be read again");
        assert!(!names.is_peer("gamma"));
    }

    #[test]
    fn keeps_at_most_its_bounds() {
        let names = Names::default();
        for i in 0..MAX_ENTRIES + 10 {
            let name = format!("peer-{i}");
            let e = epoch(&names, &name);
            names.keep(e, &name, &peer(&name));
        }
        assert_eq!(names.len(), MAX_ENTRIES);
        assert_eq!(hit(&names, &format!("peer-{MAX_ENTRIES}")), None);

        names.clear();
        let long = "x".repeat(MAX_BYTES / 8);
        for i in 0..10 {
            let name = format!("{long}{i}");
            let e = epoch(&names, &name);
            names.keep(e, &name, &peer(&name));
        }
        assert_eq!(names.len(), 3, "three entries of ~MAX_BYTES/4 each fit");
        assert!(names.map().bytes <= MAX_BYTES);
    }
}
