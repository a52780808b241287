//! JSON bodies for the answers hyper writes by itself.
//!
//! A request hyper cannot parse never reaches the router: hyper answers it
//! with a bodiless 400 (malformed request line or header), 414 (a URI over
//! 65,534 bytes) or 431 (a head over its ~80 KiB buffer, or more than 100
//! headers) and closes the connection. [`JsonErrors`] sits under hyper on
//! the socket and writes, in place of such an answer, the same status with
//! the gateway's JSON error body (`bad_request`, `uri_too_long`,
//! `headers_too_large`), so every error the gateway emits has one. Hyper's
//! limits are unchanged.
//!
//! Recognised by content, which costs one prefix comparison per write: a
//! head starting `HTTP/1.1 4` that declares `content-length: 0`. The
//! gateway's own error answers always carry a JSON body, so the only such
//! heads are hyper's.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{ApiError, Class};

/// `io` with hyper's bodiless error answers replaced by JSON ones.
pub(crate) struct JsonErrors<T> {
    io: T,
    /// A replacement being written: its bytes, how many are written, and
    /// how many bytes of hyper's answer it stands for.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonErrors<T> {
    /// Wraps `io`.
    pub(crate) fn new(io: T) -> Self {
        JsonErrors { io, replacing: None }
    }
}

/// The JSON answer standing for hyper's bodiless error head at the start of
/// `buf`, and that head's length; `None` for anything else.
fn replacement(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    if !buf.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let empty = b"\r\ncontent-length: 0\r\n";
    buf[..head].windows(empty.len()).position(|w| w == empty)?;
    let error = match buf.get(9..12)? {
        b"400" => ApiError::bad_request(
            "bad_request",
            "the request is not valid HTTP/1.1: its request line or a header could not be parsed",
        ),
        b"414" => ApiError::new(Class::UriTooLong, "uri_too_long", "the request URI is too long"),
        b"431" => ApiError::new(
            Class::HeadersTooLarge,
            "headers_too_large",
            "the request head is too large (its headers are over the size or count the gateway reads)",
        ),
        _ => return None,
    };
    Some((error.into_http1_bytes(), head))
}

impl<T: AsyncWrite + Unpin> JsonErrors<T> {
    /// Writes the pending replacement; then claims its stand-in's bytes.
    fn finish_replacing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let (bytes, written, claimed) = self.replacing.as_mut().expect("a replacement is pending");
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let claimed = *claimed;
        self.replacing = None;
        Poll::Ready(Ok(claimed))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            match replacement(buf) {
                Some((bytes, head)) => self.replacing = Some((bytes, 0, head)),
                None => return Pin::new(&mut self.io).poll_write(cx, buf),
            }
        }
        self.finish_replacing(cx).map_ok(|n| n.min(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        if self.replacing.is_some() || first.starts_with(b"HTTP/1.1 4") {
            // Rare (4xx answers only): one slice at a time, through the check.
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_error_heads_are_replaced() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\
                      date: Sat, 05 Dec 2026 20:30:46 GMT\r\n\r\n";
        let (bytes, head) = replacement(hyper).unwrap();
        assert_eq!(head, hyper.len());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{text}");
        let body: serde_json::Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"], "headers_too_large");
        // Ours carry a body; a 2xx or a split head is left alone.
        assert!(replacement(b"HTTP/1.1 404 Not Found\r\ncontent-length: 57\r\n\r\n{}").is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n").is_none());
    }
}
