//! `meshgate token show-path|forget|set --as NAME`: the stored per-peer token
//! of NAME for the gateway, without talking to it. `set` reads the token
//! from stdin, never from the command line (argv is visible to other users
//! and lands in shell history), so a token minted elsewhere (`swarph mesh
//! register`, `peers rotate` on another machine) can be used here.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use tokio::io::AsyncReadExt;

use super::Global;
use crate::exit::{usage, OK};
use crate::tokens::TokenStore;

/// Longest token `set` accepts (minted tokens are 47 characters).
const MAX_TOKEN_LEN: usize = 4096;

/// `token` subcommands; each needs `--as NAME` (or `MESH_NODE`).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the file NAME's token for this gateway lives in (whether or not it exists).
    ShowPath,
    /// Delete NAME's stored token for this gateway (MESH_GATEWAY_TOKEN is used again).
    Forget,
    /// Store NAME's token for this gateway (mode 0600), read from stdin, e.g. `meshgate token set --as NAME < file`.
    Set,
}

/// Runs `token`.
pub async fn run(command: Command, global: &Global) -> Result<u8> {
    let node = global.identity()?;
    meshgate_proto::validate_peer_name(node).map_err(|e| usage(e.to_string()))?;
    let store = TokenStore::locate()?;
    match command {
        Command::ShowPath => {
            let path = store.path(&global.gateway, node);
            println!("{}", path.display());
            if !path.exists() {
                eprintln!("(no token stored for {node} at {} yet)", global.gateway);
            }
        }
        Command::Forget => match store.forget(&global.gateway, node).await? {
            Some(path) => eprintln!("deleted {node}'s token for {} ({})", global.gateway, path.display()),
            None => eprintln!("no token stored for {node} at {}; nothing to delete", global.gateway),
        },
        Command::Set => {
            let token = read_token(node).await?;
            let path = store.save(&global.gateway, node, &token).await?;
            eprintln!("stored {node}'s token for {} in {} (mode 0600)", global.gateway, path.display());
        }
    }
    Ok(OK)
}

/// One token from stdin: a single line of visible ASCII, no spaces. The
/// token itself never appears in an error.
async fn read_token(node: &str) -> Result<String> {
    let mut stdin = tokio::io::stdin();
    if std::io::stdin().is_terminal() {
        eprintln!("paste {node}'s token, then Enter and Ctrl-D:");
    }
    let mut raw = Vec::new();
    (&mut stdin).take(MAX_TOKEN_LEN as u64 + 2).read_to_end(&mut raw).await.context("reading the token from stdin")?;
    let text = String::from_utf8(raw).map_err(|_| usage("the token on stdin is not text"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(crate::exit::advised(
            "no token on stdin: pipe it in, e.g. `meshgate token set --as NAME < token-file`",
        ));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(usage(format!("the token on stdin is longer than {MAX_TOKEN_LEN} characters")));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(usage("the token on stdin must be one word of visible ASCII (no spaces or line breaks inside)"));
    }
    Ok(token.to_owned())
}
