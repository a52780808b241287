//! `meshgate scan [FILE | -]`: the send-time credential check, offline.
//!
//! Prints each finding's label and `line:column`, never the matched text.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::exit::{usage, OK, REFUSED};
use crate::output::print_json;

/// Arguments of `scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// File to scan; `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One finding as printed.
#[derive(Debug, Serialize)]
struct Finding {
    label: String,
    line: usize,
    column: usize,
}

/// Runs `scan`; exit 1 when something is found, 2 when FILE cannot be read. Runs before any runtime
/// exists, so plain blocking reads are fine here.
pub fn run(args: Args) -> Result<u8> {
    let (name, text) = match &args.file {
        Some(path) if path.as_os_str() != "-" => (
            path.display().to_string(),
            // A file that cannot be read is a usage error (exit 2), never
            // exit 1, which means a credential was found.
            std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?,
        ),
        _ => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
            ("<stdin>".to_owned(), text)
        }
    };
    let findings: Vec<Finding> = meshgate_guard::scan(&text)
        .into_iter()
        .map(|f| Finding { label: f.label().to_string(), line: f.line, column: f.column })
        .collect();
    if args.json {
        print_json(&findings)?;
    } else if findings.is_empty() {
        eprintln!("{name}: no credentials found");
    } else {
        for f in &findings {
            println!("{name}:{}:{}: {}", f.line, f.column, f.label);
        }
    }
    Ok(if findings.is_empty() { OK } else { REFUSED })
}
