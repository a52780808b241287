//! Shared helpers of the PostgreSQL tests: the server comes from
//! `MESHGATE_TEST_PG_URL`; every test gets its own fresh database.

#![allow(dead_code)]

pub mod processes;

use std::sync::Arc;

use meshgate_store::Store;
use meshgate_store_postgres::{PgOptions, PgStore};

/// The base URL of the test server, or `None` when PostgreSQL tests are
/// explicitly skipped. Panics when neither is configured: a silently
/// skipped suite would look green.
pub fn base_url() -> Option<String> {
    match std::env::var("MESHGATE_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ if std::env::var("MESHGATE_SKIP_PG").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: PostgreSQL tests skipped (MESHGATE_SKIP_PG=1 and MESHGATE_TEST_PG_URL unset)");
            None
        }
        _ => panic!(
            "MESHGATE_TEST_PG_URL is not set: start a throwaway server with \
             `export MESHGATE_TEST_PG_URL=\"$(scripts/pg.sh start)\"` \
             (or set MESHGATE_SKIP_PG=1 to skip the PostgreSQL tests)"
        ),
    }
}

/// `url` with its database name replaced by `db`.
pub fn with_db(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (authority, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    format!("{scheme}://{authority}/{db}{query}")
}

async fn admin(base: &str) -> tokio_postgres::Client {
    let (client, conn) =
        tokio_postgres::connect(base, tokio_postgres::NoTls).await.expect("connect to the test server");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A fresh database on the test server, dropped (with its connections)
/// when this value is.
pub struct TestDb {
    base: String,
    /// Database name.
    pub name: String,
    /// URL of the database.
    pub url: String,
}

impl TestDb {
    /// Creates a database with a random name; `None` when skipped.
    pub async fn create() -> Option<TestDb> {
        let base = base_url()?;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        admin(&base).await.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.expect("CREATE DATABASE");
        let url = with_db(&base, &name);
        Some(TestDb { base, name, url })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop runs outside any async context we could borrow: use a
        // private runtime on a private thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let c = admin(&base).await;
                if let Err(e) = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await {
                    eprintln!("dropping test database {name}: {e}");
                }
            });
        })
        .join();
    }
}

/// Options for tests: the defaults.
pub fn opts() -> PgOptions {
    PgOptions::default()
}

/// A store on `db`.
pub async fn store(db: &TestDb, opts: PgOptions) -> PgStore {
    PgStore::connect(&db.url, opts).await.expect("connect PgStore")
}

/// A fresh, empty store and the database guard, for the conformance story.
pub async fn fresh() -> Option<(Arc<dyn Store>, TestDb)> {
    let db = TestDb::create().await?;
    let s = store(&db, opts()).await;
    Some((Arc::new(s), db))
}
