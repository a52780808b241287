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

/// `PgSnapshot` (what `meshgate export` reads) is one read-only
/// `REPEATABLE READ` transaction: it sees the store as of its opening,
/// whatever commits later, and refuses a schema that is not meshgate's or
/// not yet migrated instead of migrating it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_snapshot_is_read_only_and_consistent() {
    use meshgate_store::Store;
    use meshgate_store_postgres::PgSnapshot;
    let Some(db) = TestDb::create().await else { return };
    let err = PgSnapshot::open(&db.url, PgOptions::default()).await.unwrap_err().to_string();
    assert!(err.contains("no meshgate data"), "an empty schema: {err}");
    assert!(tables(&db.url).await.is_empty(), "and nothing was created");

    let store = PgStore::connect(&db.url, PgOptions::default()).await.unwrap();
    let msg = |content: &str| meshgate_store::conformance::msg("alice", "bob", content);
    let first = store.insert_message(msg("before")).await.unwrap().message.id;
    let snapshot = PgSnapshot::open(&db.url, PgOptions::default()).await.unwrap();
    assert!(snapshot.is_read_only().await.unwrap());
    store.insert_message(msg("after")).await.unwrap();
    store.put_alias("bobby", "bob").await.ok();
    assert_eq!(snapshot.max_id().await.unwrap(), first, "the snapshot keeps its instant");
    let rows = snapshot.export_messages(0, 10).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.message.id).collect::<Vec<_>>(), vec![first]);
    assert!(snapshot.aliases().await.unwrap().is_empty());
    assert_eq!(snapshot.store_id().await.unwrap(), store.store_id().await.unwrap());
    snapshot.finish().await.unwrap();
    assert_eq!(store.export_messages(0, 10).await.unwrap().len(), 2);
}
