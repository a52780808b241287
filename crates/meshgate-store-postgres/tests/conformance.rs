//! The shared storage conformance story, every check on a fresh PostgreSQL
//! database (from `MESHGATE_TEST_PG_URL`; each test is skipped with
//! `MESHGATE_SKIP_PG=1`).

use crate::common;

meshgate_store::conformance_tests!(skippable common::fresh);

/// The same story through `run_all`, each check on its own database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_on_postgres() {
    if common::base_url().is_none() {
        return;
    }
    meshgate_store::conformance::run_all(|| async { common::fresh().await.expect("not skipped") }).await;
}

/// The search index's text form of a body (`meshgate_body_text`, migration
/// 7): NUL bytes read as spaces at byte boundaries only (a `00` that
/// straddles two bytes is not a NUL), multi-byte characters intact, the
/// first 100,000 characters; and a body of NULs and 4-byte characters at
/// the largest size a send allows is converted in one statement (version 6
/// did it a row per byte).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_text_reads_nul_as_space_byte_by_byte() {
    let Some((_store, db)) = common::fresh().await else { return };
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let text = |bytes: Vec<u8>| {
        let client = &client;
        async move {
            let row = client.query_one("SELECT meshgate_body_text($1)", &[&bytes]).await.unwrap();
            row.get::<_, String>(0)
        }
    };
    assert_eq!(text(b"a\0b".to_vec()).await, "a b");
    assert_eq!(text(vec![0x10, 0x00, 0x0a]).await, "\u{10} \n", "a NUL between bytes ending and starting in 0");
    assert_eq!(text(vec![0x30, 0x30, 0x00, 0x30]).await, "00 0", "the digit 0 is not NUL");
    assert_eq!(text("é\0é😀\0\0".as_bytes().to_vec()).await, "é é😀  ");
    assert_eq!(text(b"no nul at all".to_vec()).await, "no nul at all");
    let mut big = vec![0u8];
    big.extend("😀".repeat(199_999).as_bytes());
    let converted = text(big).await;
    assert_eq!(converted.chars().count(), 100_000);
    assert!(converted.starts_with(" 😀"));
    let all_nul = text(vec![0u8; 800_000]).await;
    assert_eq!(all_nul, " ".repeat(100_000));
}
