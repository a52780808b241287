//! Two peers on one gateway: register each with the operator token, save
//! each minted per-peer token (0600), then bob follows his inbox while alice
//! sends him a question, and bob answers it.
//!
//! Against a gateway you started (`meshgate serve` prints where it put the
//! operator token):
//!
//! ```sh
//! MESH_GATEWAY_URL=http://127.0.0.1:8788 MESH_GATEWAY_TOKEN="$(cat PATH)" \
//!     cargo run -p meshgate-client --example two_peers -- /tmp/two-peers-tokens
//! ```
//!
//! The suite runs [`run`] against a real gateway it starts
//! (`tests/two_peers_example.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use meshgate_client::{Client, Error, Kind, Message, RegisterOptions, Result, SendOptions, StreamStart};

#[tokio::main]
async fn main() -> Result<()> {
    let gateway = std::env::var("MESH_GATEWAY_URL").unwrap_or_else(|_| meshgate_client::DEFAULT_GATEWAY_URL.into());
    let operator = std::env::var("MESH_GATEWAY_TOKEN")
        .map_err(|_| Error::Config("set MESH_GATEWAY_TOKEN to the gateway's operator token".into()))?;
    let dir = std::env::args().nth(1).map_or_else(|| std::env::temp_dir().join("meshgate-two-peers"), PathBuf::from);
    let (question, answer) = run(&gateway, &operator, &dir).await?;
    println!("bob got #{} from {}: {}", question.id, question.from_node, question.content);
    println!("alice got #{} from {}: {}", answer.id, answer.from_node, answer.content);
    Ok(())
}

/// The whole flow; returns what bob received and what alice received back.
pub async fn run(gateway: &str, operator_token: &str, token_dir: &Path) -> Result<(Message, Message)> {
    let alice = peer(gateway, operator_token, "alice", token_dir).await?;
    let bob = peer(gateway, operator_token, "bob", token_dir).await?;

    // Bob's stream starts "now": anything sent after this call returns is his.
    let mut bob_inbox = std::pin::pin!(bob.stream(StreamStart::Now).await?);
    let sent = alice.send("bob", Kind::Question, "can you review PR 42?", SendOptions::new()).await?;
    let question = next(&mut bob_inbox).await?;
    assert_eq!(question.id, sent.id);

    let mut alice_inbox = std::pin::pin!(alice.stream(StreamStart::Now).await?);
    bob.reply(question.id, "yes, looking now", Kind::Answer).await?;
    bob.mark_read(question.id).await?;
    let answer = next(&mut alice_inbox).await?;
    Ok((question, answer))
}

/// A client acting as `name` with its own token: registered with the
/// operator token the first time (the minted token is saved to
/// `dir/name`), read back from that file afterwards.
async fn peer(gateway: &str, operator_token: &str, name: &str, dir: &Path) -> Result<Client> {
    let client = Client::builder().gateway(gateway).node(name).token_from(operator_token, "operator token").build()?;
    let file = dir.join(name);
    let registered = client.register(RegisterOptions::new().capability("runtime", "example")).await?;
    let token = match registered.peer_token {
        Some(token) => {
            save_private(&file, &token).map_err(|e| Error::Config(format!("saving {}: {e}", file.display())))?;
            token
        }
        // Registered before: its token was minted then, and saved here.
        None => std::fs::read_to_string(&file)
            .map_err(|e| Error::Config(format!("{name} exists but {} is unreadable: {e}", file.display())))?
            .trim()
            .to_owned(),
    };
    client.set_token(token, format!("per-peer token from {}", file.display()));
    Ok(client)
}

/// Writes `token` to `file`, readable by this user only.
fn save_private(file: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file)?.write_all(token.as_bytes())
}

/// The next message of `inbox`, within 10 s.
async fn next(inbox: &mut (impl futures_util::Stream<Item = Result<Message>> + Unpin)) -> Result<Message> {
    match tokio::time::timeout(Duration::from_secs(10), inbox.next()).await {
        Ok(Some(item)) => item,
        Ok(None) => Err(Error::Config("the stream ended".into())),
        Err(_) => Err(Error::Config("no message within 10 s".into())),
    }
}
