//! The batch's search indexing, driven through `execute` on a real file:
//! jobs that inserted and were rolled back leave nothing in the index.

use meshgate_store::{conformance::msg, Resolved, StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{execute, FnJob, Job, WriteCtx};
use crate::names::Lookup;
use crate::ops::{self, insert_message};

fn ctx(path: &std::path::Path) -> WriteCtx {
    let mut conn = Connection::open(path).unwrap();
    crate::configure(&conn, true).unwrap();
    crate::migrate(&mut conn).unwrap();
    let (nudge, _) = crate::checkpoint::channel();
    WriteCtx::new(conn, 0, None, nudge, None, std::sync::Arc::new(crate::recent::Recent::new(0)), Default::default())
}

/// A job storing `body`, kept when `keep`, else failing after its insert.
fn job(body: &str, keep: bool) -> (Box<dyn Job>, oneshot::Receiver<StoreResult<i64>>) {
    let (tx, rx) = oneshot::channel();
    let m = msg("wa", "wb", body);
    let f = move |ctx: &mut WriteCtx| {
        let id = insert_message(ctx, m, false)?.message.id;
        if keep {
            Ok(id)
        } else {
            Err(StoreError::Backend(format!("refused after inserting {id}")))
        }
    };
    (Box::new(FnJob::new(Box::new(f), tx)), rx)
}

fn indexed(conn: &Connection, word: &str) -> Vec<i64> {
    let mut s = conn.prepare("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid").unwrap();
    let rows = s.query_map([word], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

fn run(ctx: &mut WriteCtx, jobs: &[(&str, bool)]) -> Vec<StoreResult<i64>> {
    let (mut batch, replies): (Vec<_>, Vec<_>) = jobs.iter().map(|&(body, keep)| job(body, keep)).unzip();
    ctx.inserted_messages = false;
    let err = execute(ctx, &mut batch).err();
    assert!(err.is_none(), "{err:?}");
    for j in batch {
        j.finish(None);
    }
    replies.into_iter().map(|mut r| r.try_recv().unwrap()).collect()
}

#[test]
fn a_batch_indexes_exactly_its_kept_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(&dir.path().join("mesh.db"));
    let first = run(&mut ctx, &[("kept wombat one", true), ("dropped wombat", false), ("kept wombat two", true)]);
    let kept: Vec<i64> = first.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    assert_eq!(kept.len(), 2);
    assert!(first[1].is_err());
    assert_eq!(indexed(&ctx.conn, "wombat"), kept);
    assert!(indexed(&ctx.conn, "dropped").is_empty());
    assert_eq!(ctx.newest_id, kept[1]);

    // The next batch indexes only its own rows, none twice; a batch whose
    // last job is refused still commits (and indexes) the others.
    let second = run(&mut ctx, &[("later wombat", true), ("dropped again", false)]);
    let later = *second[0].as_ref().unwrap();
    assert_eq!(indexed(&ctx.conn, "wombat"), [kept.clone(), vec![later]].concat());
    assert_eq!(indexed(&ctx.conn, "kept"), kept, "no row is indexed twice");
    assert!(indexed(&ctx.conn, "dropped").is_empty());
    let count: i64 = ctx.conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 3);
}

/// A DM inserted and deleted in the same batch (a send, then a purge) was
/// never indexed: the delete trigger's delete of it is harmless.
#[test]
fn a_dm_deleted_in_its_own_batch_is_not_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(&dir.path().join("mesh.db"));
    let kept = *run(&mut ctx, &[("kept wombat", true)])[0].as_ref().unwrap();
    let (tx, rx) = oneshot::channel();
    let f = |ctx: &mut WriteCtx| {
        let id = insert_message(ctx, msg("wa", "wb", "gone wombat"), false)?.message.id;
        ctx.conn.execute("DELETE FROM messages WHERE id = ?1", [id]).map_err(|e| StoreError::Backend(e.to_string()))
    };
    let mut batch: Vec<Box<dyn Job>> = vec![Box::new(FnJob::new(Box::new(f), tx))];
    ctx.inserted_messages = false;
    execute(&mut ctx, &mut batch).unwrap();
    batch.pop().unwrap().finish(None);
    assert_eq!(rx.blocking_recv().unwrap().unwrap(), 1);
    assert_eq!(indexed(&ctx.conn, "wombat"), [kept]);
    let later = *run(&mut ctx, &[("later wombat", true)])[0].as_ref().unwrap();
    assert_eq!(indexed(&ctx.conn, "wombat"), [kept, later]);
}

/// A job of the form `f`, and where its answer goes.
fn job_of<T: Send + 'static>(
    f: impl FnOnce(&mut WriteCtx) -> StoreResult<T> + Send + 'static,
) -> (Box<dyn Job>, oneshot::Receiver<StoreResult<T>>) {
    let (tx, rx) = oneshot::channel();
    (Box::new(FnJob::new(Box::new(f), tx)), rx)
}

/// The insert's re-check takes a peer from the kept names only while no
/// job of the batch changed a name: a delete earlier in the same batch
/// (the map is cleared only after the commit) refuses the DM.
#[test]
fn a_peer_deleted_earlier_in_the_batch_is_not_taken_from_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(&dir.path().join("mesh.db"));
    let reg = |name: &str| meshgate_store::PeerRegistration {
        name: name.into(),
        url: None,
        capabilities: None,
        mint: meshgate_store::TokenHash::of(name),
        adopt_history: false,
    };
    let (a, b) = (reg("wa"), reg("wb"));
    let mut batch =
        vec![job_of(move |ctx| ops::register_peer(ctx, a)).0, job_of(move |ctx| ops::register_peer(ctx, b)).0];
    execute(&mut ctx, &mut batch).unwrap();
    for name in ["wa", "wb"] {
        let Lookup::Miss(epoch) = ctx.names.get(name) else { panic!("{name} kept") };
        ctx.names.keep(epoch, name, &Resolved { canonical: name.into(), via_alias: false, enabled: true });
    }
    ctx.names_changed = false;
    assert!(ctx.known_peer("wb"));

    let (delete, _) = job_of(|ctx| ops::delete_peer(ctx, "wb"));
    let (send, sent) = job_of(|ctx| insert_message(ctx, msg("wa", "wb", "after delete"), true));
    let mut batch = vec![delete, send];
    ctx.inserted_messages = false;
    execute(&mut ctx, &mut batch).unwrap();
    for j in batch {
        j.finish(None);
    }
    let sent = sent.blocking_recv().unwrap();
    assert!(matches!(sent, Err(StoreError::NotFound(_))), "{sent:?}");
}

fn count(ctx: &WriteCtx) -> i64 {
    ctx.conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap()
}

/// Sends without a savepoint of their own: a refusal before the insert
/// (a self-DM) leaves the jobs around it as they are.
#[test]
fn single_write_jobs_run_without_savepoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(&dir.path().join("mesh.db"));
    let single = |m: meshgate_store::NewMessage| {
        let (tx, rx) = oneshot::channel();
        let job = FnJob::new(Box::new(move |ctx: &mut WriteCtx| insert_message(ctx, m, false)), tx).single_write();
        (Box::new(job) as Box<dyn Job>, rx)
    };
    let (a, a_rx) = single(msg("wa", "wb", "first"));
    let (b, b_rx) = single(msg("wa", "wa", "to myself"));
    let (c, c_rx) = job("third", true);
    let mut batch = vec![a, b, c];
    ctx.inserted_messages = false;
    execute(&mut ctx, &mut batch).unwrap();
    for j in batch {
        j.finish(None);
    }
    assert!(a_rx.blocking_recv().unwrap().is_ok());
    assert!(matches!(b_rx.blocking_recv().unwrap(), Err(StoreError::Refused(..))));
    assert!(c_rx.blocking_recv().unwrap().is_ok());
    assert_eq!(count(&ctx), 2);
    assert_eq!(indexed(&ctx.conn, "first").len(), 1);
}

/// A single-write job that is refused after it changed rows (a broken
/// promise) cannot be undone alone: its batch fails as a whole.
#[test]
fn a_single_write_job_refused_after_writing_fails_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(&dir.path().join("mesh.db"));
    let (kept, _) = job("kept", true);
    let (tx, _rx) = oneshot::channel::<StoreResult<i64>>();
    let f = |ctx: &mut WriteCtx| {
        let id = insert_message(ctx, msg("wa", "wb", "half"), false)?.message.id;
        Err(StoreError::Backend(format!("refused after inserting {id}")))
    };
    let broken: Box<dyn Job> = Box::new(FnJob::new(Box::new(f), tx).single_write());
    let mut batch = vec![kept, broken];
    ctx.inserted_messages = false;
    assert!(execute(&mut ctx, &mut batch).is_err());
    ctx.conn.execute_batch("ROLLBACK").unwrap();
    assert_eq!(count(&ctx), 0, "nothing of the batch is committed");
}
