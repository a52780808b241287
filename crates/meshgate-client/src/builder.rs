//! [`ClientBuilder`]: where a [`Client`]'s gateway, token, name and
//! timeouts come from (explicit values first, then the environment).

//! [`Client`]: one peer's connection to one gateway.

use std::sync::atomic::AtomicBool;
use std::sync::RwLock;
use std::time::Duration;

use meshgate_proto::validate_peer_name;
use reqwest::Url;

use crate::{Client, Error, Result};

/// Gateway used when neither the builder nor `MESH_GATEWAY_URL` names one.
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:8788";
/// Environment variable naming the gateway base URL.
pub const GATEWAY_URL_ENV: &str = "MESH_GATEWAY_URL";
/// Environment variable holding the shared (fallback) bearer token.
pub const GATEWAY_TOKEN_ENV: &str = "MESH_GATEWAY_TOKEN";
/// Per-request timeout when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The bearer token in use and a description of where it came from.
#[derive(Clone)]
pub(crate) struct Credential {
    pub(crate) token: Option<String>,
    pub(crate) source: String,
}

/// Builds a [`Client`]; unset values fall back to the environment.
#[derive(Default)]
pub struct ClientBuilder {
    gateway: Option<String>,
    credential: Option<Credential>,
    node: Option<String>,
    timeout: Option<Duration>,
    ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("gateway", &self.gateway)
            .field("token_source", &self.credential.as_ref().map(|c| &c.source))
            .field("node", &self.node)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl ClientBuilder {
    /// Gateway base URL (default: `MESH_GATEWAY_URL`, then
    /// [`DEFAULT_GATEWAY_URL`]).
    pub fn gateway(mut self, url: impl Into<String>) -> Self {
        self.gateway = Some(url.into());
        self
    }

    /// Bearer token (default: `MESH_GATEWAY_TOKEN`). Auth errors describe it
    /// as "explicit token"; use [`ClientBuilder::token_from`] to say more.
    pub fn token(self, token: impl Into<String>) -> Self {
        self.token_from(token, "explicit token")
    }

    /// Bearer token plus where it came from, e.g. `per-peer token from
    /// /home/x/.config/meshgate/tokens/host-8788/lab-ovh`. The description
    /// appears in auth errors; the token never does.
    pub fn token_from(mut self, token: impl Into<String>, source: impl Into<String>) -> Self {
        self.credential = Some(Credential { token: Some(token.into()), source: source.into() });
        self
    }

    /// This peer's canonical name (required).
    pub fn node(mut self, name: impl Into<String>) -> Self {
        self.node = Some(name.into());
        self
    }

    /// Per-request timeout (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A PEM bundle of CAs to trust besides the system roots (default:
    /// `MESHGATE_CA_FILE`, if set), for a gateway with a private CA.
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Validates the configuration and builds the HTTP pool.
    pub fn build(self) -> Result<Client> {
        let node = self.node.ok_or_else(|| Error::Config("no node name: call .node(NAME)".into()))?;
        validate_peer_name(&node)?;
        let raw =
            self.gateway.or_else(|| non_empty_env(GATEWAY_URL_ENV)).unwrap_or_else(|| DEFAULT_GATEWAY_URL.to_owned());
        let base = parse_gateway(&raw)?;
        let credential = self.credential.unwrap_or_else(|| match non_empty_env(GATEWAY_TOKEN_ENV) {
            Some(token) => Credential { token: Some(token), source: GATEWAY_TOKEN_ENV.to_owned() },
            None => Credential {
                token: None,
                source: format!("missing token (set {GATEWAY_TOKEN_ENV} or register this peer)"),
            },
        });
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let ca_file = self.ca_file.or_else(|| non_empty_env(crate::tls::CA_FILE_ENV).map(Into::into));
        let roots = match &ca_file {
            Some(path) => crate::tls::extra_roots(path)?,
            None => Vec::new(),
        };
        let http = http_builder(&roots)
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        // Streams have no overall deadline; only connecting is bounded (idle
        // connections are detected by the keep-alive watchdog instead).
        let stream_http = http_builder(&roots)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            stream_http,
            timeout,
            gateway_key: base.as_str().trim_end_matches('/').to_owned(),
            base,
            node,
            credential: RwLock::new(credential),
            bulk_read_missing: AtomicBool::new(false),
        })
    }
}

/// An HTTP client builder with the user agent and the extra trusted CAs
/// `roots` (besides the system's).
fn http_builder(roots: &[reqwest::Certificate]) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder().user_agent(concat!("meshgate-client/", env!("CARGO_PKG_VERSION")));
    for root in roots {
        builder = builder.add_root_certificate(root.clone());
    }
    builder
}

pub(crate) fn non_empty_env(key: &str) -> Option<String> {
    std::env::var(key).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_gateway(raw: &str) -> Result<Url> {
    let mut url =
        Url::parse(raw.trim()).map_err(|e| Error::Config(format!("gateway URL {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::Config(format!("gateway URL {raw:?} must be http(s)://HOST[:PORT]")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!("gateway URL {raw:?} must not have a query or fragment")));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_are_normalised() {
        assert_eq!(parse_gateway("http://h:1").unwrap().as_str(), "http://h:1/");
        assert_eq!(parse_gateway(" http://h:1/mesh ").unwrap().as_str(), "http://h:1/mesh/");
        assert!(parse_gateway("h:1").is_err());
        assert!(parse_gateway("ftp://h").is_err());
        assert!(parse_gateway("http://h/?x=1").is_err());
    }

    #[test]
    fn builder_requires_a_canonical_node() {
        assert!(matches!(Client::builder().build(), Err(Error::Config(_))));
        assert!(matches!(Client::builder().node("Bad_Name").gateway("http://h:1").build(), Err(Error::InvalidName(_))));
        let client = Client::builder()
            .node("lab-ovh")
            .gateway("http://127.0.0.1:9/")
            .token_from("t0k3n-value-123", "per-peer token from /x/lab-ovh")
            .build()
            .unwrap();
        assert_eq!(client.gateway(), "http://127.0.0.1:9");
        assert_eq!(client.url(&["peers", "a b"]).as_str(), "http://127.0.0.1:9/peers/a%20b");
        let debug = format!("{client:?}");
        assert!(!debug.contains("t0k3n"), "{debug}");
    }
}
