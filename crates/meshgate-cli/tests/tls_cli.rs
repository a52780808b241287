//! TLS through the real binaries: `meshgate serve --tls-cert --tls-key`
//! (a child process) with a CA made in the test; the `meshgate` CLI and
//! the Python `MeshClient` (through `SSL_CERT_FILE`) over https; a CA that
//! did not sign the certificate is exit 3 with the certificate problem
//! named; SIGHUP reloads a renewed certificate (and leaves a gateway
//! without TLS serving); a certificate or key that is no small regular
//! file is refused at start and on reload; plain HTTP (the main listener
//! or `--metrics-listen`) on a non-loopback address is refused unless
//! `--allow-plaintext`.

use crate::common;
use crate::serve_proc;
use crate::tls_fixture;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::meshgate;
use tls_fixture::{server_files, write, Ca};

const OPERATOR: &str = "operator-tls-cli-token-0123456789";

/// `meshgate serve` with TLS from `dir`'s cert.pem and key.pem.
fn serve_tls(dir: &Path) -> (Child, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let args: [std::ffi::OsString; 6] = [
        "--data-dir".into(),
        dir.join("data").into_os_string(),
        "--tls-cert".into(),
        cert.into_os_string(),
        "--tls-key".into(),
        key.into_os_string(),
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    serve_proc::start(&args, &[("MESH_GATEWAY_TOKEN", OPERATOR)])
        .unwrap_or_else(|stderr| panic!("gateway exited before listening:\n{stderr}"))
}

/// The environment of a CLI call against `url`, trusting `ca` if given.
fn env<'a>(url: &'a str, config: &'a str, ca: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![("MESH_GATEWAY_URL", url), ("MESHGATE_CONFIG_DIR", config), ("MESH_GATEWAY_TOKEN", OPERATOR)];
    if let Some(ca) = ca {
        env.push(("MESHGATE_CA_FILE", ca));
    }
    env
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn the_cli_works_over_https_and_a_wrong_ca_is_exit_3_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, _cert, _key, ca_file) = server_files(dir.path());
    let (child, url) = serve_tls(dir.path());
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let config = dir.path().join("config");
    let (config, ca) = (config.to_str().unwrap(), ca_file.to_str().unwrap());

    for name in ["alice", "bob"] {
        let (code, _, err) = meshgate(&["register", "--as", name], &env(&url, config, Some(ca)), None).await;
        assert_eq!(code, 0, "register {name}: {err}");
    }
    let (code, _, err) = meshgate(
        &["send", "bob", "--as", "alice", "--kind", "fyi", "hello over TLS"],
        &env(&url, config, Some(ca)),
        None,
    )
    .await;
    assert_eq!(code, 0, "send: {err}");
    let (code, out, err) = meshgate(&["inbox", "--as", "bob", "--json"], &env(&url, config, Some(ca)), None).await;
    assert_eq!(code, 0, "inbox: {err}");
    assert!(out.contains("hello over TLS"), "{out}");

    // No CA file, and a CA that did not sign the certificate.
    let other = write(dir.path(), "other-ca.pem", &Ca::new("someone else").pem());
    for ca in [None, Some(other.to_str().unwrap())] {
        let (code, _, err) = meshgate(&["peers", "--as", "alice"], &env(&url, config, ca), None).await;
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("invalid peer certificate") && err.contains("UnknownIssuer"), "{err}");
        assert!(err.contains("hint:") && err.contains("MESHGATE_CA_FILE"), "{err}");
    }
    // Plain http:// to the TLS port: the hint says to try https://.
    let plain = url.replacen("https://", "http://", 1);
    let (code, _, err) = meshgate(&["peers", "--as", "alice"], &env(&plain, config, Some(ca)), None).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&format!("hint: the gateway may be serving TLS: try {url}")), "{err}");
    stop(child);
}

type StdoutLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

async fn next_json(lines: &mut StdoutLines) -> serde_json::Value {
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    serde_json::from_str(&line).unwrap()
}

/// One `tools/call` of `tool` on a fresh `meshgate mcp --as alice` (stdio) with `env`: the result.
async fn mcp_stdio_call(env: &[(&str, &str)], tool: &str) -> serde_json::Value {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["mcp", "--as", "alice"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
    stdin.write_all(format!("{init}\n").as_bytes()).await.unwrap();
    assert_eq!(next_json(&mut lines).await["id"], 1);
    let call = format!(
        "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}}\n{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\
         \"tools/call\",\"params\":{{\"name\":\"{tool}\",\"arguments\":{{}}}}}}\n"
    );
    stdin.write_all(call.as_bytes()).await.unwrap();
    let answer = next_json(&mut lines).await;
    drop(stdin);
    let _ = child.wait().await;
    answer["result"].clone()
}

#[tokio::test]
async fn mcp_tools_over_https_without_the_ca_say_which_ca_to_set_and_whoami_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, _cert, _key, ca_file) = server_files(dir.path());
    let (child, url) = serve_tls(dir.path());
    let config = dir.path().join("config");
    let (config, ca) = (config.to_str().unwrap(), ca_file.to_str().unwrap());
    let (code, _, err) = meshgate(&["register", "--as", "alice"], &env(&url, config, Some(ca)), None).await;
    assert_eq!(code, 0, "register: {err}");

    let ok = mcp_stdio_call(&env(&url, config, Some(ca)), "whoami").await;
    assert_eq!(ok["isError"], false, "{ok}");
    assert!(ok["content"][0]["text"].as_str().unwrap().contains("You are peer alice"), "{ok}");
    // Without the CA, whoami reaches the gateway and fails, with the CLI's hint.
    let refused = mcp_stdio_call(&env(&url, config, None), "whoami").await;
    assert_eq!(refused["isError"], true, "{refused}");
    let e: serde_json::Value = serde_json::from_str(refused["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(e["error"], "gateway_unreachable", "{e}");
    let detail = e["detail"].as_str().unwrap();
    assert!(detail.contains("UnknownIssuer") && detail.contains("set MESHGATE_CA_FILE=CA.pem"), "{detail}");
    stop(child);
}

#[tokio::test]
async fn python_mesh_client_works_over_https_with_ssl_cert_file() {
    // MESHGATE_REF_PYTHON (set by scripts/test.sh), MESHGATE_VENV, else the repo's .venv.
    let candidates = [
        std::env::var_os("MESHGATE_REF_PYTHON").map(PathBuf::from),
        std::env::var_os("MESHGATE_VENV").map(|v| PathBuf::from(v).join("bin/python")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")),
    ];
    let Some(python) = candidates.into_iter().flatten().find(|p| p.exists()) else {
        if std::env::var("MESHGATE_SKIP_REFERENCE").as_deref() == Ok("1") {
            eprintln!("skipping: no python venv (MESHGATE_SKIP_REFERENCE=1)");
            return;
        }
        panic!(
            "no python venv with swarph-mesh: set MESHGATE_VENV or MESHGATE_REF_PYTHON (or MESHGATE_SKIP_REFERENCE=1)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let (_ca, _cert, _key, ca_file) = server_files(dir.path());
    let (child, url) = serve_tls(dir.path());
    let script = r#"
import asyncio, os
from swarph_mesh import MeshClient

async def main():
    url, token = os.environ["URL"], os.environ["TOKEN"]
    alice = MeshClient("alice", token=token, gateway_url=url)
    bob = MeshClient("bob", token=token, gateway_url=url)
    await alice.register()
    await bob.register()
    await alice.send(to="bob", kind="fyi", content="python over TLS")
    got = await bob.fetch(unread_only=True)
    assert any(m.content == "python over TLS" for m in got), got
    print("ok", len(got))

asyncio.run(main())
"#;
    let run = |ca: &Path| {
        Command::new(&python)
            .args(["-c", script])
            .env("URL", &url)
            .env("TOKEN", OPERATOR)
            .env("SSL_CERT_FILE", ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run python")
    };
    let out = run(&ca_file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python MeshClient over https failed:\n{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok"), "{stderr}");

    // The wrong CA: the Python client fails on verification, nothing is sent.
    let other = write(dir.path(), "other-ca.pem", &Ca::new("someone else").pem());
    let out = run(&other);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("CERTIFICATE_VERIFY_FAILED"), "{stderr}");
    stop(child);
}

#[tokio::test]
async fn sighup_reloads_a_renewed_certificate_on_the_same_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, _cert, _key, ca_file) = server_files(dir.path());
    let (child, url) = serve_tls(dir.path());
    let config = dir.path().join("config");
    let config = config.to_str().unwrap();
    let peers = |ca: PathBuf| {
        let url = url.clone();
        async move { meshgate(&["peers"], &env(&url, config, Some(ca.to_str().unwrap())), None).await.0 }
    };
    assert_eq!(peers(ca_file.clone()).await, 0);

    let renewed = Ca::new("renewed CA");
    let renewed_ca = write(dir.path(), "renewed-ca.pem", &renewed.pem());
    let (cert, key) = renewed.leaf(&["127.0.0.1"]);
    write(dir.path(), "key.pem", &key);
    write(dir.path(), "cert.pem", &cert);
    let status = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while peers(renewed_ca.clone()).await != 0 {
        assert!(Instant::now() < deadline, "the renewed certificate was not served after SIGHUP");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(peers(ca_file).await, 3, "the old certificate is still served");
    stop(child);
}

#[tokio::test]
async fn a_certificate_that_cannot_be_loaded_stops_serve_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, _cert, _key, _) = server_files(dir.path());
    write(dir.path(), "key.pem", &ca.leaf(&["127.0.0.1"]).1);
    let out = Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .env("MESH_GATEWAY_TOKEN", OPERATOR)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not fit certificate") && stderr.contains("key.pem"), "{stderr}");
    assert!(!stderr.contains("meshgate --help"), "the error says what to do: {stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}

/// `meshgate serve` with `listen_args` is exit 2 naming every one of
/// `refusal` before it creates anything, and serves on `listening` with
/// `--allow-plaintext`.
fn refused_unless_plaintext_allowed(listen_args: &[&str], refusal: &[&str], listening: &str) {
    let dir = tempfile::tempdir().unwrap();
    let serve = |extra: &[&str]| serve_child(&dir.path().join("data"), &[listen_args, extra].concat(), &[]);
    let out = serve(&[]).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in refusal {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    assert!(!stderr.contains("  ") && !stderr.contains("meshgate --help"), "one plain sentence: {stderr}");
    assert!(!dir.path().join("data").exists(), "the refusal came after creating the data directory");

    let mut allowed = serve(&["--allow-plaintext"]);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(allowed.stderr.take().unwrap()));
    let line = lines.find(|l| l.as_ref().is_ok_and(|l| l.starts_with("meshgate: listening on "))).unwrap().unwrap();
    assert!(line.starts_with(&format!("meshgate: listening on {listening}")), "{line}");
    stop(allowed);
}

#[tokio::test]
async fn a_ca_certificate_served_as_the_gateways_own_is_named_in_the_hint() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "self-signed CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let ca_file = write(dir.path(), "cert.pem", &cert.pem());
    write(dir.path(), "key.pem", &key.serialize_pem());
    let (child, url) = serve_tls(dir.path());
    let config = dir.path().join("config");
    let env = env(&url, config.to_str().unwrap(), ca_file.to_str());
    let (code, _, err) = meshgate(&["peers", "--as", "alice"], &env, None).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("CaUsedAsEndEntity"), "{err}");
    assert!(err.contains("hint: the certificate is a CA certificate used as the server's own"), "{err}");
    stop(child);
}
#[test]
fn plain_http_on_a_non_loopback_address_is_refused_unless_allowed() {
    refused_unless_plaintext_allowed(
        &["--listen", "0.0.0.0:0"],
        &["tokens would cross the network in clear text", "--allow-plaintext on WireGuard/Tailscale/private networks"],
        "http://0.0.0.0:",
    );
}

#[tokio::test]
async fn sighup_to_a_gateway_without_tls_leaves_it_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = serve_proc::start_in(&dir.path().join("data"), OPERATOR);
    assert!(url.starts_with("http://"), "{url}");
    let config = dir.path().join("config");
    let config = config.to_str().unwrap();
    for _ in 0..3 {
        let status = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(child.try_wait().unwrap().is_none(), "SIGHUP ended the gateway");
        let (code, _, err) = meshgate(&["peers"], &env(&url, config, None), None).await;
        assert_eq!(code, 0, "{err}");
    }
    stop(child);
}

/// `meshgate serve` with TLS from `dir`'s files until it exits; its exit
/// code and stderr.
fn serve_tls_output(dir: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"))
        .env("MESH_GATEWAY_TOKEN", OPERATOR)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[cfg(unix)]
#[tokio::test]
async fn a_certificate_or_key_that_is_no_small_regular_file_is_refused_at_start_and_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, cert_path, key_path, ca_file) = server_files(dir.path());
    let (cert, key) = (std::fs::read_to_string(&cert_path).unwrap(), std::fs::read_to_string(&key_path).unwrap());
    // A valid renewal, padded past 1 MiB with PEM comment lines: were it
    // loaded, the old CA would no longer verify the gateway.
    let (renewed_cert, renewed_key) = Ca::new("renewed CA").leaf(&["127.0.0.1"]);
    let huge = format!("{}{renewed_cert}", "# padding\n".repeat((1 << 20) / 10 + 1));
    let replace_with_zero = |path: &Path| {
        std::fs::remove_file(path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", path).unwrap();
    };

    // At start: each file as a symlink to /dev/zero, and over 1 MiB.
    for (path, good) in [(&cert_path, &cert), (&key_path, &key)] {
        replace_with_zero(path);
        let (code, stderr) = serve_tls_output(dir.path());
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("not a regular file"), "{stderr}");
        write(dir.path(), path.file_name().unwrap().to_str().unwrap(), good);
    }
    write(dir.path(), "cert.pem", &huge);
    let (code, stderr) = serve_tls_output(dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("larger than 1048576 bytes") && stderr.contains("cert.pem"), "{stderr}");
    write(dir.path(), "cert.pem", &cert);

    // On reload (file change and SIGHUP): refused, the old pair keeps serving.
    let (mut child, url) = serve_tls(dir.path());
    let config = dir.path().join("config");
    let (config, ca) = (config.to_str().unwrap(), ca_file.to_str().unwrap());
    // "listening" is printed before the server loads the pair: wait for it.
    let (code, _, err) = meshgate(&["peers"], &env(&url, config, Some(ca)), None).await;
    assert_eq!(code, 0, "{err}");
    replace_with_zero(&cert_path);
    let status = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.try_wait().unwrap().is_none(), "the gateway exited");
    let (code, _, err) = meshgate(&["peers"], &env(&url, config, Some(ca)), None).await;
    assert_eq!(code, 0, "the previous certificate is no longer served: {err}");
    write(dir.path(), "key.pem", &renewed_key);
    write(dir.path(), "cert.pem", &huge);
    let status = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, _, err) = meshgate(&["peers"], &env(&url, config, Some(ca)), None).await;
    assert_eq!(code, 0, "the previous certificate is no longer served: {err}");
    stop(child);
}

#[test]
fn metrics_on_a_non_loopback_address_are_refused_unless_allowed() {
    refused_unless_plaintext_allowed(
        &["--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0"],
        &["refusing to serve metrics on 0.0.0.0:0", "without auth", "--allow-plaintext"],
        "http://127.0.0.1:",
    );
}

/// `meshgate serve ARGS --data-dir DATA` with `envs`, stderr piped.
fn serve_child(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .arg("serve")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("MESH_GATEWAY_TOKEN", OPERATOR)
        .env("RUST_LOG", "warn")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_bad_meshgate_allow_plaintext_value_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |value: &str| {
        let args = ["--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0"];
        serve_child(&dir.path().join("data"), &args, &[("MESHGATE_ALLOW_PLAINTEXT", value)])
    };
    let out = serve("1").wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MESHGATE_ALLOW_PLAINTEXT=1: use true or false"), "{stderr}");
    assert!(!dir.path().join("data").exists());

    let mut allowed = serve("true");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(allowed.stderr.take().unwrap()));
    assert!(lines.any(|l| l.as_ref().is_ok_and(|l| l.starts_with("meshgate: listening on "))), "true allows it");
    stop(allowed);
}
