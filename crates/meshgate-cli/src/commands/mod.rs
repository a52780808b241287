//! One module per subcommand, plus what they share: the global options and
//! how they turn into an authenticated [`Client`].

pub mod alias;
pub mod backup;
pub mod completions;
pub mod export;
pub mod gc;
pub mod hooks;
pub mod import;
pub mod inbox;
pub mod loops;
pub mod mcp;
pub mod peers;
pub mod read;
pub mod register;
pub mod reply;
pub mod scan;
pub mod search;
pub mod send;
pub mod serve;
pub mod serve_lock;
pub mod serve_traffic;
pub mod status;
pub mod thread;
pub mod todo;
pub mod token;
pub mod wait;
pub mod watch;

use std::time::Duration;

use anyhow::{Context, Result};
use meshgate_client::{Client, DEFAULT_GATEWAY_URL, GATEWAY_TOKEN_ENV};

use crate::exit::usage;
use crate::tokens::{TokenStore, STORED_SOURCE_PREFIX};

/// The client's node name for operator commands run without `--as`.
const OPERATOR_NODE: &str = "operator";

/// Per-request timeout when `--timeout` is not given.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: f64 = 10.0;

/// Options every subcommand accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Act as this peer (its stored per-peer token is used when there is one).
    #[arg(long = "as", value_name = "NAME", env = "MESH_NODE", global = true)]
    pub identity: Option<String>,

    /// Gateway base URL.
    #[arg(long, value_name = "URL", env = "MESH_GATEWAY_URL", default_value = DEFAULT_GATEWAY_URL, global = true)]
    pub gateway: String,

    /// Per-request timeout in seconds (default 10). For `wait`: how long to wait for a message (default: no limit).
    #[arg(long, value_name = "SECS", global = true)]
    pub timeout: Option<f64>,

    /// More diagnostics on stderr (-vv for debug). Never prints tokens or message bodies.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl Global {
    /// The identity, or a usage error saying how to give one.
    pub fn identity(&self) -> Result<&str> {
        self.identity
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| crate::exit::advised("no identity: pass --as NAME or set MESH_NODE"))
    }

    /// The per-request timeout in seconds (`--timeout`, default 10; `wait`
    /// uses `--timeout` for itself and keeps the default here).
    pub fn request_timeout(&self) -> f64 {
        self.timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS)
    }

    /// A client acting as the identity: its stored per-peer token if there is
    /// one for this gateway, else `MESH_GATEWAY_TOKEN`.
    pub async fn client(&self) -> Result<Client> {
        self.client_with_timeout(self.request_timeout()).await
    }

    /// A client for commands that need no identity (listing peers, threads
    /// and aliases, operator actions on other peers): acts as `--as NAME`
    /// when given, else with `MESH_GATEWAY_TOKEN` alone, as the operator.
    pub async fn admin_client(&self) -> Result<Client> {
        if self.identity.as_deref().is_some_and(|s| !s.is_empty()) {
            return self.client().await;
        }
        // The node name is required by the client but unused by these
        // requests, which never name the caller.
        self.operator_client(OPERATOR_NODE)
    }

    /// A client named `node` that uses `MESH_GATEWAY_TOKEN` alone, never a
    /// stored per-peer token (which may be a dead one).
    pub fn operator_client(&self, node: &str) -> Result<Client> {
        if std::env::var_os(GATEWAY_TOKEN_ENV).is_none_or(|t| t.is_empty()) {
            return Err(crate::exit::advised(format!(
                "no identity: pass --as NAME, or set {GATEWAY_TOKEN_ENV} to act as the operator"
            )));
        }
        Client::builder()
            .node(node)
            .gateway(&self.gateway)
            .timeout(Duration::from_secs_f64(self.request_timeout().clamp(0.1, 3600.0)))
            .build()
            .context("configuring the client")
    }

    /// Like [`Global::client`] with an explicit per-request timeout.
    pub async fn client_with_timeout(&self, timeout_secs: f64) -> Result<Client> {
        let node = self.identity()?;
        let store = TokenStore::locate()?;
        let mut builder = Client::builder()
            .node(node)
            .gateway(&self.gateway)
            .timeout(Duration::from_secs_f64(timeout_secs.clamp(0.1, 3600.0)));
        if let Some(stored) = store.load(&self.gateway, node).await? {
            builder = builder.token_from(stored.token, format!("{STORED_SOURCE_PREFIX}{}", stored.path.display()));
        } else if std::env::var_os(GATEWAY_TOKEN_ENV).is_none() {
            tracing::info!("no per-peer token stored for {node} and {GATEWAY_TOKEN_ENV} is unset");
        }
        builder.build().context("configuring the client")
    }
}

/// Where a message body comes from: an argument, a file, or stdin (`-`).
#[derive(Debug, Clone, clap::Args)]
pub struct ContentArgs {
    /// Message text; `-` reads it from stdin.
    #[arg(value_name = "CONTENT", conflicts_with = "content_file")]
    pub content: Option<String>,

    /// Read the message text from a file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub content_file: Option<std::path::PathBuf>,
}

impl ContentArgs {
    /// The message text; refuses an empty one.
    pub async fn read(&self) -> Result<String> {
        let text = match (&self.content, &self.content_file) {
            (Some(text), None) if text == "-" => read_stdin().await?,
            (Some(text), None) => text.clone(),
            (None, Some(path)) if path.as_os_str() == "-" => read_stdin().await?,
            (None, Some(path)) => {
                tokio::fs::read_to_string(path).await.with_context(|| format!("reading {}", path.display()))?
            }
            _ => {
                return Err(crate::exit::advised(
                    "no message: give it as an argument, with --content-file FILE, or as - to read stdin",
                ))
            }
        };
        if text.trim().is_empty() {
            return Err(usage("the message is empty"));
        }
        Ok(text)
    }
}

async fn read_stdin() -> Result<String> {
    use tokio::io::AsyncReadExt;
    let mut text = String::new();
    tokio::io::stdin().read_to_string(&mut text).await.context("reading the message from stdin")?;
    Ok(text)
}
