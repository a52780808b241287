//! MCP over stdio that survives a bad line.
//!
//! rmcp's stdio transport stops reading at the first line that is not a
//! JSON-RPC message, and the server then exits with status 0 without a word
//! to the client: one bad line from a host ends every tool of the session.
//! Here each line is checked before rmcp sees it. A line that is not JSON is
//! answered with JSON-RPC's parse error (-32700), one that is JSON but not a
//! client message with invalid request (-32600, carrying its `id` when it
//! has one), and a line over [`LINE_MAX`] bytes with invalid request too;
//! then the session goes on. Only whole lines reach stdout, whether rmcp's
//! or these answers. The line itself is never logged (it may hold a DM).

use rmcp::model::ClientJsonRpcMessage;
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
        Err(e) => Err(std::io::Error::other(e)),
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
    loop {
        line.clear();
        let read = (&mut input).take(LINE_MAX as u64 + 1).read_until(b'\n', &mut line).await?;
        if read == 0 {
            return Ok(()); // EOF: dropping `rmcp` ends the session
        }
        if line.len() > LINE_MAX && line.last() != Some(&b'\n') {
            skip_rest_of_line(&mut input).await?;
            tracing::warn!(max = LINE_MAX, "MCP stdio: refused a line longer than the limit");
            let _ = answers.send(refusal(Value::Null, -32600, &format!("line longer than {LINE_MAX} bytes"))).await;
            continue;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_slice::<ClientJsonRpcMessage>(text) {
            Ok(_) => {
                rmcp.write_all(text).await?;
                rmcp.write_all(b"\n").await?;
            }
            Err(e) => {
                let answer = match serde_json::from_slice::<Value>(text) {
                    Err(_) => refusal(Value::Null, -32700, &format!("Parse error: {e}")),
                    Ok(v) => {
                        let id = v.get("id").filter(|id| id.is_string() || id.is_number()).cloned();
                        refusal(id.unwrap_or(Value::Null), -32600, &format!("Invalid request: {e}"))
                    }
                };
                tracing::warn!("MCP stdio: answered a line that is not a JSON-RPC client message");
                let _ = answers.send(answer).await;
            }
        }
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
