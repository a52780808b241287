//! README's exit-code table, verified (issue #18): the test reads the rows
//! between `<!-- exit-codes:start -->` and `<!-- exit-codes:end -->`, runs
//! each row's case against a real `meshgate serve` (or none, for the local
//! refusals) and checks the exit code and the stderr text the row promises.
//! A row without a case here, or a case without a row, fails the test.
//! Also: `inbox --peek` records no delivery, the default read does.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{meshgate, meshgate_gateway, Gateway};
use sha2::{Digest, Sha256};

/// One README row: the exit code and the stderr text it promises.
struct Row {
    code: i32,
    says: String,
}

fn readme_rows() -> BTreeMap<String, Row> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("<!-- exit-codes:start -->").expect("README has the exit-code table");
    let end = readme.find("<!-- exit-codes:end -->").expect("the table ends");
    let mut rows = BTreeMap::new();
    for line in readme[start..end].lines().filter(|l| l.starts_with("| ") && !l.starts_with("| case")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 4, "row {line:?}");
        let code = cells[2].parse().unwrap_or_else(|_| panic!("exit code of {line:?}"));
        let says = cells[3].trim_matches('`').to_owned();
        assert!(rows.insert(cells[0].to_owned(), Row { code, says }).is_none(), "case {} twice", cells[0]);
    }
    rows
}

/// Everything a case needs: a gateway with alice and bob, and a scratch dir.
struct Ctx {
    gw: Gateway,
    scratch: tempfile::TempDir,
}

impl Ctx {
    async fn as_peer(&self, args: &[&str]) -> (i32, String, String) {
        let config = self.gw.dir.path().join("config").display().to_string();
        meshgate(args, &[("MESH_GATEWAY_URL", &self.gw.url), ("MESHGATE_CONFIG_DIR", &config)], None).await
    }

    async fn offline(&self, args: &[&str]) -> (i32, String, String) {
        let config = self.scratch.path().join("config").display().to_string();
        meshgate(args, &[("MESHGATE_CONFIG_DIR", &config)], None).await
    }

    fn file(&self, name: &str) -> String {
        self.scratch.path().join(name).display().to_string()
    }
}

fn sqlite_file(path: &str, sql: &str) {
    rusqlite::Connection::open(path).unwrap().execute_batch(sql).unwrap();
}

const SWARPH: &str = "CREATE TABLE claude_peers (name TEXT PRIMARY KEY, url TEXT); \
    CREATE TABLE claude_messages (id INTEGER PRIMARY KEY, from_node TEXT, to_node TEXT, content TEXT); \
    INSERT INTO claude_peers VALUES ('alice', 'http://a:1');";

fn digest(path: &str) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// Runs case `id`; returns (exit code, stderr).
async fn run_case(id: &str, ctx: &Ctx) -> (i32, String) {
    let (code, _, stderr) = match id {
        "ok" => ctx.as_peer(&["peers", "--as", "alice"]).await,
        "refused" => ctx.as_peer(&["send", "bobb", "--as", "alice", "--kind", "fyi", "hi"]).await,
        "wait-timeout" => ctx.as_peer(&["wait", "--as", "alice", "--timeout", "1"]).await,
        "invalid-name" => ctx.as_peer(&["inbox", "--as", "Yan"]).await,
        "unknown-flag" => ctx.as_peer(&["inbox", "--as", "alice", "--bogus"]).await,
        "global-flag-on-serve" => ctx.offline(&["serve", "--as", "alice"]).await,
        "global-flag-on-export" => ctx.offline(&["export", "--gateway", "http://127.0.0.1:1"]).await,
        "thread-not-uuid" => {
            // An unreachable gateway: exit 2, not 3, proves nothing was asked.
            let args = ["send", "bob", "--as", "alice", "--kind", "fyi", "--thread", "notauuid", "hi"];
            let config = ctx.file("config");
            meshgate(&args, &[("MESH_GATEWAY_URL", "http://127.0.0.1:1"), ("MESHGATE_CONFIG_DIR", &config)], None).await
        }
        "port-in-use" => {
            let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = taken.local_addr().unwrap().to_string();
            let data = ctx.file("port");
            let db = format!("sqlite:{data}/meshgate.db");
            ctx.offline(&["serve", "--listen", &addr, "--data-dir", &data, "--db", &db]).await
        }
        "swarph-serve" => {
            let mesh = ctx.file("serve-mesh.db");
            sqlite_file(&mesh, SWARPH);
            let before = digest(&mesh);
            let data = ctx.file("never-made");
            let answer = ctx.offline(&["serve", "--db", &format!("sqlite:{mesh}"), "--data-dir", &data]).await;
            assert_eq!(digest(&mesh), before, "serve changed the swarph database");
            assert!(!std::path::Path::new(&data).exists(), "a refused store made the data directory");
            answer
        }
        "swarph-export" => {
            let mesh = ctx.file("export-mesh.db");
            sqlite_file(&mesh, SWARPH);
            let before = digest(&mesh);
            let answer = ctx.offline(&["export", "--db", &format!("sqlite:{mesh}"), "-o", &ctx.file("x.jsonl")]).await;
            assert_eq!(digest(&mesh), before, "export changed the swarph database");
            answer
        }
        "swarph-import-file" => {
            let mesh = ctx.file("import-mesh.db");
            sqlite_file(&mesh, SWARPH);
            let target = format!("sqlite:{}", ctx.file("import-target.db"));
            ctx.offline(&["import", &mesh, "--db", &target]).await
        }
        "swarph-import-foreign" => {
            let notes = ctx.file("import-notes.db");
            sqlite_file(&notes, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);");
            let target = format!("sqlite:{}", ctx.file("import-foreign-target.db"));
            ctx.offline(&["import", "--from-swarph", &notes, "--db", &target]).await
        }
        "swarph-import-blob" => {
            let mesh = ctx.file("blob-mesh.db");
            sqlite_file(&mesh, &format!("{SWARPH} INSERT INTO claude_messages VALUES (1, 'alice', 'bob', x'6869');"));
            let target = ctx.file("import-blob-target.db");
            let answer = ctx.offline(&["import", "--from-swarph", &mesh, "--db", &format!("sqlite:{target}")]).await;
            assert!(!Path::new(&target).exists(), "nothing was written");
            answer
        }
        "foreign-export" => {
            let notes = ctx.file("notes.db");
            sqlite_file(
                &notes,
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'x');",
            );
            let before = digest(&notes);
            let answer = ctx.offline(&["export", "--db", &format!("sqlite:{notes}"), "-o", &ctx.file("n.jsonl")]).await;
            assert_eq!(digest(&notes), before, "export changed a foreign database");
            assert!(!Path::new(&format!("{notes}-wal")).exists());
            answer
        }
        "not-a-database" => {
            let text = ctx.file("notes.txt");
            std::fs::write(&text, "not a database, just text that is long enough for a header....\n").unwrap();
            ctx.offline(&["export", "--db", &format!("sqlite:{text}"), "-o", &ctx.file("t.jsonl")]).await
        }
        "unreachable" => ctx.as_peer(&["peers", "--as", "alice", "--gateway", "http://127.0.0.1:1"]).await,
        "auth" => {
            let config = ctx.file("empty-config");
            let env = [
                ("MESH_GATEWAY_URL", ctx.gw.url.as_str()),
                ("MESH_GATEWAY_TOKEN", "wrong"),
                ("MESHGATE_CONFIG_DIR", &config),
            ];
            meshgate(&["inbox", "--as", "alice"], &env, None).await
        }
        other => panic!("README row {other:?} has no case in tests/exit_codes.rs"),
    };
    (code, stderr)
}

/// Every case this file knows, to catch a row removed from the README.
const CASES: &[&str] = &[
    "ok",
    "refused",
    "wait-timeout",
    "invalid-name",
    "unknown-flag",
    "global-flag-on-serve",
    "global-flag-on-export",
    "thread-not-uuid",
    "port-in-use",
    "swarph-serve",
    "swarph-export",
    "swarph-import-file",
    "swarph-import-foreign",
    "swarph-import-blob",
    "foreign-export",
    "not-a-database",
    "unreachable",
    "auth",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_exit_code_table_holds() {
    let rows = readme_rows();
    let known: Vec<&str> = rows.keys().map(String::as_str).collect();
    let mut cases = CASES.to_vec();
    cases.sort_unstable();
    assert_eq!(known, cases, "README rows and test cases differ");

    let gw = meshgate_gateway().await;
    let ctx = Ctx { gw, scratch: tempfile::tempdir().unwrap() };
    for name in ["alice", "bob"] {
        let config = ctx.gw.dir.path().join("config").display().to_string();
        let env = [
            ("MESH_GATEWAY_URL", ctx.gw.url.as_str()),
            ("MESH_GATEWAY_TOKEN", &ctx.gw.token),
            ("MESHGATE_CONFIG_DIR", &config),
        ];
        let (code, _, stderr) = meshgate(&["register", "--as", name], &env, None).await;
        assert_eq!(code, 0, "{stderr}");
    }
    let mut failures = Vec::new();
    for (id, row) in &rows {
        let (code, stderr) = run_case(id, &ctx).await;
        if code != row.code || !stderr.contains(&row.says) {
            failures.push(format!("{id}: exit {code} (README: {}), stderr:\n{stderr}", row.code));
        }
        assert!(!stderr.contains("panicked"), "{id}: {stderr}");
    }
    assert!(failures.is_empty(), "rows that do not hold:\n{}", failures.join("\n---\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_peek_records_no_delivery_and_the_default_read_does() {
    let gw = meshgate_gateway().await;
    let config = gw.dir.path().join("config").display().to_string();
    let operator =
        [("MESH_GATEWAY_URL", gw.url.as_str()), ("MESH_GATEWAY_TOKEN", &gw.token), ("MESHGATE_CONFIG_DIR", &config)];
    let peer = [("MESH_GATEWAY_URL", gw.url.as_str()), ("MESHGATE_CONFIG_DIR", &config)];
    for name in ["alice", "bob"] {
        assert_eq!(meshgate(&["register", "--as", name], &operator, None).await.0, 0);
    }
    let (code, out, err) =
        meshgate(&["send", "bob", "--as", "alice", "--kind", "fyi", "hi", "--json"], &peer, None).await;
    assert_eq!(code, 0, "{err}");
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"].as_i64().unwrap().to_string();
    let delivered = || async {
        let (code, out, err) = meshgate(&["status", &id, "--as", "alice", "--json"], &peer, None).await;
        assert_eq!(code, 0, "{err}");
        !serde_json::from_str::<serde_json::Value>(&out).unwrap()["delivered_at"].is_null()
    };
    let (code, out, err) = meshgate(&["inbox", "--as", "bob", "--peek", "--json"], &peer, None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"hi\""), "{out}");
    assert!(!delivered().await, "--peek recorded a delivery");
    assert_eq!(meshgate(&["inbox", "--as", "bob", "--json"], &peer, None).await.0, 0);
    assert!(delivered().await, "a plain read records the delivery");
}
