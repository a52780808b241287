//! `meshgate wait [--timeout S] [--after ID] [--json]`: block until the next
//! DM arrives, print it and exit 0; exit 1 when `--timeout` passes first.
//!
//! "Next" means after the newest message in the inbox when the command
//! starts (or after `--after ID`), so a DM that lands between two `wait`s is
//! not missed if the second one passes `--after` with the id the first
//! printed. It does not read or write the `watch` state file and marks
//! nothing read. Uses the gateway's long-poll (`GET /messages?wait=`); the
//! Python reference gateway lacks it (exit 1, "does not support long-poll").

use std::time::Duration;

use anyhow::{Context, Result};
use meshgate_client::{WaitOptions, WAIT_MAX};
use tokio::time::Instant;

use super::{Global, DEFAULT_REQUEST_TIMEOUT_SECS};
use crate::exit::{OK, TIMED_OUT};
use crate::output::message_block;

/// Arguments of `wait` (the global `--timeout SECS` is how long to wait;
/// without it, `wait` waits indefinitely).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Wait for a message with an id above ID instead of one newer than the newest now.
    #[arg(long, value_name = "ID")]
    pub after: Option<i64>,

    /// Print the message as one JSON line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wait`.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let limit = match global.timeout {
        Some(secs) if secs.is_finite() && secs >= 0.0 => Some(Duration::from_secs_f64(secs.min(1e9))),
        Some(_) => return Err(crate::exit::usage("--timeout must be a number of seconds, 0 or more")),
        None => None,
    };
    let deadline = limit.map(|l| Instant::now() + l);
    let client = global.client_with_timeout(DEFAULT_REQUEST_TIMEOUT_SECS).await?;
    let after = match args.after {
        Some(id) => id,
        None => client.latest_id(None).await.context("reading the inbox position")?,
    };
    loop {
        let chunk = match deadline {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => WAIT_MAX,
        };
        let rows = client
            .wait(WaitOptions::new().after(after).timeout(chunk).limit(1))
            .await
            .context("waiting for a message")?;
        if let Some(message) = rows.into_iter().next() {
            if args.json {
                println!("{}", serde_json::to_string(&message)?);
            } else {
                println!("{}", message_block(&message));
            }
            return Ok(OK);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            eprintln!("meshgate: no message for {} within {:?}", client.node(), limit.unwrap_or_default());
            return Ok(TIMED_OUT);
        }
    }
}
