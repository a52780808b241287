//! The commands the installed hooks run: `meshgate hooks run context`,
//! `meshgate hooks run wake` and `meshgate hooks run end`. Both read the host's event JSON on stdin
//! (only `session_id` and `hook_event_name` are used) and act as `--as NAME`
//! with its stored per-peer token, else `MESH_GATEWAY_TOKEN`.
//!
//! Their exit codes are the hosts' contract, not the CLI's: `context` always
//! exits 0 (a hook error must never block or erase the user's prompt: the
//! error goes to stderr), `wake` exits 2 only to wake the session with DMs
//! on stderr, 0 when it has nothing to say, 1 on a lasting error (a refused
//! token), which the host shows as a non-blocking hook error.
//!
//! Showing a DM does not mark it read: shown means "this session has seen
//! it", read means the agent acknowledged it (MCP `mark_read`/`reply`,
//! `meshgate read`). A DM is shown to a session once, by whichever hook
//! gets it first (see [`super::state`]).

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result};
use meshgate_client::{Client, Error as ClientError, Message, WaitOptions, WAIT_MAX};
use meshgate_proto::framing::{frame_dm, SenderIdentity};
use tokio::time::Instant;

use super::state::SessionState;
use crate::commands::Global;

/// Most characters put in front of the model at once (Claude Code keeps
/// hook context up to 10,000 characters inline).
pub const TEXT_BUDGET_CHARS: usize = 9_000;

/// Longest body shown per DM; a longer one is cut and says so.
pub const BODY_MAX_CHARS: usize = 4_000;

/// The context hook gives up on the gateway after this long.
pub const CONTEXT_BUDGET: Duration = Duration::from_secs(3);

/// Most unread DMs the context hook reads per run.
const CONTEXT_READ_MAX: usize = 500;

/// Largest event JSON read from stdin; the rest is ignored.
const INPUT_MAX_BYTES: u64 = 1 << 20;

/// How often a waiting wake hook checks whether it was superseded.
const SUPERSEDE_CHECK: Duration = Duration::from_millis(200);

/// What the hooks use of the host's event.
#[derive(Debug, Default)]
struct HookInput {
    session_id: String,
    event: String,
}

/// Reads the event JSON (at most [`INPUT_MAX_BYTES`], for at most 2 s: a
/// host that keeps stdin open must not hang the hook). Missing or
/// malformed input means session `default` and no event name.
async fn read_input() -> HookInput {
    // A plain thread, not tokio's stdin: a blocking read that never ends
    // would hold the runtime's shutdown; this thread dies with the process.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::stdin().lock().take(INPUT_MAX_BYTES).read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    let bytes = tokio::time::timeout(Duration::from_secs(2), rx).await.ok().and_then(Result::ok).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let field = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let session_id = Some(field("session_id")).filter(|s| !s.is_empty()).unwrap_or_else(|| "default".to_owned());
    HookInput { session_id, event: field("hook_event_name") }
}

/// `hooks run context`: prints the host's context JSON listing the unread
/// DMs this session has not seen, or nothing. Always exit 0.
pub async fn context(global: &Global) -> u8 {
    if let Err(e) = context_inner(global).await {
        eprintln!("meshgate hook: no DMs shown: {e:#}{}", hint_of(&e, global));
    }
    0
}

async fn context_inner(global: &Global) -> Result<()> {
    let input = read_input().await;
    let node = global.identity()?.to_owned();
    let state = SessionState::open(&global.gateway, &node, &input.session_id)?;
    if matches!(input.event.as_str(), "UserPromptSubmit" | "BeforeAgent") {
        // The session is busy again: a wake hook from its last stop must
        // not wake it mid-turn; the next stop starts a new one.
        state.cancel_wake();
    }
    let client = global.client_with_timeout(CONTEXT_BUDGET.as_secs_f64()).await?;
    let unread = tokio::time::timeout(CONTEXT_BUDGET, unread_dms(&client))
        .await
        .map_err(|_| anyhow::anyhow!("the gateway did not answer within {CONTEXT_BUDGET:?}"))??;
    let Some(text) = state.with_shown(|shown| render(&node, &unread, shown))? else { return Ok(()) };
    let event = if input.event.is_empty() { "SessionStart".to_owned() } else { input.event };
    let output = serde_json::json!({
        "hookSpecificOutput": { "hookEventName": event, "additionalContext": text }
    });
    println!("{output}");
    Ok(())
}

/// The CLI's hint for `e` as a sentence to append: for a 401 it names the
/// token file the hook looked in (the host may run it with another
/// config directory than the shell that installed it).
fn hint_of(e: &anyhow::Error, global: &Global) -> String {
    crate::exit::hint(e, global).map(|h| format!(" (hint: {h})")).unwrap_or_default()
}

/// `hooks run end` (Claude Code `SessionEnd`): the session is over, so its
/// waiting wake hook exits. Touches no gateway; always exit 0.
pub async fn end(global: &Global) -> u8 {
    let input = read_input().await;
    let state = global
        .identity()
        .map(str::to_owned)
        .and_then(|node| SessionState::open(&global.gateway, &node, &input.session_id));
    match state {
        Ok(state) => state.cancel_wake(),
        Err(e) => eprintln!("meshgate hook: {e:#}"),
    }
    0
}

/// Up to [`CONTEXT_READ_MAX`] unread DMs, oldest first.
async fn unread_dms(client: &Client) -> Result<Vec<Message>> {
    let mut all = Vec::new();
    let mut cursor = 0;
    while all.len() < CONTEXT_READ_MAX {
        let page = client
            .wait(WaitOptions::new().after(cursor).unread_only(true).timeout(Duration::ZERO).limit(100))
            .await
            .context("reading the unread DMs")?;
        let Some(last) = page.last().map(|m| m.id) else { break };
        cursor = last;
        all.extend(page);
    }
    Ok(all)
}

/// The text for the DMs of `rows` not in `shown` (oldest first, as many as
/// fit [`TEXT_BUDGET_CHARS`]; those are added to `shown`), or `None`.
fn render(node: &str, rows: &[Message], shown: &mut BTreeSet<i64>) -> Option<String> {
    let fresh: Vec<&Message> = rows.iter().filter(|m| !shown.contains(&m.id)).collect();
    if fresh.is_empty() {
        return None;
    }
    let mut frames = Vec::new();
    let mut used = 0;
    for message in &fresh {
        let frame = frame(message);
        let chars = frame.chars().count() + 2;
        if !frames.is_empty() && used + chars > TEXT_BUDGET_CHARS - 600 {
            break;
        }
        used += chars;
        shown.insert(message.id);
        frames.push(frame);
    }
    let more = fresh.len() - frames.len();
    let mut text = format!(
        "meshgate: {} unread direct message{} for {node} from other agents, not shown before in this session. \
         They stay unread until marked read (MCP tools mark_read or reply, or `meshgate read ID --as {node}`).\n\n",
        frames.len(),
        if frames.len() == 1 { "" } else { "s" }
    );
    text.push_str(&frames.join("\n\n"));
    if more > 0 {
        text.push_str(&format!(
            "\n\n{more} more unread DM{} not shown here: MCP tool check_inbox, or `meshgate inbox --as {node}`.",
            if more == 1 { " is" } else { "s are" }
        ));
    }
    Some(text)
}

/// One DM framed for the model ([`frame_dm`]), its body cut at
/// [`BODY_MAX_CHARS`] (the cut said) and control characters but newline and
/// tab shown as `\u{..}`: stderr may reach a terminal, and an escape
/// sequence could hide text there.
fn frame(message: &Message) -> String {
    let total = message.content.chars().count();
    let mut shown = message.clone();
    shown.content = message
        .content
        .chars()
        .take(BODY_MAX_CHARS)
        .map(
            |c| if c.is_control() && c != '\n' && c != '\t' { format!("\\u{{{:x}}}", c as u32) } else { c.to_string() },
        )
        .collect();
    let mut text = frame_dm(&shown, SenderIdentity::of(message));
    if total > BODY_MAX_CHARS {
        text.push_str(&format!(
            "\n[body cut at {BODY_MAX_CHARS} of {total} characters; read all of DM #{} from the inbox]",
            message.id
        ));
    }
    text
}

/// `hooks run wake`: waits (at most `max_wait`) for a DM this session has
/// not been shown, then writes it on stderr and exits 2. Exits 0 quietly
/// when superseded, when its parent (the host) is gone, or at `max_wait`.
pub async fn wake(global: &Global, max_wait: Duration) -> u8 {
    match wake_inner(global, max_wait).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("meshgate hook: the wake hook stopped: {e:#}{}", hint_of(&e, global));
            1
        }
    }
}

async fn wake_inner(global: &Global, max_wait: Duration) -> Result<u8> {
    let input = read_input().await;
    let node = global.identity()?.to_owned();
    let state = SessionState::open(&global.gateway, &node, &input.session_id)?;
    let token = state.claim_wake()?;
    let client = global.client().await?;
    let deadline = Instant::now() + max_wait;
    let parent = parent_pid();
    let mut cursor = 0;
    let mut backoff = Duration::from_millis(250);
    while Instant::now() < deadline {
        let chunk = deadline.saturating_duration_since(Instant::now()).min(WAIT_MAX);
        let poll = client.wait(WaitOptions::new().after(cursor).unread_only(true).timeout(chunk).limit(100));
        let rows = tokio::select! {
            rows = poll => rows,
            () = superseded(&state, &token, parent) => return Ok(0),
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) if transient(&e) => {
                tracing::info!(error = %e, "the gateway is not answering; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = superseded(&state, &token, parent) => return Ok(0),
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
            Err(e) => return Err(e).context("waiting for a DM"),
        };
        backoff = Duration::from_millis(250);
        let Some(last) = rows.iter().map(|m| m.id).max() else { continue };
        cursor = last;
        let claimed = state.with_shown(|shown| {
            if !state.is_current_wake(&token) {
                return Err(());
            }
            Ok(render(&node, &rows, shown))
        })?;
        match claimed {
            Err(()) => return Ok(0),
            Ok(None) => continue,
            Ok(Some(text)) => {
                eprintln!("{text}");
                return Ok(2);
            }
        }
    }
    Ok(0)
}

/// Resolves once `token` is no longer the session's wake hook, or the
/// process that started this one has gone.
async fn superseded(state: &SessionState, token: &str, parent: Option<u32>) {
    loop {
        tokio::time::sleep(SUPERSEDE_CHECK).await;
        if !state.is_current_wake(token) || parent_pid() != parent {
            return;
        }
    }
}

/// Errors worth retrying: no answer, a 5xx, 408 or 429.
fn transient(error: &ClientError) -> bool {
    match error {
        ClientError::Unreachable { .. } => true,
        ClientError::Gateway { status, .. } => *status >= 500 || *status == 408 || *status == 429,
        _ => false,
    }
}

#[cfg(unix)]
fn parent_pid() -> Option<u32> {
    rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32)
}

#[cfg(not(unix))]
fn parent_pid() -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshgate_proto::Kind;

    fn dm(id: i64, len: usize) -> Message {
        Message {
            id,
            from_node: "alice".into(),
            to_node: "bob".into(),
            kind: Kind::Fyi,
            content: "x".repeat(len),
            created_at: "2026-12-05T20:00:00Z".into(),
            read_at: None,
            thread_id: None,
            related_task_id: None,
            owed: false,
            sender_verified: false,
        }
    }

    #[test]
    fn render_shows_what_fits_once_and_counts_the_rest() {
        let rows: Vec<Message> = (1..=5).map(|id| dm(id, 3_000)).collect();
        let mut shown = BTreeSet::from([1]);
        let text = render("bob", &rows, &mut shown).unwrap();
        assert!(text.chars().count() <= TEXT_BUDGET_CHARS, "{}", text.chars().count());
        assert!(!text.contains("#1 from"), "already shown");
        assert!(text.contains("#2 from alice") && text.contains("#3 from alice"), "{text}");
        assert!(text.contains("more unread DMs are not shown"), "{text}");
        let after: Vec<i64> = shown.iter().copied().collect();
        assert_eq!(after, [1, 2, 3]);
        let next = render("bob", &rows, &mut shown).unwrap();
        assert!(next.contains("#4 from alice") && !next.contains("#3 from"), "{next}");
        // One huge DM is cut to fit.
        let text = render("bob", &[dm(9, 200_000)], &mut BTreeSet::new()).unwrap();
        assert!(text.chars().count() <= TEXT_BUDGET_CHARS && text.contains("body cut at 4000"));
        let mut hostile = dm(10, 0);
        hostile.content = "a\x1b[2Kb\nc\td".into();
        let text = frame(&hostile);
        assert!(text.contains("a\\u{1b}[2Kb\nc\td") && !text.contains('\x1b'), "{text}");
        assert_eq!(render("bob", &rows[..1], &mut BTreeSet::from([1])), None);
    }
}
