//! The store boundary (issue #18): a file that is not meshgate's is never
//! migrated, chmod-ed or switched to WAL, and a read-only open changes no
//! byte of the file it reads. Real SQLite files in a temp dir.

use std::path::Path;

use meshgate_store::Store;
use meshgate_store_sqlite::{inspect, FileContents, SqliteOptions, SqliteStore};
use rusqlite::Connection;

/// The file's bytes and mode, to compare before and after.
fn snapshot(path: &Path) -> (Vec<u8>, u32) {
    #[cfg(unix)]
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions());
    #[cfg(not(unix))]
    let mode = 0;
    (std::fs::read(path).unwrap(), mode)
}

fn sqlite_file(path: &Path, sql: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn a_foreign_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    sqlite_file(
        &path,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'keep me');",
    );
    #[cfg(unix)]
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let before = snapshot(&path);
    assert_eq!(inspect(&path).unwrap(), FileContents::Foreign(vec!["notes".into()]));

    let err = SqliteStore::open(&path, SqliteOptions::default()).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()) && err.contains("notes"), "{err}");
    assert!(err.contains("not a meshgate database"), "{err}");
    let err = SqliteStore::open_read_only(&path, 1).unwrap_err().to_string();
    assert!(err.contains("not a meshgate database"), "{err}");
    assert_eq!(snapshot(&path), before, "no byte and no mode bit changed");
    assert!(!dir.path().join("notes.db-wal").exists());
}

#[test]
fn a_swarph_database_points_at_the_import_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    sqlite_file(&path, "CREATE TABLE claude_peers (name TEXT); CREATE TABLE claude_messages (id INTEGER);");
    let before = snapshot(&path);
    assert_eq!(inspect(&path).unwrap(), FileContents::Swarph);
    let err = SqliteStore::open(&path, SqliteOptions::default()).unwrap_err().to_string();
    assert!(err.contains("meshgate import --from-swarph"), "{err}");
    assert_eq!(snapshot(&path), before);
}

#[test]
fn a_file_that_is_not_sqlite_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "just some text, long enough to be read as a database header........").unwrap();
    let err = inspect(&path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()) && err.contains("not a database"), "{err}");
    let err = SqliteStore::open(&path, SqliteOptions::default()).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_open_reads_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        store.store_id().await.unwrap();
    }
    assert_eq!(inspect(&path).unwrap(), FileContents::Meshgate);
    let before = snapshot(&path);
    let store = SqliteStore::open_read_only(&path, 2).unwrap();
    let id = store.store_id().await.unwrap();
    assert!(!id.is_empty());
    assert!(store.list_peers().await.unwrap().is_empty());
    drop(store);
    assert_eq!(snapshot(&path), before, "a read-only open changes no byte");

    // Missing and empty files are refused, not created.
    let missing = dir.path().join("nope.db");
    assert!(SqliteStore::open_read_only(&missing, 1).is_err());
    assert!(!missing.exists());
}
