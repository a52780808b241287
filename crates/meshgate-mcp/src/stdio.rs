//! MCP over stdio that survives a bad line.
//!
//! rmcp's stdio transport stops reading at the first line that is not a
//! JSON-RPC message, and the server then exits with status 0 without a word
//! to the client: one bad line from a host ends every tool of the session.
//! Here each line is checked before rmcp sees it. A line that is not JSON is
//! answered with JSON-RPC's parse error (-32700), one that is JSON but not a
//! client message with invalid request (-32600, carrying its `id` when it
//! has one), and a line over [`LINE_MAX`] bytes with invalid request too;
//! then the session goes on. The handshake is kept in order here as well:
//! rmcp gives up on a session whose first message is not `initialize`, or
//! whose second is not `notifications/initialized` (and its error quotes the
//! message, body and all). So before the handshake a request is answered
//! with invalid request and a notification or response is dropped. Only
//! whole lines reach stdout, whether rmcp's or these answers. A line is never
//! logged (it may hold a DM), and the warnings about bad lines thin out
//! (the 1st, 10th, 100th, ...) so a host that never reads stderr cannot stall
//! the session by filling the pipe.

use rmcp::model::{ClientJsonRpcMessage, ClientNotification, ClientRequest, JsonRpcMessage};
use rmcp::service::ServerInitializeError;
use rmcp::{RoleServer, Service, ServiceExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The longest line read from the client (a tool call with a DM's body
/// fits many times over); a longer one is refused and skipped.
pub const LINE_MAX: usize = 8 << 20;

/// Serves `service` on `input`/`output` (stdin/stdout) until the client
/// closes `input`.
pub async fn serve<S, R, W>(service: S, input: R, output: W) -> std::io::Result<()>
where
    S: Service<RoleServer> + Send + 'static,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (to_rmcp, rmcp_in) = tokio::io::duplex(64 << 10);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(64 << 10);
    let (answers, answered) = mpsc::channel::<String>(16);
    let reader = tokio::spawn(check_lines(input, to_rmcp, answers));
    let writer = tokio::spawn(write_lines(from_rmcp, answered, output));
    let served = match service.serve((rmcp_in, rmcp_out)).await {
        Ok(running) => running.waiting().await.map(|_| ()).map_err(std::io::Error::other),
        // Never rmcp's text: it quotes the offending message, a DM's body included.
        Err(ServerInitializeError::ConnectionClosed(_)) => {
            Err(std::io::Error::other("the client closed stdin before the MCP handshake finished"))
        }
        Err(e) => Err(std::io::Error::other(format!("the MCP handshake failed ({})", handshake_failure(&e)))),
    };
    reader.abort();
    let written = writer.await.map_err(std::io::Error::other)?;
    served.and(written)
}

/// Copies each valid client message line of `input` to `rmcp`; answers the others.
async fn check_lines<R: AsyncRead + Unpin>(
    input: R,
    mut rmcp: tokio::io::DuplexStream,
    answers: mpsc::Sender<String>,
) -> std::io::Result<()> {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    let mut handshake = Handshake::AwaitingInitialize;
    let mut refused = 0u64;
    loop {
        line.clear();
        let read = (&mut input).take(LINE_MAX as u64 + 1).read_until(b'\n', &mut line).await?;
        if read == 0 {
            return Ok(()); // EOF: dropping `rmcp` ends the session
        }
        if line.len() > LINE_MAX && line.last() != Some(&b'\n') {
            skip_rest_of_line(&mut input).await?;
            warn_thinly(&mut refused, "a line longer than the limit");
            let _ = answers.send(refusal(Value::Null, -32600, &format!("line longer than {LINE_MAX} bytes"))).await;
            continue;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        // Parsed once into a value: rmcp gets that value written out again, so it reads exactly
        // what was checked here (a repeated key is resolved once, the same way for both).
        let value = match serde_json::from_slice::<Value>(text) {
            Ok(value) => value,
            Err(e) => {
                warn_thinly(&mut refused, "a line that is not JSON");
                let _ = answers.send(refusal(Value::Null, -32700, &format!("Parse error: {e}"))).await;
                continue;
            }
        };
        let id = usable_id(&value);
        let bad_id = value.get("id").is_some_and(|v| !(v.is_string() || v.is_number() || v.is_null()));
        let message = match serde_json::from_value::<ClientJsonRpcMessage>(value.clone()) {
            Ok(_) if bad_id => Err("the id must be a string or a number".to_owned()),
            Ok(message) => Ok(message),
            Err(e) => Err(format!("Invalid request: {e}")),
        };
        let message = match message {
            Ok(message) => message,
            Err(why) => {
                warn_thinly(&mut refused, "a line that is not a JSON-RPC client message");
                let _ = answers.send(refusal(id, -32600, &why)).await;
                continue;
            }
        };
        match handshake.admit(&message) {
            Admit::Forward => {
                let mut line = serde_json::to_vec(&value).map_err(std::io::Error::other)?;
                line.push(b'\n');
                rmcp.write_all(&line).await?;
            }
            Admit::Refuse(why) => {
                warn_thinly(&mut refused, "a request out of the handshake's order");
                let _ = answers.send(refusal(id, -32600, why)).await;
            }
            Admit::Drop => warn_thinly(&mut refused, "a notification or response out of the handshake's order"),
        }
    }
}

/// Where the session is in MCP's handshake, as far as the client's lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    /// Nothing yet: only `initialize` may come.
    AwaitingInitialize,
    /// `initialize` went to rmcp: `notifications/initialized` must follow.
    AwaitingInitialized,
    /// Done: every message goes to rmcp.
    Ready,
}

/// What to do with a client message.
enum Admit {
    Forward,
    /// Answer (a request) with invalid request and this text.
    Refuse(&'static str),
    /// Drop (a notification or a response) without an answer.
    Drop,
}

impl Handshake {
    /// Whether `message` may go to rmcp now; advances the handshake.
    fn admit(&mut self, message: &ClientJsonRpcMessage) -> Admit {
        match (*self, message) {
            (Handshake::Ready, _) => Admit::Forward,
            (Handshake::AwaitingInitialize, JsonRpcMessage::Request(r))
                if matches!(r.request, ClientRequest::InitializeRequest(_)) =>
            {
                *self = Handshake::AwaitingInitialized;
                Admit::Forward
            }
            (Handshake::AwaitingInitialized, JsonRpcMessage::Notification(n))
                if matches!(n.notification, ClientNotification::InitializedNotification(_)) =>
            {
                *self = Handshake::Ready;
                Admit::Forward
            }
            (Handshake::AwaitingInitialize, JsonRpcMessage::Request(_)) => {
                Admit::Refuse("the session has not started: send initialize first")
            }
            (Handshake::AwaitingInitialized, JsonRpcMessage::Request(_)) => {
                Admit::Refuse("the session is not ready: send notifications/initialized first")
            }
            _ => Admit::Drop,
        }
    }
}

/// The `id` of a refused message when JSON-RPC allows it as one (a string or
/// a number), else null.
fn usable_id(v: &Value) -> Value {
    v.get("id").filter(|id| id.is_string() || id.is_number()).cloned().unwrap_or(Value::Null)
}

/// Logs a refused line at warn for the 1st, 10th, 100th, ... (never its text).
fn warn_thinly(refused: &mut u64, what: &str) {
    *refused += 1;
    let n = *refused;
    let mut m = n;
    while m >= 10 && m.is_multiple_of(10) {
        m /= 10;
    }
    if m == 1 {
        tracing::warn!(refused = n, "MCP stdio: answered or dropped {what} (refused lines so far: {n})");
    }
}

/// What went wrong in the handshake, without the message rmcp quotes.
fn handshake_failure(e: &ServerInitializeError) -> &'static str {
    match e {
        ServerInitializeError::ExpectedInitializeRequest(_) => "the first message was not initialize",
        ServerInitializeError::ExpectedInitializedNotification(_) => {
            "initialize was not followed by notifications/initialized"
        }
        ServerInitializeError::UnsupportedProtocolVersion(_) => "unsupported protocol version",
        ServerInitializeError::TransportError { .. } => "writing to stdout failed",
        _ => "rmcp refused it",
    }
}

/// Reads up to and including the next newline (or EOF), keeping nothing.
async fn skip_rest_of_line<R: AsyncRead + Unpin>(input: &mut BufReader<R>) -> std::io::Result<()> {
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}

/// A JSON-RPC error answer, as one line.
fn refusal(id: Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

/// Writes rmcp's lines and the refusals to `output`, whole lines only,
/// until rmcp has finished and no refusal is left.
async fn write_lines<W: AsyncWrite + Unpin>(
    from_rmcp: tokio::io::DuplexStream,
    mut answered: mpsc::Receiver<String>,
    mut output: W,
) -> std::io::Result<()> {
    let mut rmcp_lines = BufReader::new(from_rmcp).lines();
    let (mut rmcp_open, mut answers_open) = (true, true);
    while rmcp_open || answers_open {
        let line = tokio::select! {
            line = rmcp_lines.next_line(), if rmcp_open => match line? {
                Some(line) => line,
                None => { rmcp_open = false; continue; }
            },
            answer = answered.recv(), if answers_open => match answer {
                Some(answer) => answer,
                None => { answers_open = false; continue; }
            },
        };
        output.write_all(line.as_bytes()).await?;
        output.write_all(b"\n").await?;
        output.flush().await?;
    }
    Ok(())
}
