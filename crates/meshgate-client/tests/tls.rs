//! TLS end to end: the real gateway (in-process, SQLite in a temp dir)
//! serving a certificate from a CA made in the test, and the real client.
//! Trust through the CA file, refusals that name the certificate problem,
//! reloading a renewed certificate without rebinding, the handshake
//! deadline and per-address cap on connections that never finish it, and
//! the body deadline and connection cap on TLS connections.

use crate::tls_fixture;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meshgate_client::{Client, Error, Kind, SendOptions};
use meshgate_server::{Config, OperatorToken, TlsSettings};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};
use tls_fixture::{server_files, write, Ca};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OPERATOR: &str = "operator-tls-test-token-0123456789";

struct Gateway {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    async fn start(dir: &Path, tls: TlsSettings, tweak: impl FnOnce(&mut Config)) -> Gateway {
        let store = SqliteStore::open(&dir.join("meshgate.db"), SqliteOptions::default()).unwrap();
        let mut config = Config::new(OperatorToken::new(OPERATOR));
        config.tls = Some(tls);
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(meshgate_server::serve(listener, Arc::new(store), config, async {
            let _ = stopped.await;
        }));
        Gateway { port, stop: Some(stop), task }
    }

    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

fn client(url: &str, node: &str, token: &str, ca: Option<&Path>) -> Client {
    let mut builder = Client::builder().gateway(url).node(node).token(token).timeout(Duration::from_secs(5));
    if let Some(ca) = ca {
        builder = builder.ca_file(ca);
    }
    builder.build().unwrap()
}

/// The transport failure of `result`, which must be one.
fn unreachable_reason<T: std::fmt::Debug>(result: meshgate_client::Result<T>) -> String {
    match result {
        Err(Error::Unreachable { reason, .. }) => reason,
        other => panic!("expected a transport failure, got {other:?}"),
    }
}

#[tokio::test]
async fn the_client_sends_and_reads_over_https_trusting_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, cert, key, ca_file) = server_files(dir.path());
    let gw = Gateway::start(dir.path(), TlsSettings::new(&cert, &key), |_| {}).await;
    for host in ["127.0.0.1", "localhost"] {
        let url = gw.url(host);
        let operator = client(&url, "alice", OPERATOR, Some(&ca_file));
        assert_eq!(operator.health().await.unwrap().status, "ok");
        let alice_token = operator.register(meshgate_client::RegisterOptions::new()).await.unwrap().peer_token;
        let bob = client(&url, "bob", OPERATOR, Some(&ca_file));
        let bob_token = bob.register(meshgate_client::RegisterOptions::new()).await.unwrap().peer_token;
        let alice = client(&url, "alice", alice_token.as_deref().unwrap_or(OPERATOR), Some(&ca_file));
        let sent = alice.send("bob", Kind::Fyi, &format!("over TLS via {host}"), SendOptions::new()).await.unwrap();
        let bob = client(&url, "bob", bob_token.as_deref().unwrap_or(OPERATOR), Some(&ca_file));
        let inbox = bob.fetch(meshgate_client::FetchOptions::unread()).await.unwrap();
        assert!(inbox.iter().any(|m| m.id == sent.id), "the DM sent over TLS is not in the inbox");
    }
    gw.stop().await;
}

#[tokio::test]
async fn certificate_failures_are_transport_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, cert, key, _ca_file) = server_files(dir.path());
    let gw = Gateway::start(dir.path(), TlsSettings::new(&cert, &key), |_| {}).await;

    // A CA that did not sign it, and no CA file at all: unknown issuer.
    let other = write(dir.path(), "other-ca.pem", &Ca::new("someone else").pem());
    for ca in [Some(other.as_path()), None] {
        let reason = unreachable_reason(client(&gw.url("127.0.0.1"), "alice", OPERATOR, ca).health().await);
        assert!(reason.contains("UnknownIssuer"), "{reason}");
        assert!(meshgate_client::is_certificate_problem(&reason), "{reason}");
    }
    // Plain HTTP to the TLS port is refused, not answered.
    let plain = client(&format!("http://127.0.0.1:{}", gw.port), "alice", OPERATOR, None);
    assert!(matches!(plain.health().await, Err(Error::Unreachable { .. } | Error::Decode { .. })));
    gw.stop().await;

    // A certificate for another name, and an expired one, from a trusted CA.
    let ca = Ca::new("meshgate test CA 2");
    let ca_file = write(dir.path(), "ca2.pem", &ca.pem());
    for (leaf, wanted) in
        [(ca.leaf(&["gateway.example"]), "not valid for name"), (ca.expired_leaf(&["127.0.0.1"]), "expired")]
    {
        let cert = write(dir.path(), "cert.pem", &leaf.0);
        let key = write(dir.path(), "key.pem", &leaf.1);
        let gw = Gateway::start(dir.path(), TlsSettings::new(&cert, &key), |_| {}).await;
        let reason = unreachable_reason(client(&gw.url("127.0.0.1"), "alice", OPERATOR, Some(&ca_file)).health().await);
        assert!(reason.contains(wanted), "{wanted}: {reason}");
        gw.stop().await;
    }
}

#[tokio::test]
async fn a_bad_ca_file_is_a_configuration_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = write(dir.path(), "garbage.pem", "not a certificate\n");
    for path in [garbage, dir.path().join("missing.pem")] {
        let built = Client::builder().gateway("https://127.0.0.1:1").node("alice").ca_file(&path).build();
        match built {
            Err(Error::Config(why)) => assert!(why.contains(&path.display().to_string()), "{why}"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_rebinding_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (_old_ca, cert, key, old_ca_file) = server_files(dir.path());
    let mut tls = TlsSettings::new(&cert, &key);
    tls.reload_every = Duration::from_millis(50);
    let gw = Gateway::start(dir.path(), tls, |_| {}).await;
    let url = gw.url("127.0.0.1");
    client(&url, "alice", OPERATOR, Some(&old_ca_file)).health().await.unwrap();

    // A broken renewal (a key that does not fit) keeps the old certificate.
    let new_ca = Ca::new("renewed CA");
    let new_ca_file = write(dir.path(), "new-ca.pem", &new_ca.pem());
    let (new_cert, new_key) = new_ca.leaf(&["127.0.0.1"]);
    write(dir.path(), "cert.pem", &new_cert);
    tokio::time::sleep(Duration::from_millis(300)).await;
    client(&url, "alice", OPERATOR, Some(&old_ca_file)).health().await.unwrap();

    // The matching key arrives: the new certificate is served on the same port.
    write(dir.path(), "key.pem", &new_key);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if client(&url, "alice", OPERATOR, Some(&new_ca_file)).health().await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the renewed certificate was not served within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reason = unreachable_reason(client(&url, "alice", OPERATOR, Some(&old_ca_file)).health().await);
    assert!(reason.contains("UnknownIssuer"), "{reason}");
    gw.stop().await;
}

#[tokio::test]
async fn an_unloadable_certificate_stops_the_start_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, _key, _) = server_files(dir.path());
    let other_key = write(dir.path(), "other-key.pem", &ca.leaf(&["x"]).1);
    let cases = [
        (TlsSettings::new(dir.path().join("nope.pem"), &other_key), "cannot read"),
        (TlsSettings::new(&other_key, &other_key), "no CERTIFICATE"),
        (TlsSettings::new(&cert, &cert), "no usable private key"),
        (TlsSettings::new(&cert, &other_key), "does not fit"),
    ];
    #[cfg(unix)]
    let cases = {
        let public = write(dir.path(), "public-key.pem", &ca.leaf(&["x"]).1);
        std::fs::set_permissions(&public, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let mut cases = cases.to_vec();
        cases.push((TlsSettings::new(&cert, &public), "readable or writable by every user (mode 0644)"));
        cases
    };
    for (tls, wanted) in cases {
        let gw = Gateway::start(dir.path(), tls, |_| {}).await;
        let err = gw.task.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(wanted), "{wanted}: {err}");
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_dropped_and_capped_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, cert, key, ca_file) = server_files(dir.path());
    let mut tls = TlsSettings::new(&cert, &key);
    tls.handshake_timeout = Duration::from_millis(500);
    let gw = Gateway::start(dir.path(), tls, |c| {
        c.limit_loopback = true;
        c.max_unauthenticated_per_address = 3;
    })
    .await;
    let addr = format!("127.0.0.1:{}", gw.port);

    // Three silent TCP connections fill this address's unauthenticated cap:
    // a fourth is closed at once.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_millis(300), fourth.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "the connection over the per-address cap was not closed: {read:?}");

    // The silent ones are closed at the handshake deadline, and the cap frees up.
    let started = Instant::now();
    for stream in &mut silent {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "a silent connection outlived the handshake deadline");
    }
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    client(&gw.url("127.0.0.1"), "alice", OPERATOR, Some(&ca_file)).health().await.unwrap();
    gw.stop().await;
}

/// A raw TLS connection to `port` trusting `ca_pem` (for requests written
/// by hand, as a slow or hostile client would).
async fn raw_tls(port: u16, ca_pem: &Path) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    connector.connect("127.0.0.1".try_into().unwrap(), tcp).await.unwrap()
}

/// Everything `stream` sends until it closes (at most 5 s).
async fn read_to_close(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn the_body_deadline_and_the_connection_cap_hold_on_tls_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, cert, key, ca_file) = server_files(dir.path());
    let gw = Gateway::start(dir.path(), TlsSettings::new(&cert, &key), |c| {
        c.body_timeout = Duration::from_secs(1);
        c.max_connections = Some(2);
        c.health_reserve = 0;
    })
    .await;

    // A body that never arrives: 408 body_timeout over TLS, then closed.
    let mut drip = raw_tls(gw.port, &ca_file).await;
    let head = format!(
        "POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    drip.write_all(head.as_bytes()).await.unwrap();
    drip.flush().await.unwrap();
    let started = Instant::now();
    let answer = read_to_close(&mut drip).await;
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("body_timeout"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900), "answered after {:?}", started.elapsed());

    // Two TLS connections inside requests fill the cap (no reserve): the next
    // connection is closed without a handshake.
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut s = raw_tls(gw.port, &ca_file).await;
        s.write_all(head.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        busy.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = client(&gw.url("127.0.0.1"), "alice", OPERATOR, Some(&ca_file)).health().await;
    assert!(matches!(refused, Err(Error::Unreachable { .. })), "{refused:?}");
    for mut s in busy {
        assert!(read_to_close(&mut s).await.starts_with("HTTP/1.1 408"));
    }
    client(&gw.url("127.0.0.1"), "alice", OPERATOR, Some(&ca_file)).health().await.unwrap();
    gw.stop().await;
}
