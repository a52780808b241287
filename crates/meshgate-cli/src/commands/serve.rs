//! `meshgate serve`: run the gateway.
//!
//! Composes the server library with a storage backend chosen by the `--db`
//! URL scheme. With no flags: `127.0.0.1:8788`, an SQLite file in the data
//! directory, an operator token from `MESH_GATEWAY_TOKEN` or generated once
//! into `operator-token` (mode 0600) beside the database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use meshgate_server::bootstrap::{
    create_private_dir, default_data_dir, operator_token, private_data_dir, refuse_foreign_database, TokenSource,
    OPERATOR_TOKEN_FILE,
};
use meshgate_server::{Config, SecretGuard};
use meshgate_store::Store;
use meshgate_store_postgres::{PgOptions, PgStore};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore, DEFAULT_WAL_LIMIT};

/// Options of `meshgate serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", env = "MESHGATE_LISTEN", default_value = "127.0.0.1:8788")]
    pub listen: SocketAddr,

    /// Store URL: `sqlite:PATH` (default: meshgate.db in the data directory) or `postgres://...`.
    #[arg(long, value_name = "URL", env = "MESHGATE_DB")]
    pub db: Option<String>,

    /// Data directory for the default database and the generated operator token.
    #[arg(long, value_name = "DIR", env = "MESHGATE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Refuse the operator token (403 peer_token_required) wherever it would act as a peer or read a peer's mail
    /// for it: send, inbox (GET /messages, long-poll, stream), mark read, a message's ladder (GET /messages/{id}),
    /// obligations (GET /obligations); administration, threads and search stay the operator's.
    #[arg(long, env = "MESHGATE_REQUIRE_PEER_TOKENS", value_parser = env_bool("MESHGATE_REQUIRE_PEER_TOKENS"))]
    pub require_peer_tokens: bool,

    /// Store DMs to names that are not registered peers (the Python gateway's behaviour).
    #[arg(long, env = "MESHGATE_ALLOW_UNKNOWN_RECIPIENTS", value_parser = env_bool("MESHGATE_ALLOW_UNKNOWN_RECIPIENTS"))]
    pub allow_unknown_recipients: bool,

    /// What to do with message bodies that look like credentials.
    #[arg(long, value_name = "POLICY", env = "MESHGATE_SECRET_GUARD", default_value = "block",
          value_parser = ["block", "warn", "off"])]
    pub secret_guard: String,

    /// Open `GET /messages/stream` responses per peer; a newer one ends the peer's oldest (0: no cap).
    #[arg(long, value_name = "N", env = "MESHGATE_MAX_STREAMS_PER_PEER", default_value_t = 16)]
    pub max_streams_per_peer: usize,

    /// Waiting long-polls (`wait` > 0) per peer; a newer one makes the peer's oldest answer now (0: no cap).
    #[arg(long, value_name = "N", env = "MESHGATE_MAX_POLLS_PER_PEER", default_value_t = 16)]
    pub max_polls_per_peer: usize,

    /// Byte budget of one `GET /messages` or `GET /threads/{uuid}` page, and of one search's hits: a page stops before the row that would cross it (at least one row).
    #[arg(long, value_name = "BYTES", env = "MESHGATE_PAGE_MAX_BYTES", default_value_t = meshgate_proto::PAGE_BYTES_DEFAULT)]
    pub page_max_bytes: usize,

    /// Bytes of `GET /messages` pages kept for reuse while the store is unchanged (SQLite; 0: none kept).
    #[arg(long, value_name = "BYTES", env = "MESHGATE_PAGE_CACHE_BYTES", default_value_t = meshgate_server::config::PAGE_CACHE_BYTES_DEFAULT)]
    pub page_cache_bytes: usize,

    /// SQLite: MiB of write-ahead log after which it is restarted and its file cut back (0: unbounded).
    #[arg(long, value_name = "MIB", env = "MESHGATE_SQLITE_WAL_LIMIT", default_value_t = DEFAULT_WAL_LIMIT >> 20)]
    pub sqlite_wal_limit: u64,

    /// Most connections served at once (default: 3/4 of the raised file descriptor limit, at most 65536).
    #[arg(long, value_name = "N", env = "MESHGATE_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,

    /// Most not-yet-authenticated connections per client address (0: no limit; loopback exempt).
    #[arg(long, value_name = "N", env = "MESHGATE_MAX_UNAUTHENTICATED_PER_ADDRESS", default_value_t = 64)]
    pub max_unauthenticated_per_address: usize,

    /// Most not-yet-authenticated connections from all addresses together, loopback included; beyond,
    /// the oldest one that has had a second to authenticate is closed (0: no limit).
    #[arg(long, value_name = "N", env = "MESHGATE_MAX_UNAUTHENTICATED", default_value_t = 1024)]
    pub max_unauthenticated: usize,

    /// Requests in flight per peer until the response is fully written, before 429 `too_many_requests`
    /// (0: no cap; never more than half of --max-connections).
    #[arg(long, value_name = "N", env = "MESHGATE_MAX_REQUESTS_PER_PEER", default_value_t = 48)]
    pub max_requests_per_peer: usize,

    /// Bytes of unwritten responses and incoming request bodies one peer may hold (else 429 `too_many_bytes`; 0: no limit).
    #[arg(long, value_name = "BYTES", env = "MESHGATE_MAX_BUFFERED_BYTES_PER_PEER", default_value_t = 16 << 20)]
    pub max_buffered_bytes_per_peer: usize,

    /// The same for all callers together (else 503 `busy`; 0: no limit).
    #[arg(long, value_name = "BYTES", env = "MESHGATE_MAX_BUFFERED_BYTES", default_value_t = 256 << 20)]
    pub max_buffered_bytes: usize,

    /// Seconds a request body may take to arrive (else 408).
    #[arg(long, value_name = "SECS", env = "MESHGATE_BODY_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,

    /// Seconds a write to a client may make no progress before the connection is dropped.
    #[arg(long, value_name = "SECS", env = "MESHGATE_WRITE_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout: u64,

    /// Seconds open connections get to finish after SIGTERM/SIGINT before they are dropped.
    #[arg(long, value_name = "SECS", env = "MESHGATE_SHUTDOWN_TIMEOUT", default_value_t = 10)]
    pub shutdown_timeout: u64,

    /// Serve TLS with this PEM certificate chain (needs --tls-key); reloaded when it changes or on SIGHUP.
    #[arg(long, value_name = "FILE", env = "MESHGATE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", env = "MESHGATE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Log lines as `text` or `json` (one JSON object per line, with the request's id in its span).
    #[arg(long, value_name = "FORMAT", env = "MESHGATE_LOG_FORMAT", default_value = "text",
          value_parser = ["text", "json"])]
    pub log_format: String,

    /// Serve plain HTTP on a non-loopback address: only where the network is already private (WireGuard, Tailscale).
    #[arg(long, env = "MESHGATE_ALLOW_PLAINTEXT", value_parser = env_bool("MESHGATE_ALLOW_PLAINTEXT"))]
    pub allow_plaintext: bool,

    /// Do not serve the web console at /ui (on by default; /ui is then a 404 like any unknown path).
    #[arg(long, env = "MESHGATE_NO_UI", value_parser = env_bool("MESHGATE_NO_UI"))]
    pub no_ui: bool,

    /// Send rate limit, conversation-loop breaker, metrics.
    #[command(flatten)]
    pub traffic: super::serve_traffic::TrafficArgs,
}

/// Runs the gateway until SIGINT or SIGTERM.
pub fn run(args: Args) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))?;
    Ok(0)
}

async fn serve(args: Args) -> Result<()> {
    survive_hangups_while_starting();
    refuse_plaintext_across_machines(&args)?;
    refuse_open_metrics(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = meshgate_server::TlsSettings::new(cert, key);
            tls.check().map_err(crate::exit::advised)?;
            Some(tls)
        }
        _ => None,
    };
    owner_only_umask();
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let db = store_url(args.db.as_deref(), Some(&data_dir));
    let env_token = std::env::var("MESH_GATEWAY_TOKEN").ok().filter(|t| !t.trim().is_empty());
    let sqlite = sqlite_path(&db);
    if let Some(path) = &sqlite {
        // Before the data directory, the lock file or any directory is made.
        refuse_foreign_database(path).context("opening the SQLite store")?;
        super::store_boundary::check_store_file(path)?;
    }
    if args.db.as_deref().is_none_or(|d| d.trim().is_empty()) || env_token.is_none() {
        // The data directory holds the database or the operator token.
        if let Some(old) =
            private_data_dir(&data_dir).with_context(|| format!("making {} private", data_dir.display()))?
        {
            tracing::info!("data directory {} was mode {old:04o}, now owner-only", data_dir.display());
        }
    }
    let mut _lock = None;
    if let Some(path) = sqlite {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        _lock = Some(super::serve_lock::lock(&path)?);
    }
    let wal_limit = Some(args.sqlite_wal_limit.saturating_mul(1 << 20)).filter(|&b| b > 0);
    let (store, db_dir) = open_store_with(&db, SqliteOptions { wal_limit, ..SqliteOptions::default() }).await?;
    // The operator token lives in the data directory, never beside a
    // database named by --db, whose directory may be shared.
    let token_dir = data_dir.clone();
    if env_token.is_none() {
        warn_of_token_beside_db(db_dir.as_deref(), &token_dir);
    }
    let (token, source) = operator_token(env_token.as_deref(), &token_dir)
        .with_context(|| format!("reading or creating the operator token in {}", token_dir.display()))?;
    match &source {
        TokenSource::Environment => tracing::info!("operator token: from MESH_GATEWAY_TOKEN"),
        TokenSource::File(p) => tracing::info!("operator token: {}", p.display()),
        TokenSource::Generated(p) => {
            tracing::info!("operator token: generated into {} (mode 0600)", p.display());
            eprintln!("meshgate: generated an operator token in {}", p.display());
        }
    }
    if token.expose().len() < meshgate_server::MIN_OPERATOR_TOKEN {
        tracing::warn!(
            "the operator token is shorter than {} characters: it can be guessed, and peers' DMs are not \
             checked for it; use a long random one (e.g. `openssl rand -base64 32`)",
            meshgate_server::MIN_OPERATOR_TOKEN
        );
    }
    let mut config = Config::new(token);
    config.require_peer_tokens = args.require_peer_tokens;
    config.allow_unknown_recipients = args.allow_unknown_recipients;
    config.secret_guard = args.secret_guard.parse::<SecretGuard>().map_err(anyhow::Error::msg)?;
    config.max_streams_per_peer = args.max_streams_per_peer;
    config.max_polls_per_peer = args.max_polls_per_peer;
    config.page_max_bytes = args.page_max_bytes;
    config.page_cache_bytes = args.page_cache_bytes;
    apply_connection_limits(&args, &mut config);
    config.tls = tls;
    config.ui.enabled = !args.no_ui;
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    args.traffic.apply(&mut config)?;

    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        // The --listen address cannot be used as given: a usage error (2).
        Err(e) if matches!(e.kind(), std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied) => {
            return Err(crate::exit::advised(format!(
                "cannot listen on {}: {e}; is another gateway running there? pass --listen HOST:PORT",
                args.listen
            )));
        }
        Err(e) => return Err(e).with_context(|| format!("binding {}", args.listen)),
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, scheme, "meshgate gateway listening");
    eprintln!("meshgate: listening on {scheme}://{addr}");
    if config.ui.enabled {
        eprintln!("meshgate: console: {scheme}://{addr}/ui");
    }
    meshgate_server::serve(listener, store, config, shutdown_signal()).await?;
    tracing::info!("meshgate gateway stopped");
    Ok(())
}

/// Refuses plain HTTP on an address other machines can reach, unless
/// `--allow-plaintext` says the network is private: bearer tokens would
/// cross it in clear text.
fn refuse_plaintext_across_machines(args: &Args) -> Result<()> {
    if args.tls_cert.is_none() && !args.allow_plaintext && !args.listen.ip().to_canonical().is_loopback() {
        return Err(crate::exit::advised(format!(
            "refusing to serve plain HTTP on {}: tokens would cross the network in clear text; use TLS \
             (--tls-cert FILE --tls-key FILE), or --allow-plaintext on WireGuard/Tailscale/private networks",
            args.listen
        )));
    }
    Ok(())
}

/// The value of an on/off flag's environment variable `var` (the flag
/// itself takes none): `true` or `false` only; a refusal names `var`, which
/// the user set without ever typing the flag.
fn env_bool(var: &'static str) -> impl Fn(&str) -> std::result::Result<bool, String> + Clone + Send + Sync + 'static {
    move |value| match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{var}={value}: use true or false")),
    }
}

/// Refuses `--metrics-listen` on an address other machines can reach unless
/// `--allow-plaintext` says the network is private: that listener is plain
/// HTTP without auth (also when the main one serves TLS), and its counters
/// show who talks how much to the gateway.
fn refuse_open_metrics(args: &Args) -> Result<()> {
    match args.traffic.metrics_listen {
        Some(addr) if !args.allow_plaintext && !addr.ip().to_canonical().is_loopback() => {
            Err(crate::exit::advised(format!(
                "refusing to serve metrics on {addr}: that listener is plain HTTP without auth, readable by anyone \
                 who can reach it; keep it on loopback (e.g. 127.0.0.1:9788), or pass --allow-plaintext on \
                 WireGuard/Tailscale/private networks"
            )))
        }
        _ => Ok(()),
    }
}

/// Warns when an `operator-token` sits beside the database but not in the
/// data directory (where earlier versions wrote it for `--db sqlite:PATH`):
/// that file is no longer read.
fn warn_of_token_beside_db(db_dir: Option<&Path>, data_dir: &Path) {
    let Some(db_dir) = db_dir else { return };
    let beside = db_dir.join(OPERATOR_TOKEN_FILE);
    if db_dir != data_dir && beside.exists() && !data_dir.join(OPERATOR_TOKEN_FILE).exists() {
        tracing::warn!(
            "{} is not used: the operator token lives in the data directory {}; move the file there to keep it",
            beside.display(),
            data_dir.display()
        );
    }
}

/// The connection caps and deadlines of `args`, into `config`.
fn apply_connection_limits(args: &Args, config: &mut Config) {
    config.max_connections = args.max_connections.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    config.max_unauthenticated_per_address = args.max_unauthenticated_per_address;
    config.max_unauthenticated = args.max_unauthenticated;
    config.max_requests_per_peer = args.max_requests_per_peer;
    config.max_buffered_bytes_per_peer = args.max_buffered_bytes_per_peer;
    config.max_buffered_bytes = args.max_buffered_bytes;
    config.body_timeout = std::time::Duration::from_secs(args.body_timeout);
    config.write_timeout = std::time::Duration::from_secs(args.write_timeout);
    config.shutdown_timeout = std::time::Duration::from_secs(args.shutdown_timeout);
}

/// The store URL `meshgate serve` uses: `db` (`--db` / `MESHGATE_DB`) if
/// given, else `sqlite:<data dir>/meshgate.db`, the data directory being
/// `data_dir` (`--data-dir` / `MESHGATE_DATA_DIR`) or the default one.
pub(crate) fn store_url(db: Option<&str>, data_dir: Option<&Path>) -> String {
    match db.filter(|d| !d.trim().is_empty()) {
        Some(db) => db.to_owned(),
        None => {
            let dir = data_dir.map(Path::to_path_buf).unwrap_or_else(default_data_dir);
            format!("sqlite:{}", dir.join("meshgate.db").display())
        }
    }
}

/// The file of a `sqlite:` store URL; `None` for other schemes.
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).map(PathBuf::from)
}

/// Opens the store named by `url` (`sqlite:PATH` or `postgres://...`);
/// returns it and, for file stores, the directory the operator token lives
/// in.
pub(crate) async fn open_store(url: &str) -> Result<(Arc<dyn Store>, Option<PathBuf>)> {
    open_store_with(url, SqliteOptions::default()).await
}

/// [`open_store`] with the SQLite tuning `sqlite` (unused for PostgreSQL).
async fn open_store_with(url: &str, sqlite: SqliteOptions) -> Result<(Arc<dyn Store>, Option<PathBuf>)> {
    if let Some(path) = sqlite_path(url) {
        super::store_boundary::check_store_file(&path)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).map(PathBuf::from).unwrap_or_else(|| ".".into());
        create_private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path, sqlite))
            .await?
            .context("opening the SQLite store")?;
        return Ok((Arc::new(store), Some(dir)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // No file beside the database: the operator token lives in the data
        // directory (`None` makes the caller use it).
        let store = PgStore::connect(url, PgOptions::default()).await.context("connecting to the PostgreSQL store")?;
        return Ok((Arc::new(store), None));
    }
    bail!("unsupported --db URL {url:?}: expected sqlite:PATH or postgres://...")
}

/// Everything the gateway creates from here on (database, WAL, temporary
/// files, directories) is for its user only: the files hold every DM.
fn owner_only_umask() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Takes SIGHUP away from its default action (ending the process) before
/// anything else: a `systemctl reload` during start-up must not stop the
/// gateway. Tokio keeps the handler for the life of the process; once
/// serving, the server reloads TLS on it or logs that there is nothing to
/// reload.
fn survive_hangups_while_starting() {
    #[cfg(unix)]
    if let Err(e) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tracing::warn!(error = %e, "cannot handle SIGHUP");
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM; `watch` stops on it too.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
