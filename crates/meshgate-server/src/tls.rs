//! TLS for the listener (rustls, ring provider): the certificate in use,
//! its reloading, and the stream type connections are served on.
//!
//! - **Reloading.** The certificate chain and key live behind a resolver
//!   ([`Reloading`]) that hands each handshake the current pair. A task
//!   polls the files' size, modification time and inode every
//!   [`TlsSettings::reload_every`] and reloads on SIGHUP; a reload that
//!   fails (unreadable file, not a regular file, over [`MAX_PEM_FILE`],
//!   bad PEM, key not matching the certificate) keeps the old pair and
//!   logs why. The listener is never rebound, so
//!   a renewal drops no connection.
//! - **The handshake is part of the connection.** [`Stream`] performs it
//!   lazily on the first read or write, inside the connection task that
//!   admission ([`crate::conns`]) already counts, caps and can shed; it must
//!   finish within [`TlsSettings::handshake_timeout`], so a client that opens
//!   TCP and never completes it holds its slot only that long.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Where the certificate and key are, and how the listener treats them.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1); refused if every user may
    /// read or write it.
    pub key: PathBuf,
    /// How often the files are checked for changes.
    pub reload_every: Duration,
    /// Time a client gets to complete the TLS handshake.
    pub handshake_timeout: Duration,
}

impl TlsSettings {
    /// `cert` and `key` with the default intervals (checked every 5 s,
    /// 10 s to complete a handshake).
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        TlsSettings {
            cert: cert.into(),
            key: key.into(),
            reload_every: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl TlsSettings {
    /// Loads the certificate and key once, as [`crate::serve`] will: the
    /// error names the file and what is wrong with it. For a start-up check
    /// before anything else is opened.
    pub fn check(&self) -> Result<(), String> {
        Files { cert: self.cert.clone(), key: self.key.clone() }.load().map(drop)
    }
}

/// The TLS side of one listener: the acceptor and the reload task.
pub(crate) struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for Tls {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl Tls {
    /// Loads the pair named by `settings` (an error says which file and
    /// what is wrong) and starts watching the files.
    pub(crate) fn start(settings: &TlsSettings) -> io::Result<Arc<Tls>> {
        let files = Files { cert: settings.cert.clone(), key: settings.key.clone() };
        let first = files.load().map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        let resolver = Arc::new(Reloading { current: RwLock::new(Arc::new(first)) });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let watcher = tokio::spawn(watch(files, resolver, settings.reload_every));
        Ok(Arc::new(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            handshake_timeout: settings.handshake_timeout,
            watcher,
        }))
    }
}

/// The certificate and key files.
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

/// What identifies one version of a file without reading it.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.modified().ok()?, meta.len(), inode))
}

impl Files {
    fn stamps(&self) -> (Stamp, Stamp) {
        (stamp(&self.cert), stamp(&self.key))
    }

    /// Reads and checks the pair; the error names the file and the problem.
    fn load(&self) -> Result<CertifiedKey, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let read = |path: &Path, what: &str| read_pem_file(path, what);
        let cert_pem = read(&self.cert, "certificate")?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("TLS certificate {} is not valid PEM: {e}", self.cert.display()))?;
        if chain.is_empty() {
            return Err(format!("TLS certificate {} holds no CERTIFICATE block", self.cert.display()));
        }
        let key_pem = read(&self.key, "key")?;
        refuse_public_key_file(&self.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("TLS key {} holds no usable private key: {e}", self.key.display()))?;
        CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider()).map_err(|e| {
            format!("TLS key {} does not fit certificate {}: {e}", self.key.display(), self.cert.display())
        })
    }
}

/// Largest certificate or key file read: a chain is a few KiB, and a path
/// that names something else (a symlink to `/dev/zero`, a huge file) must
/// not make the gateway read it into memory.
pub const MAX_PEM_FILE: u64 = 1 << 20;

/// Reads a certificate or key file: a regular file (after symlinks) of at
/// most [`MAX_PEM_FILE`] bytes, also if it grows while being read.
fn read_pem_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let fail = |e: &dyn std::fmt::Display| format!("cannot read the TLS {what} {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let meta = file.metadata().map_err(|e| fail(&e))?;
    if !meta.is_file() {
        return Err(fail(&"not a regular file"));
    }
    let too_big = || fail(&format_args!("larger than {MAX_PEM_FILE} bytes"));
    if meta.len() > MAX_PEM_FILE {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes).map_err(|e| fail(&e))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Refuses a key file every user of the machine may read or write (as ssh
/// refuses such a key); group access is allowed (e.g. an `ssl-cert` group).
fn refuse_public_key_file(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        if mode & 0o006 != 0 {
            return Err(format!(
                "TLS key {} is readable or writable by every user (mode {mode:04o}): chmod 600 {} (or 640 with a \
                 group the gateway's user is in)",
                path.display(),
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Hands every handshake the current certificate.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner())))
    }
}

/// Reloads the pair when the files change (polled every `every`) or on
/// SIGHUP. A failed reload keeps the old pair; the same files are not
/// retried until they change again (or the next SIGHUP).
async fn watch(files: Files, resolver: Arc<Reloading>, every: Duration) {
    let mut seen = files.stamps();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = tick.tick() => false,
            () = hangup => true,
        };
        let now = files.stamps();
        if !forced && now == seen {
            continue;
        }
        seen = now;
        match files.load() {
            Ok(pair) => {
                *resolver.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(pair);
                tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
            }
            Err(why) => tracing::warn!("TLS reload failed, still serving the previous certificate: {why}"),
        }
    }
}

/// Without TLS there is nothing to reload, but SIGHUP (README's systemd
/// unit sends it on `systemctl reload`) must not end the gateway, its
/// default action: each one is logged and otherwise ignored.
pub(crate) fn ignore_hangups() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut hup) => {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: no TLS certificate configured, nothing to reload");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot handle SIGHUP"),
        }
    })
}

/// A connection's socket: plain TCP, or TLS whose handshake runs on the
/// first read or write, within the handshake timeout.
pub(crate) enum Stream {
    /// No TLS configured.
    Plain(TcpStream),
    /// Handshake in progress.
    Handshake(Box<(tokio_rustls::Accept<TcpStream>, Pin<Box<Sleep>>)>),
    /// Handshake done.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Handshake failed or timed out.
    Failed,
}

impl Stream {
    /// `tcp` as is, or wrapped for a TLS handshake if `tls` is set.
    pub(crate) fn new(tcp: TcpStream, tls: Option<&Tls>) -> Self {
        match tls {
            None => Stream::Plain(tcp),
            Some(tls) => Stream::Handshake(Box::new((
                tls.acceptor.accept(tcp),
                Box::pin(tokio::time::sleep(tls.handshake_timeout)),
            ))),
        }
    }

    /// Drives the handshake; `Ready(Ok)` once the stream is `Plain` or `Tls`.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Stream::Handshake(pending) = self else {
            return match self {
                Stream::Failed => Poll::Ready(Err(io::Error::new(io::ErrorKind::NotConnected, "TLS handshake failed"))),
                _ => Poll::Ready(Ok(())),
            };
        };
        let (accept, deadline) = &mut **pending;
        let result = match Pin::new(accept).poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => {
                ready!(deadline.as_mut().poll(cx));
                Err(io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake did not complete in time"))
            }
        };
        match result {
            Ok(stream) => {
                *self = Stream::Tls(Box::new(stream));
                Poll::Ready(Ok(()))
            }
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                *self = Stream::Failed;
                Poll::Ready(Err(e))
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_ready(cx))?;
        match this {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            _ => unreachable!("poll_ready left a handshake state"),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_ready(cx))?;
        match this {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            _ => unreachable!("poll_ready left a handshake state"),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_ready(cx))?;
        match this {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
            _ => unreachable!("poll_ready left a handshake state"),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
            _ => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            // Nothing was sent; dropping the stream closes the socket.
            _ => Poll::Ready(Ok(())),
        }
    }
}
