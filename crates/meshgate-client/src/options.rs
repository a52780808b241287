//! Option structs for the calls that have optional parts: [`FetchOptions`]
//! for [`Client::fetch`](crate::Client::fetch) and [`RegisterOptions`] for
//! [`Client::register`](crate::Client::register). Each starts from a
//! constructor that names the common case and is refined with chained
//! setters, so a call site reads as what it asks for.

/// A peer's capability map as stored by the gateway (`{"runtime": "claude"}`).
pub type Capabilities = serde_json::Map<String, JsonValue>;

/// A JSON value (a capability's value), re-exported so callers need no
/// `serde_json` dependency of their own.
pub use serde_json::Value as JsonValue;

/// What [`Client::fetch`](crate::Client::fetch) reads: an inbox page,
/// newest first.
///
/// ```
/// use meshgate_client::FetchOptions;
/// let unread = FetchOptions::unread().limit(20);
/// assert!(unread.unread_only && !unread.peek);
/// let everything = FetchOptions::all().to("droplet");
/// assert_eq!(everything.to.as_deref(), Some("droplet"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// Whose inbox (operator use); this peer's by default.
    pub to: Option<String>,
    /// Only messages not yet marked read.
    pub unread_only: bool,
    /// At most this many rows (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Look without recording a delivery (`peek=true`): the messages do not
    /// count as delivered to this peer.
    pub peek: bool,
}

impl FetchOptions {
    /// Every message in the inbox (read or not), newest first.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only unread messages.
    pub fn unread() -> Self {
        FetchOptions { unread_only: true, ..Self::default() }
    }

    /// Reads `name`'s inbox instead of the own one (operator token).
    pub fn to(mut self, name: impl Into<String>) -> Self {
        self.to = Some(name.into());
        self
    }

    /// At most `limit` rows.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets whether only unread messages are read.
    pub fn unread_only(mut self, unread_only: bool) -> Self {
        self.unread_only = unread_only;
        self
    }

    /// Looks without recording a delivery.
    pub fn peek(mut self) -> Self {
        self.peek = true;
        self
    }
}

/// What [`Client::register`](crate::Client::register) sends besides the
/// client's own name.
///
/// Unset parts keep the gateway's stored value; [`RegisterOptions::capability`]
/// adds to the map this call sends, which then replaces the stored map
/// wholesale (read the peer first to update one key).
///
/// ```
/// use meshgate_client::RegisterOptions;
/// let options = RegisterOptions::new().url("http://lab-ovh:8787").capability("runtime", "claude");
/// assert_eq!(options.capabilities.unwrap()["runtime"], "claude");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegisterOptions {
    /// The peer's own URL, if it serves one.
    pub url: Option<String>,
    /// The capability map to store (replaces the stored one).
    pub capabilities: Option<Capabilities>,
    /// Operator only: take over a deleted peer's retired name and its DMs
    /// (meshgate refuses a retired name otherwise: 409 `name_retired`).
    pub adopt_history: bool,
}

impl RegisterOptions {
    /// Nothing besides the name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the peer's URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Adds one capability (`"runtime"`, `"claude"`); values may be strings,
    /// numbers, booleans or any [`JsonValue`].
    pub fn capability(mut self, key: impl Into<String>, value: impl Into<JsonValue>) -> Self {
        self.capabilities.get_or_insert_with(Capabilities::new).insert(key.into(), value.into());
        self
    }

    /// Sets the whole capability map.
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = Some(capabilities);
        self
    }

    /// Adopts a retired name's history (see the field).
    pub fn adopt_history(mut self) -> Self {
        self.adopt_history = true;
        self
    }
}
