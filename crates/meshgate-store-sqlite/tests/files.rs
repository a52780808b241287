//! The store keeps its files owner-only by itself, whatever the process's
//! umask (`meshgate import` and tests open stores without `serve`'s 077).
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use meshgate_proto::Kind;
use meshgate_store::{NewMessage, Store};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

async fn write_one(store: &SqliteStore) {
    let m = NewMessage {
        from_node: "alice".into(),
        to_node: "bob".into(),
        kind: Kind::Fyi,
        content: "private".into(),
        thread_id: None,
        related_task_id: None,
        idempotency_key: None,
        in_reply_to: None,
        due_at: None,
        sender_verified: false,
    };
    store.insert_message(m).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_wal_and_shm_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mesh.db");
    let files = ["", "-wal", "-shm"].map(|s| format!("{}{s}", db.display()));
    {
        let store = SqliteStore::open(&db, SqliteOptions::default()).unwrap();
        write_one(&store).await;
        for f in &files {
            assert_eq!(mode(Path::new(f)), 0o600, "{f} (a fresh store)");
        }
        // Dropping the store removes -wal and -shm; leave copies that others
        // may read, as an older version or a careless copy would.
    }
    for f in &files {
        std::fs::OpenOptions::new().create(true).append(true).open(f).unwrap();
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let store = SqliteStore::open(&db, SqliteOptions::default()).unwrap();
    write_one(&store).await;
    for f in &files {
        assert_eq!(mode(Path::new(f)), 0o600, "{f} (narrowed at open)");
    }
}
