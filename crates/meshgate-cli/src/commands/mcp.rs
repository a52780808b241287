//! `meshgate mcp --as NAME [--gateway URL] [--channel]`: an MCP server on
//! stdio acting as peer NAME, for agent hosts (Claude Code, Codex, Gemini
//! CLI) that start MCP servers as subprocesses.
//!
//! The tools are `meshgate-mcp`'s; this file only implements its `Mesh`
//! trait over `meshgate-client`, so a send is validated (format, alias,
//! registry with suggestions) and scanned for credentials exactly as
//! `meshgate send` does, before anything leaves. The token is found as for
//! every `--as` command: NAME's stored per-peer token, else
//! `MESH_GATEWAY_TOKEN`. stdout carries only MCP; diagnostics go to stderr.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use meshgate_client::{Client, Error as ClientError, FetchOptions, SendOptions, WaitOptions};
use meshgate_mcp::rmcp::model::Extensions;
use meshgate_mcp::{Draft, Mesh, MeshResult, MeshServer, Options, ToolError};
use meshgate_proto::{Message, Obligations, Peer, SendResponse, ThreadMessages};

use super::{Global, DEFAULT_REQUEST_TIMEOUT_SECS};
use crate::exit::OK;

/// Arguments of `mcp`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Push each new DM as `notifications/claude/channel` even if the client did not declare the capability.
    #[arg(long)]
    pub channel: bool,
}

/// Runs the stdio MCP server until the client closes stdin.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.client_with_timeout(DEFAULT_REQUEST_TIMEOUT_SECS).await?;
    let server = MeshServer::new(Arc::new(ClientMesh(client)), Options { channel: args.channel });
    meshgate_mcp::stdio::serve(server, tokio::io::stdin(), tokio::io::stdout())
        .await
        .context("serving MCP on stdio")?;
    Ok(OK)
}

/// The mesh operations over one [`Client`] (one peer per process).
struct ClientMesh(Client);

/// A client error as a tool error: the gateway's stable code where there is
/// one, the client's own refusals under the codes the gateway would use.
fn tool_error(e: ClientError) -> ToolError {
    let detail = e.to_string();
    match e {
        ClientError::Gateway { code, .. } | ClientError::Auth { code, .. } => ToolError::new(code, detail),
        ClientError::NotInRegistry { suggestions, .. } => {
            ToolError { error: "unknown_recipient".into(), detail, suggestions }
        }
        ClientError::RecipientDisabled { .. } => ToolError::new("recipient_disabled", detail),
        ClientError::SecretDetected { .. } => ToolError::new("secret_detected", detail),
        ClientError::ContentTooLong { .. } => ToolError::new("content_too_long", detail),
        ClientError::InvalidName(_) => ToolError::new("invalid_name", detail),
        ClientError::InvalidKind(_) => ToolError::new("unknown_kind", detail),
        ClientError::Unreachable { gateway, reason } => ToolError::new(
            "gateway_unreachable",
            format!("{detail}; {}", crate::exit::unreachable_hint(&gateway, &reason)),
        ),
        ClientError::Unsupported { .. } => ToolError::new("unsupported", detail),
        _ => ToolError::new("client_error", detail),
    }
}

#[async_trait]
impl Mesh for ClientMesh {
    type Call = ();

    fn call(&self, _extensions: &Extensions) -> MeshResult<()> {
        Ok(())
    }

    async fn whoami(&self, _: &()) -> MeshResult<String> {
        // Asks the gateway, so a dead token or an unreachable gateway shows here.
        let me = self.0.peer(self.0.node()).await.map_err(tool_error)?;
        Ok(me.name)
    }

    async fn peers(&self, _: &()) -> MeshResult<Vec<Peer>> {
        self.0.list_peers().await.map_err(tool_error)
    }

    async fn send(&self, _: &(), draft: Draft) -> MeshResult<SendResponse> {
        let mut options = SendOptions::new();
        if let Some(thread) = draft.thread_id {
            options = options.thread_id(thread);
        }
        if let Some(task) = draft.related_task_id {
            options = options.task(task);
        }
        let sent = match draft.in_reply_to {
            // The gateway picks the recipient (the other party) and the thread.
            Some(id) => self.0.reply_with(id, &draft.content, draft.kind, options).await,
            None => self.0.send(&draft.to, draft.kind, &draft.content, options).await,
        };
        sent.map_err(tool_error)
    }

    async fn inbox(&self, _: &(), unread_only: bool, limit: u32) -> MeshResult<Vec<Message>> {
        self.0.fetch(FetchOptions::all().unread_only(unread_only).limit(limit)).await.map_err(tool_error)
    }

    async fn received_after(&self, _: &(), after_id: i64, limit: u32, wait_secs: u64) -> MeshResult<Vec<Message>> {
        let options = WaitOptions::new().after(after_id).limit(limit).timeout(Duration::from_secs(wait_secs));
        self.0.wait(options).await.map_err(tool_error)
    }

    async fn latest_id(&self, _: &()) -> MeshResult<i64> {
        self.0.latest_id(None).await.map_err(tool_error)
    }

    async fn mark_read(&self, _: &(), ids: &[i64]) -> MeshResult<Vec<i64>> {
        let answer = self.0.mark_read_many(ids).await.map_err(tool_error)?;
        Ok(answer.marked.iter().map(|m| m.id).collect())
    }

    async fn thread(&self, _: &(), thread_id: &str, after_id: Option<i64>, limit: u32) -> MeshResult<ThreadMessages> {
        self.0.thread_page_of(thread_id, after_id, limit).await.map_err(tool_error)
    }

    async fn obligations(&self, _: &()) -> MeshResult<Obligations> {
        self.0.obligations().await.map_err(tool_error)
    }
}
