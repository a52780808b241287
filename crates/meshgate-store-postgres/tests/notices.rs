//! The server's NOTICEs stay out of the gateway's log: tokio-postgres logs
//! each NOTICE it receives at info, and a DM with one very long word makes
//! PostgreSQL send one ("word is too long to be indexed") on every insert,
//! so without `client_min_messages=warning` a peer could write a log line
//! per send.

use crate::common;

use std::sync::Mutex;

use meshgate_store::conformance::msg;
use meshgate_store::Store;

/// Every `log` record of the process at info and above, as "target: message".
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        RECORDS.lock().unwrap().push(format!("{}: {}", record.target(), record.args()));
    }
    fn flush(&self) {}
}

#[tokio::test]
async fn a_long_word_in_a_dm_logs_no_notice() {
    let Some(db) = common::TestDb::create().await else { return };
    // Another test of this binary may have set the logger first; then this one captures nothing
    // and the control query below fails the test instead of passing it silently.
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Info);
    let store = common::store(&db, common::opts()).await;
    store.insert_message(msg("longword-a", "longword-b", &format!("see {}", "x".repeat(3000)))).await.expect("insert");
    // The control: the same server does send a NOTICE to a connection that asks for them,
    // and tokio-postgres does log it here.
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.expect("connect");
    let conn = tokio::spawn(conn);
    client.batch_execute("DO $$ BEGIN RAISE NOTICE 'control notice'; END $$").await.expect("notice");
    drop(client);
    let _ = conn.await;
    let notices: Vec<String> = RECORDS.lock().unwrap().iter().filter(|r| r.contains("NOTICE")).cloned().collect();
    assert!(notices.iter().any(|r| r.contains("control notice")), "the capture sees notices: {notices:?}");
    assert!(!notices.iter().any(|r| r.contains("too long")), "a NOTICE was logged: {notices:?}");
}
