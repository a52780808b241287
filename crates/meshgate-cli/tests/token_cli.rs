//! Stored per-peer tokens through the CLI, against a real `meshgate serve`:
//! `peers rotate` (by the operator and by the peer itself) stores the new
//! token so the next `--as NAME` works; `token show-path|forget|set` manage
//! the file (`set` from stdin only); a refused token's hint names its file
//! and the ways back.

use crate::common;

use std::path::PathBuf;

use common::{meshgate, meshgate_gateway, Gateway};

/// A CLI user: one config directory, optionally holding the operator token.
struct User<'a> {
    gw: &'a Gateway,
    config: PathBuf,
    operator: bool,
}

impl<'a> User<'a> {
    fn new(gw: &'a Gateway, dir: &str, operator: bool) -> User<'a> {
        User { gw, config: gw.dir.path().join(dir), operator }
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let config = self.config.display().to_string();
        let mut env = vec![("MESH_GATEWAY_URL", self.gw.url.as_str()), ("MESHGATE_CONFIG_DIR", config.as_str())];
        if self.operator {
            env.push(("MESH_GATEWAY_TOKEN", self.gw.token.as_str()));
        }
        meshgate(args, &env, stdin).await
    }

    async fn ok(&self, args: &[&str]) -> (String, String) {
        let (code, stdout, stderr) = self.run(args, None).await;
        assert_eq!(code, 0, "meshgate {args:?}\nstdout: {stdout}\nstderr: {stderr}");
        (stdout, stderr)
    }

    fn token_file(&self, name: &str) -> PathBuf {
        let dir = self.gw.url.trim_start_matches("http://").replace(':', "-");
        self.config.join("tokens").join(dir).join(name)
    }

    fn stored(&self, name: &str) -> String {
        std::fs::read_to_string(self.token_file(name)).unwrap_or_default().trim().to_owned()
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_rotation_stores_the_new_token_and_the_peer_keeps_working() {
    let gw = meshgate_gateway().await;
    let op = User::new(&gw, "config", true);
    let carol = User::new(&gw, "config", false);
    op.ok(&["register", "--as", "carol"]).await;
    let before = carol.stored("carol");
    assert!(before.starts_with("mgp_"), "{before}");

    let (stdout, stderr) = op.ok(&["peers", "rotate", "carol"]).await;
    let new = stdout.trim();
    assert!(new.starts_with("mgp_") && new != before, "{stdout}");
    assert_eq!(carol.stored("carol"), new, "the token file holds the new token");
    let file = carol.token_file("carol");
    assert!(stderr.contains(&file.display().to_string()), "says where it was written: {stderr}");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    carol.ok(&["inbox", "--as", "carol"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_rotating_its_own_token_keeps_working() {
    let gw = meshgate_gateway().await;
    let op = User::new(&gw, "config", true);
    let carol = User::new(&gw, "config", false);
    op.ok(&["register", "--as", "carol"]).await;
    let before = carol.stored("carol");

    let (stdout, stderr) = carol.ok(&["peers", "rotate", "carol", "--as", "carol", "--json"]).await;
    let rotated: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let new = rotated["peer_token"].as_str().unwrap();
    assert_ne!(new, before);
    assert_eq!(carol.stored("carol"), new);
    assert!(stderr.contains("stored it"), "{stderr}");
    carol.ok(&["inbox", "--as", "carol"]).await;
    // And again, with the token stored by the first rotation.
    carol.ok(&["peers", "rotate", "carol", "--as", "carol"]).await;
    carol.ok(&["inbox", "--as", "carol"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_rotated_elsewhere_is_stored_with_token_set() {
    let gw = meshgate_gateway().await;
    let carol = User::new(&gw, "carol-config", false);
    let op = User::new(&gw, "op-config", true);
    // carol registers on her machine; the operator works on another one.
    User::new(&gw, "carol-config", true).ok(&["register", "--as", "carol"]).await;
    let (stdout, stderr) = op.ok(&["peers", "rotate", "carol"]).await;
    let new = stdout.trim().to_owned();
    assert!(stderr.contains("not stored") && stderr.contains("meshgate token set --as carol"), "{stderr}");
    assert!(!op.config.join("tokens").exists(), "nothing written where no tokens are kept");
    // Registering an identity whose token lives elsewhere points at `token set`.
    let (_, stderr) = op.ok(&["register", "--as", "carol"]).await;
    assert!(stderr.contains("meshgate token set --as carol"), "{stderr}");

    // carol's stored token is dead now: exit 4, and the hint names the file and the fixes.
    let (code, _, stderr) = carol.run(&["inbox", "--as", "carol"], None).await;
    assert_eq!(code, 4, "{stderr}");
    let hint = hint_line(&stderr);
    assert!(hint.contains(&carol.token_file("carol").display().to_string()), "{hint}");
    assert!(
        hint.contains("meshgate token set --as carol") && hint.contains("meshgate token forget --as carol"),
        "{hint}"
    );
    assert!(!hint.contains("--url"), "{hint}");

    let (code, _, stderr) = carol.run(&["token", "set", "--as", "carol"], Some(&format!("{new}\n"))).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains(&new), "the token is never echoed: {stderr}");
    assert_eq!(carol.stored("carol"), new);
    carol.ok(&["inbox", "--as", "carol"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_show_path_forget_and_set() {
    let gw = meshgate_gateway().await;
    let op = User::new(&gw, "config", true);
    let carol = User::new(&gw, "config", false);
    op.ok(&["register", "--as", "carol"]).await;
    let file = carol.token_file("carol");

    let (stdout, _) = carol.ok(&["token", "show-path", "--as", "carol"]).await;
    assert_eq!(stdout.trim(), file.display().to_string());
    let token = carol.stored("carol");

    let (_, stderr) = carol.ok(&["token", "forget", "--as", "carol"]).await;
    assert!(stderr.contains("deleted"), "{stderr}");
    assert!(!file.exists());
    let (_, stderr) = carol.ok(&["token", "forget", "--as", "carol"]).await;
    assert!(stderr.contains("nothing to delete"), "{stderr}");
    // No token at all now: the hint says how to get one.
    let (code, _, stderr) = carol.run(&["inbox", "--as", "carol"], None).await;
    assert_eq!(code, 4, "{stderr}");
    let hint = hint_line(&stderr);
    assert!(hint.contains("meshgate register --as carol") && hint.contains("meshgate token set --as carol"), "{hint}");

    // Bad input on stdin is a usage error that never echoes what was given.
    for bad in ["", "  \n", "two words", "mgp_a\nmgp_b"] {
        let (code, _, stderr) = carol.run(&["token", "set", "--as", "carol"], Some(bad)).await;
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(bad.trim().is_empty() || !stderr.contains(bad.trim()), "{stderr}");
        assert!(!file.exists(), "{bad:?} was stored");
    }
    let long = "x".repeat(5000);
    assert_eq!(carol.run(&["token", "set", "--as", "carol"], Some(&long)).await.0, 2);
    // Names become file names: only valid peer names.
    assert_eq!(carol.run(&["token", "set", "--as", "../evil"], Some(&token)).await.0, 2);

    carol.run(&["token", "set", "--as", "carol"], Some(&token)).await;
    assert_eq!(carol.stored("carol"), token);
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    carol.ok(&["inbox", "--as", "carol"]).await;
    // Each needs an identity.
    assert_eq!(carol.run(&["token", "show-path"], None).await.0, 2);
}

/// The `hint:` line of a failed command's stderr.
fn hint_line(stderr: &str) -> String {
    stderr.lines().find(|l| l.starts_with("hint: ")).unwrap_or_else(|| panic!("no hint in: {stderr}")).to_owned()
}

/// Exit codes and hints chosen by the gateway's error code, as a table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_follow_the_error_code() {
    let gw = meshgate_gateway().await;
    let op = User::new(&gw, "config", true);
    let peer = User::new(&gw, "config", false);
    op.ok(&["register", "--as", "alice"]).await;
    op.ok(&["register", "--as", "bob"]).await;
    op.ok(&["register", "--as", "old"]).await;
    op.ok(&["alias", "add", "bobby", "bob"]).await;
    op.ok(&["send", "old", "--as", "alice", "--kind", "fyi", "keep me"]).await;
    op.ok(&["peers", "rm", "old"]).await;
    peer.ok(&["send", "bob", "--as", "alice", "--kind", "fyi", "one", "--idempotency-key", "k1"]).await;
    let wrong = User { gw: &gw, config: gw.dir.path().join("empty"), operator: false };

    // (who, args, exit code, the hint contains, the hint does not contain)
    type Case<'a> = (&'a User<'a>, Vec<&'a str>, i32, Vec<&'a str>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            &op,
            vec!["register", "--as", "old"],
            1,
            vec!["--adopt-history", "meshgate peers rm old --purge"],
            vec!["idempotency"],
        ),
        (&op, vec!["register", "--as", "bobby"], 1, vec!["namespace", "alias"], vec!["idempotency"]),
        (
            &peer,
            vec!["send", "bob", "--as", "alice", "--kind", "fyi", "two", "--idempotency-key", "k1"],
            1,
            vec!["idempotency key"],
            vec![],
        ),
        (
            &peer,
            vec!["alias", "add", "b", "bob", "--as", "bob"],
            4,
            vec!["operator token", "MESH_GATEWAY_TOKEN"],
            vec!["act as the peer"],
        ),
        (&peer, vec!["peers", "rm", "alice", "--as", "bob"], 4, vec!["act as the peer"], vec!["register"]),
        (&wrong, vec!["peers", "--as", "alice"], 4, vec!["meshgate register --as alice", "token set"], vec!["--url"]),
    ];
    for (user, args, code, wanted, unwanted) in &cases {
        let (got, _, stderr) = user.run(args, None).await;
        assert_eq!(got, *code, "meshgate {args:?}: {stderr}");
        let hint = hint_line(&stderr);
        for w in wanted {
            assert!(hint.contains(w), "meshgate {args:?}: hint lacks {w:?}: {hint}");
        }
        for u in unwanted {
            assert!(!hint.contains(u), "meshgate {args:?}: hint has {u:?}: {hint}");
        }
    }

    // A wrong MESH_GATEWAY_TOKEN says so, without suggesting --url.
    let config = wrong.config.display().to_string();
    let env = [("MESH_GATEWAY_URL", gw.url.as_str()), ("MESHGATE_CONFIG_DIR", &config), ("MESH_GATEWAY_TOKEN", "nope")];
    let (code, _, stderr) = meshgate(&["peers"], &env, None).await;
    assert_eq!(code, 4, "{stderr}");
    let hint = hint_line(&stderr);
    assert!(hint.contains("MESH_GATEWAY_TOKEN is not a token this gateway accepts"), "{hint}");
    assert!(!hint.contains("--url"), "{hint}");

    // A disabled peer: its own token gets 403 `peer_disabled`, a DM to it is
    // refused as disabled (not "not registered"), and enable brings it back.
    let (stdout, _) = op.ok(&["peers", "disable", "bob"]).await;
    assert_eq!(stdout.trim(), "bob: disabled");
    let (code, _, stderr) = peer.run(&["inbox", "--as", "bob"], None).await;
    assert_eq!(code, 4, "{stderr}");
    assert!(hint_line(&stderr).contains("meshgate peers enable bob"), "{stderr}");
    for to in ["bob", "bobby"] {
        let (code, _, stderr) = peer.run(&["send", to, "--as", "alice", "--kind", "fyi", "hi"], None).await;
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("\"bob\" is disabled") && !stderr.contains("not registered"), "{stderr}");
        assert!(hint_line(&stderr).contains("meshgate peers enable bob"), "{stderr}");
    }
    let (stdout, _) = op.ok(&["peers", "enable", "bob"]).await;
    assert_eq!(stdout.trim(), "bob: enabled");
    peer.ok(&["inbox", "--as", "bob"]).await;
    peer.ok(&["send", "bob", "--as", "alice", "--kind", "fyi", "back"]).await;

    // scan: 1 means a finding, so a missing file is a usage error.
    let missing = gw.dir.path().join("no-such-file");
    let (code, _, stderr) = peer.run(&["scan", &missing.display().to_string()], None).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
    let (code, stdout, _) = peer.run(&["scan", "-"], Some("key: AKIAIOSFODNN7EXAMPLE\n")).await;
    assert_eq!((code, stdout.contains("aws access key")), (1, true), "{stdout}");
}
