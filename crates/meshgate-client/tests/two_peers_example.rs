//! Runs `examples/two_peers.rs` (the README's and the crate docs' flow)
//! against a real gateway started in-process on 127.0.0.1:0 over SQLite, so
//! the example cannot rot: register -> save token -> stream -> send -> reply.

use std::sync::Arc;

use meshgate_server::{Config, OperatorToken};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};

#[path = "../examples/two_peers.rs"]
#[allow(dead_code)] // its `main` is for `cargo run --example`
mod two_peers;

const OPERATOR: &str = "operator-example-test-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_peers_example_runs_against_a_real_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("m.db"), SqliteOptions::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = Config::new(OperatorToken::new(OPERATOR));
    tokio::spawn(meshgate_server::serve(listener, Arc::new(store), config, std::future::pending()));

    let tokens = dir.path().join("tokens");
    let (question, answer) = two_peers::run(&url, OPERATOR, &tokens).await.expect("the example runs");
    assert_eq!((question.from_node.as_str(), question.to_node.as_str()), ("alice", "bob"));
    assert_eq!(question.content, "can you review PR 42?");
    assert_eq!((answer.from_node.as_str(), answer.content.as_str()), ("bob", "yes, looking now"));
    assert_eq!(answer.thread_id, question.thread_id, "a reply stays in the question's thread");
    for name in ["alice", "bob"] {
        let file = tokens.join(name);
        let token = std::fs::read_to_string(&file).unwrap();
        assert!(!token.is_empty() && token != OPERATOR, "{name}'s own token was saved");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
    // Run twice: the second run reads the saved tokens back (peers exist).
    let (again, _) = two_peers::run(&url, OPERATOR, &tokens).await.expect("the example runs again");
    assert!(again.id > answer.id);
}
