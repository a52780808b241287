//! `meshgate loops` and `meshgate loops reset A B` against a real
//! `meshgate serve --loop-limit 2/600`, and how `meshgate send` reports a
//! tripped pair (exit 1, the pair and the reset command; no retry storm).

use crate::common;

use common::{meshgate_gateway_with, operator_ok as ok, operator_run as op};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_lists_tripped_pairs_and_reset_lifts_one() {
    let gw = meshgate_gateway_with(&["--loop-limit", "2/600"]).await;
    ok(&gw, &["register", "--as", "alice"]).await;
    ok(&gw, &["register", "--as", "bob"]).await;
    assert!(ok(&gw, &["loops"]).await.contains("no tripped pairs"), "limit 2 DMs per 600 s");
    ok(&gw, &["send", "bob", "--as", "alice", "--kind", "fyi", "one"]).await;
    ok(&gw, &["send", "alice", "--as", "bob", "--kind", "fyi", "two"]).await;

    let (code, _, stderr) = op(&gw, &["send", "bob", "--as", "alice", "--kind", "fyi", "three"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("429 conversation_loop"), "{stderr}");
    assert!(stderr.contains("meshgate loops reset alice bob"), "{stderr}");
    assert!(stderr.contains("nothing was stored"), "{stderr}");

    let listed: Value = serde_json::from_str(&ok(&gw, &["loops", "--json"]).await).unwrap();
    assert_eq!(listed["tripped"][0]["a"], "alice");
    assert_eq!(listed["tripped"][0]["b"], "bob");
    assert_eq!(listed["tripped"][0]["count"], 2);
    let table = ok(&gw, &["loops"]).await;
    assert!(table.contains("alice") && table.contains("bob"), "{table}");

    assert!(ok(&gw, &["loops", "reset", "bob", "alice"]).await.contains("flow again"));
    ok(&gw, &["send", "bob", "--as", "alice", "--kind", "fyi", "three"]).await;
    assert!(ok(&gw, &["loops", "reset", "alice", "bob"]).await.contains("was not tripped"));
}
