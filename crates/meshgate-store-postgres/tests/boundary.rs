//! The store boundary (issue #18) on PostgreSQL: a database whose schema
//! holds another application's tables is refused before any meshgate table
//! is created; an empty one and meshgate's own open as before.

use crate::common;

use common::TestDb;
use meshgate_store_postgres::{PgOptions, PgStore};

async fn tables(url: &str) -> Vec<String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = client
        .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1", &[])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_schema_is_refused_untouched_and_ours_reopens() {
    let Some(db) = TestDb::create().await else { return };
    {
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client
            .batch_execute("CREATE TABLE invoices (id int PRIMARY KEY); INSERT INTO invoices VALUES (1);")
            .await
            .unwrap();
    }
    let err = PgStore::connect(&db.url, PgOptions::default()).await.unwrap_err().to_string();
    assert!(err.contains("not a meshgate database") && err.contains("invoices"), "{err}");
    assert!(err.contains(&db.name), "names the database: {err}");
    assert_eq!(tables(&db.url).await, vec!["invoices".to_owned()], "nothing was added");

    let Some(ours) = TestDb::create().await else { return };
    drop(PgStore::connect(&ours.url, PgOptions::default()).await.expect("an empty database is migrated"));
    PgStore::connect(&ours.url, PgOptions::default()).await.expect("meshgate's own database reopens");
}
