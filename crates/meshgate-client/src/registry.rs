//! Recipient resolution: built-in aliases, the gateway's alias table and a
//! process-wide cache of the gateway's peer registry.
//!
//! The cache is keyed by gateway URL, so two clients talking to two gateways
//! never see each other's peers (the Python `peer_registry` keeps one global
//! set). It is shared by every [`crate::Client`] in the process so that many
//! short-lived clients do not each re-read `GET /peers`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use meshgate_proto::suggestions;
use tokio::sync::RwLock;

/// Aliases every client resolves, whatever the gateway says: `{alias:
/// canonical}`. Equal to `swarph_shared.peer_registry.KNOWN_ALIASES`; each
/// entry is a nickname that once made DMs go missing.
pub const KNOWN_ALIASES: &[(&str, &str)] =
    &[("drop", "droplet"), ("lab-claude", "lab-ovh"), ("ws-lc", "workstation-lc")];

/// How long a registry snapshot is trusted for a hit without re-reading it.
/// A miss always re-reads, so this only bounds how long a removed peer stays
/// addressable from this process.
pub const REGISTRY_TTL: Duration = Duration::from_secs(60);

/// How old a snapshot may be and still be used when the gateway cannot be
/// reached (same hour as the Python `CACHE_GRACE_SECONDS`).
pub const REGISTRY_GRACE: Duration = Duration::from_secs(3600);

/// One read of a gateway's registry and alias table.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Names of enabled peers.
    pub(crate) names: BTreeSet<String>,
    /// Names of registered but disabled peers (refused as such, not as
    /// unknown).
    pub(crate) disabled: BTreeSet<String>,
    /// The gateway's alias table; `None` when the gateway has none
    /// (the reference gateway lacks `GET /aliases`).
    pub(crate) gateway_aliases: Option<HashMap<String, String>>,
    pub(crate) fetched_at: Instant,
}

/// A recipient that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recipient {
    /// Canonical, registered name to send to.
    pub(crate) canonical: String,
    /// The alias the caller wrote, if one was resolved.
    pub(crate) alias: Option<String>,
}

impl Snapshot {
    pub(crate) fn age(&self) -> Duration {
        self.fetched_at.elapsed()
    }

    /// Alias resolution: the gateway's table first (operator-managed, newest),
    /// then the built-in one.
    pub(crate) fn canonical_of<'a>(&'a self, name: &'a str) -> (&'a str, bool) {
        if let Some(c) = self.gateway_aliases.as_ref().and_then(|a| a.get(name)) {
            return (c, true);
        }
        match KNOWN_ALIASES.iter().find(|(alias, _)| *alias == name) {
            Some((_, canonical)) => (canonical, true),
            None => (name, false),
        }
    }

    /// `Some` when `name` (after alias resolution) is registered.
    pub(crate) fn resolve(&self, name: &str) -> Option<Recipient> {
        let (canonical, via_alias) = self.canonical_of(name);
        if !self.names.contains(canonical) {
            return None;
        }
        if via_alias {
            // Not a warning: the send's answer names the alias it resolved.
            tracing::debug!(alias = name, canonical, "recipient is an alias; sending to its canonical name");
        }
        Some(Recipient { canonical: canonical.to_owned(), alias: via_alias.then(|| name.to_owned()) })
    }

    /// The error for a name [`Snapshot::resolve`] refused, with the same
    /// suggestions the gateway would give ([`suggestions`]).
    pub(crate) fn not_found(&self, name: &str) -> crate::Error {
        let (canonical, _) = self.canonical_of(name);
        if self.disabled.contains(canonical) {
            return crate::Error::RecipientDisabled { name: canonical.to_owned() };
        }
        let aliases = self
            .gateway_aliases
            .iter()
            .flat_map(|a| a.keys().map(String::as_str))
            .chain(KNOWN_ALIASES.iter().map(|(a, _)| *a))
            .map(|alias| (alias, self.canonical_of(alias).0));
        let close = suggestions(name, self.names.iter().map(String::as_str), aliases);
        crate::Error::NotInRegistry { name: canonical.to_owned(), suggestions: close }
    }
}

type Cache = RwLock<HashMap<String, Arc<Snapshot>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The cached snapshot for `gateway`, however old.
pub(crate) async fn cached(gateway: &str) -> Option<Arc<Snapshot>> {
    cache().read().await.get(gateway).cloned()
}

/// Replaces the snapshot for `gateway`.
pub(crate) async fn store(gateway: &str, snapshot: Snapshot) -> Arc<Snapshot> {
    let snapshot = Arc::new(snapshot);
    cache().write().await.insert(gateway.to_owned(), Arc::clone(&snapshot));
    snapshot
}

/// Drops the snapshot for `gateway` so the next send re-reads the registry.
pub(crate) async fn forget(gateway: &str) {
    cache().write().await.remove(gateway);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(names: &[&str], gateway_aliases: Option<&[(&str, &str)]>) -> Snapshot {
        Snapshot {
            names: names.iter().map(|s| s.to_string()).collect(),
            disabled: BTreeSet::new(),
            gateway_aliases: gateway_aliases.map(|a| a.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            fetched_at: Instant::now(),
        }
    }

    #[test]
    fn built_in_aliases_match_swarph_shared() {
        let s = snapshot(&["droplet", "lab-ovh", "workstation-lc"], None);
        for (alias, canonical) in [("drop", "droplet"), ("lab-claude", "lab-ovh"), ("ws-lc", "workstation-lc")] {
            let r = s.resolve(alias).unwrap();
            assert_eq!(r.canonical, canonical);
            assert_eq!(r.alias.as_deref(), Some(alias));
        }
        assert_eq!(s.resolve("droplet").unwrap().alias, None);
    }

    #[test]
    fn gateway_aliases_take_precedence() {
        let s = snapshot(&["droplet", "dropbox"], Some(&[("drop", "dropbox")]));
        assert_eq!(s.resolve("drop").unwrap().canonical, "dropbox");
    }

    #[test]
    fn miss_lists_close_names() {
        let s = snapshot(&["droplet", "lab-ovh"], None);
        assert!(s.resolve("droplets").is_none());
        match s.not_found("droplets") {
            crate::Error::NotInRegistry { name, suggestions } => {
                assert_eq!(name, "droplets");
                assert_eq!(suggestions, vec!["droplet"]);
            }
            other => panic!("{other:?}"),
        }
        // An alias whose canonical peer is not registered is a miss too.
        let s = snapshot(&["lab-ovh"], None);
        assert!(matches!(s.not_found("drop"), crate::Error::NotInRegistry { name, .. } if name == "droplet"));
    }

    #[tokio::test]
    async fn cache_is_keyed_by_gateway() {
        store("http://a.invalid:1", snapshot(&["aa"], None)).await;
        store("http://b.invalid:1", snapshot(&["bb"], None)).await;
        assert!(cached("http://a.invalid:1").await.unwrap().names.contains("aa"));
        assert!(!cached("http://b.invalid:1").await.unwrap().names.contains("aa"));
        forget("http://a.invalid:1").await;
        assert!(cached("http://a.invalid:1").await.is_none());
    }

    #[test]
    fn a_disabled_peer_is_reported_as_disabled() {
        let mut s = snapshot(&["droplet"], None);
        s.disabled.insert("carol".into());
        assert!(s.resolve("carol").is_none());
        assert!(matches!(s.not_found("carol"), crate::Error::RecipientDisabled { name } if name == "carol"));
        assert!(matches!(s.not_found("dave"), crate::Error::NotInRegistry { .. }));
    }
}
