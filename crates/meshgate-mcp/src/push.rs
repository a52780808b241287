//! Push to the MCP client when a DM arrives: `notifications/resources/updated`
//! for a session subscribed to `meshgate://inbox`, and
//! `notifications/claude/channel` (the framed DM) for a channel session.
//!
//! One watcher task per session at most, started by the first subscribe or
//! by a channel client's `initialized`; it long-polls through [`Mesh`] (so
//! it counts against the peer's long-poll cap like any waiter) and ends when
//! the client goes away or the credential is refused.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meshgate_proto::framing::{frame_dm, SenderIdentity};
use meshgate_proto::Message;
use rmcp::model::{CustomNotification, ResourceUpdatedNotificationParam, ServerNotification};
use rmcp::{Peer, RoleServer};

use crate::{Mesh, MeshResult, INBOX_URI};

/// What one session wants pushed.
#[derive(Debug, Default)]
pub(crate) struct Push {
    subscribed: AtomicBool,
    channel: AtomicBool,
    started: AtomicBool,
}

/// How often a waiting watcher looks whether its session ended.
const CLOSED_CHECK: Duration = Duration::from_secs(1);

/// Method of Claude Code's channel notification.
const CHANNEL_METHOD: &str = "notifications/claude/channel";

impl Push {
    pub(crate) fn subscribe(&self) {
        self.subscribed.store(true, Ordering::SeqCst);
    }

    pub(crate) fn unsubscribe(&self) {
        self.subscribed.store(false, Ordering::SeqCst);
    }

    pub(crate) fn enable_channel(&self) {
        self.channel.store(true, Ordering::SeqCst);
    }

    /// Starts the session's watcher unless it runs already; DMs newer than
    /// the newest one now are pushed.
    pub(crate) async fn start<M: Mesh>(
        self: &Arc<Self>,
        mesh: Arc<M>,
        call: M::Call,
        peer: Peer<RoleServer>,
    ) -> MeshResult<()> {
        if self.started.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let after = match mesh.latest_id(&call).await {
            Ok(id) => id,
            Err(e) => {
                self.started.store(false, Ordering::SeqCst);
                return Err(e);
            }
        };
        let push = self.clone();
        tokio::spawn(async move { push.run(mesh, call, peer, after).await });
        Ok(())
    }

    async fn run<M: Mesh>(&self, mesh: Arc<M>, call: M::Call, peer: Peer<RoleServer>, mut after: i64) {
        while !peer.is_transport_closed() {
            let poll = mesh.received_after(&call, after, 20, meshgate_proto::WAIT_MAX_SECS);
            let Some(answer) = while_open(poll, &peer, std::future::pending()).await else { break };
            let rows = match answer {
                Ok(rows) => rows,
                Err(e) if is_final(&e.error) => {
                    tracing::info!(error = %e.error, "mcp push: stopped");
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e.error, "mcp push: retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some(newest) = rows.iter().map(|m| m.id).max() else { continue };
            after = after.max(newest);
            if self.subscribed.load(Ordering::SeqCst)
                && peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam { uri: INBOX_URI.into() })
                    .await
                    .is_err()
            {
                break;
            }
            if self.channel.load(Ordering::SeqCst) {
                for message in &rows {
                    let note = channel_notification(message);
                    if peer.send_notification(ServerNotification::CustomNotification(note)).await.is_err() {
                        return;
                    }
                }
            }
        }
        self.started.store(false, Ordering::SeqCst);
    }
}

/// Runs `work` while the session is open and `cancelled` has not resolved;
/// `None` when either ended first. A session that ends thus gives back the
/// long-poll slot its waiter held within [`CLOSED_CHECK`], not when the
/// long-poll runs out.
pub(crate) async fn while_open<T>(
    work: impl Future<Output = T>,
    peer: &Peer<RoleServer>,
    cancelled: impl Future<Output = ()>,
) -> Option<T> {
    tokio::pin!(work);
    tokio::pin!(cancelled);
    loop {
        tokio::select! {
            answer = &mut work => return Some(answer),
            () = &mut cancelled => return None,
            () = tokio::time::sleep(CLOSED_CHECK) => {
                if peer.is_transport_closed() {
                    return None;
                }
            }
        }
    }
}

/// A refusal retrying cannot fix (the token died, the peer went away).
fn is_final(code: &str) -> bool {
    matches!(
        code,
        "invalid_token"
            | "token_revoked"
            | "unauthorized"
            | "peer_disabled"
            | "forbidden"
            | "caller_binding"
            | "not_found"
    ) || code.starts_with("auth")
}

/// `notifications/claude/channel` for one DM: the framed DM as `content`,
/// the routing facts as `meta` (identifier keys, string values).
pub(crate) fn channel_notification(message: &Message) -> CustomNotification {
    let identity = SenderIdentity::of(message);
    let mut meta = serde_json::Map::new();
    meta.insert("message_id".into(), message.id.to_string().into());
    meta.insert("from".into(), message.from_node.clone().into());
    meta.insert("kind".into(), message.kind.to_string().into());
    meta.insert(
        "identity".into(),
        (if identity == SenderIdentity::Verified { "verified" } else { "unverified" }).into(),
    );
    if let Some(thread) = &message.thread_id {
        meta.insert("thread_id".into(), thread.clone().into());
    }
    let params = serde_json::json!({ "content": frame_dm(message, identity), "meta": meta });
    CustomNotification::new(CHANNEL_METHOD, Some(params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshgate_proto::Kind;

    #[test]
    fn channel_notification_carries_the_framed_dm_and_string_meta() {
        let message = Message {
            id: 12,
            from_node: "alice".into(),
            to_node: "bob".into(),
            kind: Kind::Question,
            content: "which port?".into(),
            created_at: "2026-01-01T00:00:00.000000+00:00".into(),
            read_at: None,
            thread_id: Some("5f0c6a54-0c3f-4a8e-9a57-1f0b8d0f2a11".into()),
            related_task_id: None,
            owed: false,
            sender_verified: false,
        };
        let note = channel_notification(&message);
        assert_eq!(note.method, "notifications/claude/channel");
        let params = note.params.expect("params");
        let content = params["content"].as_str().expect("content");
        assert!(content.starts_with("[MESH DM #12 from alice"));
        assert!(content.contains("\nwhich port?\n[END MESH DM #12]"));
        let meta = params["meta"].as_object().expect("meta");
        for (key, value) in meta {
            assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{key}");
            assert!(value.is_string(), "{key}");
        }
        assert_eq!(meta["message_id"], "12");
        assert_eq!(meta["from"], "alice");
        assert_eq!(meta["identity"], "unverified");
        assert_eq!(meta["thread_id"], "5f0c6a54-0c3f-4a8e-9a57-1f0b8d0f2a11");
    }
}
