//! `meshgate register [--url U] [--capability K=V]... [--replace]`
//!
//! Capabilities merge by default: the peer's registered map is read first and
//! the given keys are laid over it, so updating one key does not erase the
//! rest (the gateway replaces the map wholesale). A per-peer token minted by
//! this call is saved with mode 0600 and used for this identity afterwards.
//! A deleted peer's name (409 `name_retired`) takes `--adopt-history`
//! (operator token), which inherits the old peer's DMs.

use anyhow::{Context, Result};
use meshgate_client::RegisterOptions;
use serde_json::{Map, Value};

use super::Global;
use crate::exit::OK;
use crate::output::print_json;
use crate::tokens::TokenStore;

/// Arguments of `register`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// This peer's own service URL (default: the registered one; the Python
    /// reference gateway requires one on first registration).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// A capability as KEY=VALUE; VALUE is parsed as JSON when it can be, else kept as a string.
    #[arg(long = "capability", value_name = "KEY=VALUE", value_parser = parse_capability)]
    pub capabilities: Vec<(String, Value)>,

    /// Replace the registered capabilities with exactly the given ones instead of merging.
    #[arg(long)]
    pub replace: bool,

    /// Print the registration as JSON (the token is never printed).
    #[arg(long)]
    pub json: bool,

    /// Operator: take over a deleted peer's retired name and inherit its DMs.
    #[arg(long)]
    pub adopt_history: bool,
}

fn parse_capability(raw: &str) -> Result<(String, Value), String> {
    let (key, value) = raw.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {raw:?}"))?;
    if key.is_empty() {
        return Err("the capability key is empty".into());
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((key.to_owned(), value))
}

/// Runs `register`.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let mut client =
        if args.adopt_history { global.operator_client(global.identity()?)? } else { global.client().await? };
    let node = client.node().to_owned();
    let existing = match current(&client, &node).await {
        // A stored token that died with a deleted or revoked peer: the
        // operator token (when set) registers the peer again.
        Err(e) if is_dead_token(&e) && std::env::var_os(meshgate_client::GATEWAY_TOKEN_ENV).is_some() => {
            client = global.operator_client(&node)?;
            current(&client, &node).await?
        }
        other => other?,
    };
    let mut capabilities = match (&existing, args.replace) {
        (Some(peer), false) => peer.capabilities.clone(),
        _ => Map::new(),
    };
    capabilities.extend(args.capabilities);
    let url = args.url.or_else(|| existing.as_ref().and_then(|p| p.url.clone()));
    let mut options = RegisterOptions::new().capabilities(capabilities);
    options.url = url.clone();
    if args.adopt_history {
        options = options.adopt_history();
    }
    let response = client.register(options).await;
    let response = response.with_context(|| {
        if url.is_none() {
            format!("registering {node} (if the gateway asks for a url, pass --url)")
        } else {
            format!("registering {node}")
        }
    })?;

    let store = TokenStore::locate()?;
    let token_file = match response.peer_token.as_deref() {
        Some(token) => {
            Some(store.save(&global.gateway, &node, token).await.context("saving the minted per-peer token")?)
        }
        None => None,
    };
    let stored_path = store.path(&global.gateway, &node);
    if args.json {
        let mut value = serde_json::to_value(&response)?;
        if let Value::Object(map) = &mut value {
            map.remove("peer_token");
            map.insert(
                "token_file".into(),
                token_file.as_ref().map_or(Value::Null, |p| Value::String(p.display().to_string())),
            );
        }
        print_json(&value)?;
    } else {
        println!("registered {node} at {}{}", client.gateway(), if existing.is_some() { " (updated)" } else { "" });
    }
    match &token_file {
        Some(path) => eprintln!(
            "per-peer token minted and saved to {} (mode 0600); `--as {node}` uses it from now on",
            path.display()
        ),
        None if !stored_path.exists() => eprintln!(
            "note: the gateway already holds a token for {node} ({}), but none is stored at {}; \
             this identity keeps using MESH_GATEWAY_TOKEN; to use that token (e.g. minted by \
             `swarph mesh register`), `meshgate token set --as {node}` stores it from stdin",
            response.token_status,
            stored_path.display()
        ),
        None => {}
    }
    Ok(OK)
}

/// The peer's current registration, if any.
async fn current(client: &meshgate_client::Client, node: &str) -> Result<Option<meshgate_client::Peer>> {
    match client.peer(node).await {
        Ok(peer) => Ok(Some(peer)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e).context("reading the current registration"),
    }
}

fn is_dead_token(e: &anyhow::Error) -> bool {
    e.chain().any(|c| matches!(c.downcast_ref(), Some(meshgate_client::Error::Auth { status: 401, .. })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_parse_json_or_string() {
        assert_eq!(parse_capability("a=1").unwrap(), ("a".into(), Value::from(1)));
        assert_eq!(parse_capability("a=x y").unwrap(), ("a".into(), Value::from("x y")));
        assert_eq!(parse_capability("a=").unwrap(), ("a".into(), Value::from("")));
        assert!(parse_capability("noequals").is_err());
        assert!(parse_capability("=1").is_err());
    }
}
