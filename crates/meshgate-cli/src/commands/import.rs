//! `meshgate import`: load a `meshgate export` file, or the Python swarph
//! gateway's SQLite database, into a meshgate store.
//!
//! Records go to the store in batches ([`Store::import_batch`], one
//! transaction each), in file / source id order. Importing is idempotent:
//! peers, tokens, aliases and threads are upserted by natural key, messages
//! are deduplicated by origin, so re-running an import (or resuming one that
//! failed half-way) stores nothing twice.

mod checks;
mod swarph;

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use meshgate_store::{ImportRecord, ImportStats, RecordKind, Store};
use serde_json::json;

use super::export::{progress, redact, Line, StoreArgs, FORMAT, FORMAT_VERSION};
use super::serve::open_store;
use crate::exit::advised;

/// Options of `meshgate import`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Sources:
  FILE                a `meshgate export` file (JSON lines, `-` for stdin) of any meshgate store
  --from-swarph PATH  the Python swarph gateway's SQLite database (mesh.db), read-only; stop
                      that gateway first (or import again later: new rows are picked up)

What is copied from a swarph database: peers (name, url, capabilities, enabled,
registered_at, last_seen), per-peer tokens (their SHA-256 hashes: imported peers keep
their working tokens; revoked generations are skipped), threads, and direct messages with
their read state, thread, task id and idempotency key (a retry with the same key finds the
imported message). Channel posts, tasks, ratifications and everything else are not copied;
the summary counts what was skipped and why.

Importing is idempotent: running it again stores nothing new. Peers, tokens, aliases and
threads are matched by name / hash / alias / UUID (existing rows win, see the docs of
each), messages by their origin (<source-kind>:<source-store-id>:<source-id>). Imported
messages get new ids after every message already in the store, in source order; created_at
and read_at keep the original times, so a store that already had newer messages lists the
imported ones after them by id (the cursor order of inbox/watch) while their timestamps
stay old.

The summary goes to stdout (--json for a machine-readable one); a progress bar to stderr
when it is a terminal. Exit codes: 0 done (even with skipped records), 1 unreadable input
(records of earlier batches stay imported; run it again once fixed), 2 usage, 3 store
unreachable.

Examples:
  meshgate import --from-swarph /var/lib/swarph/mesh.db
  meshgate import mesh.jsonl --db postgres://meshgate@db/meshgate
  meshgate export --db sqlite:old.db | meshgate import - --db postgres://meshgate@db/meshgate")]
pub struct Args {
    /// A `meshgate export` file to load (`-` for stdin).
    #[arg(value_name = "FILE", required_unless_present = "from_swarph", conflicts_with = "from_swarph")]
    pub file: Option<PathBuf>,

    /// Import the Python swarph gateway's SQLite database (its mesh.db) instead of an export file.
    #[arg(long, value_name = "PATH")]
    pub from_swarph: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Records per transaction.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,

    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Sends records to the store in batches and keeps the counts.
pub(crate) struct Batcher<'a> {
    store: &'a dyn Store,
    batch: Vec<ImportRecord>,
    size: usize,
    /// Counts so far, store outcomes and the reader's own skips.
    pub stats: ImportStats,
    bar: ProgressBar,
}

impl<'a> Batcher<'a> {
    pub(crate) fn new(store: &'a dyn Store, size: u32, bar: ProgressBar) -> Self {
        Batcher {
            store,
            batch: Vec::with_capacity(size as usize),
            size: size.max(1) as usize,
            stats: Default::default(),
            bar,
        }
    }

    /// Queues a record (or counts it skipped when the API could never have
    /// stored it, see [`checks`]); sends the batch when it is full.
    pub(crate) async fn push(&mut self, record: ImportRecord) -> Result<()> {
        if let Some((kind, reason)) = checks::refusal(&record) {
            self.skip(kind, &reason);
            return Ok(());
        }
        self.batch.push(record);
        if self.batch.len() >= self.size {
            self.flush().await?;
        }
        Ok(())
    }

    /// Counts a record the reader could not or would not import.
    pub(crate) fn skip(&mut self, kind: RecordKind, reason: &str) {
        self.stats.entry(kind).skip(reason);
        self.bar.inc(1);
    }

    /// Sends what is queued.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        let stats = self.store.import_batch(batch).await.context("importing into the store")?;
        self.stats.merge(&stats);
        self.bar.inc(n);
        Ok(())
    }

    /// Sends the rest and clears the progress bar.
    pub(crate) async fn finish(mut self) -> Result<ImportStats> {
        self.flush().await?;
        self.bar.finish_and_clear();
        Ok(self.stats)
    }
}

/// Runs `meshgate import`.
pub async fn run(args: Args) -> Result<u8> {
    let url = args.store.url();
    let (source, stats) = match (&args.file, &args.from_swarph) {
        (None, Some(path)) => {
            let source = swarph::Source::open(path)?;
            let (store, _) = open_store(&url).await?;
            let described = format!("swarph database {} (source id {})", path.display(), source.id);
            (described, source.import(&*store, args.batch_size).await?)
        }
        (Some(file), None) => {
            let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
                Box::new(std::io::BufReader::new(std::io::stdin()))
            } else {
                super::store_boundary::check_export_file(file)?;
                let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
                Box::new(std::io::BufReader::new(f))
            };
            let (store, _) = open_store(&url).await?;
            let name = if file.as_os_str() == "-" { "stdin".to_owned() } else { file.display().to_string() };
            let (source_id, stats) = import_jsonl(&*store, reader, args.batch_size).await?;
            (format!("{name} (meshgate store {source_id})"), stats)
        }
        _ => return Err(advised("give either an export FILE or --from-swarph PATH")),
    };
    print_summary(&source, &redact(&url), &stats, args.json);
    Ok(crate::exit::OK)
}

/// Loads a `meshgate export` stream; returns the source store id and the
/// counts.
async fn import_jsonl(store: &dyn Store, reader: Box<dyn BufRead>, batch_size: u32) -> Result<(String, ImportStats)> {
    let bar = progress(0, "importing");
    let mut batcher = Batcher::new(store, batch_size, bar);
    let mut source_id: Option<String> = None;
    for (n, line) in reader.lines().enumerate() {
        let number = n + 1;
        let line = line.with_context(|| format!("reading line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line =
            serde_json::from_str(&line).with_context(|| format!("line {number}: not a meshgate export record"))?;
        let Some(id) = &source_id else {
            let Line::Meta(meta) = parsed else {
                bail!(
                    "line {number}: a meshgate export starts with a `meta` record; is this `meshgate export` output?"
                );
            };
            if meta.format != FORMAT {
                bail!("line {number}: format {:?} is not {FORMAT:?}", meta.format);
            }
            if meta.version > FORMAT_VERSION {
                bail!(
                    "line {number}: export format version {} is newer than this build reads ({FORMAT_VERSION})",
                    meta.version
                );
            }
            source_id = Some(meta.store_id);
            continue;
        };
        let record = parsed.into_record(id).with_context(|| format!("line {number}"))?;
        if let Some(record) = record {
            batcher.push(record).await?;
        }
    }
    let Some(source_id) = source_id else { bail!("the input is empty: no `meta` record") };
    Ok((source_id, batcher.finish().await?))
}

fn kind_label(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Peer => "peers",
        RecordKind::Token => "tokens",
        RecordKind::Alias => "aliases",
        RecordKind::Thread => "threads",
        RecordKind::Message => "messages",
    }
}

fn print_summary(source: &str, target: &str, stats: &ImportStats, as_json: bool) {
    if as_json {
        let mut counts = serde_json::Map::new();
        for kind in RecordKind::ALL {
            let c = stats.get(kind);
            counts.insert(
                kind_label(kind).into(),
                json!({"imported": c.imported, "present": c.present, "skipped": c.skipped}),
            );
        }
        println!("{}", json!({"source": source, "target": target, "counts": counts}));
        return;
    }
    println!("imported {source}");
    println!("    into {target}");
    println!("{:<10} {:>9} {:>16} {:>8}", "", "imported", "already present", "skipped");
    for kind in RecordKind::ALL {
        let c = stats.get(kind);
        println!("{:<10} {:>9} {:>16} {:>8}", kind_label(kind), c.imported, c.present, c.skipped_total());
    }
    for kind in RecordKind::ALL {
        for (reason, n) in &stats.get(kind).skipped {
            println!("skipped {n} {}: {reason}", kind_label(kind));
        }
    }
}
