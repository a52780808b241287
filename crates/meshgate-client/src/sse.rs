//! An incremental Server-Sent Events parser (the WHATWG "event stream"
//! interpretation), fed with whatever chunks the network delivers.
//!
//! It handles the three line endings (`\n`, `\r\n`, `\r`, including a `\r\n`
//! split across two chunks), a leading byte-order mark, comment lines, fields
//! without a colon, the single optional space after the colon, multi-line
//! `data` (joined with `\n`) and the sticky last-event-id.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// `event:` field; `message` when none was given.
    pub(crate) event: String,
    /// `data:` lines joined with `\n`.
    pub(crate) data: String,
    /// The last event id at dispatch time (sticky across events, per spec).
    pub(crate) id: Option<String>,
}

/// Parser state between chunks.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a leading `\n` belongs to it.
    after_cr: bool,
    /// Past the (optional) byte-order mark at the very start.
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    last_id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk; returns the events it completed, in order.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> Vec<SseEvent> {
        let out = Vec::new();
        if !self.started {
            // The BOM may itself arrive split; wait until three bytes are known.
            let mut head = std::mem::take(&mut self.line);
            head.extend_from_slice(chunk);
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            if head.len() < BOM.len() && BOM.starts_with(&head) {
                self.line = head;
                return out;
            }
            self.started = true;
            let rest = head.strip_prefix(BOM).unwrap_or(&head).to_vec();
            return self.feed_bytes(&rest, out);
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        self.feed_bytes(chunk, out)
    }

    fn feed_bytes(&mut self, chunk: &[u8], mut out: Vec<SseEvent>) -> Vec<SseEvent> {
        let mut i = 0;
        while i < chunk.len() {
            match chunk[i] {
                b'\n' => {
                    self.end_line(&mut out);
                    i += 1;
                }
                b'\r' => {
                    self.end_line(&mut out);
                    i += 1;
                    if i == chunk.len() {
                        self.after_cr = true;
                    } else if chunk[i] == b'\n' {
                        i += 1;
                    }
                }
                _ => {
                    let end = chunk[i..].iter().position(|b| *b == b'\n' || *b == b'\r').map_or(chunk.len(), |p| i + p);
                    self.line.extend_from_slice(&chunk[i..end]);
                    i = end;
                }
            }
        }
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let raw = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&raw);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return; // comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {} // `retry` and unknown fields are ignored
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if !self.has_data {
            self.data.clear();
            return;
        }
        self.has_data = false;
        out.push(SseEvent {
            event: event.filter(|e| !e.is_empty()).unwrap_or_else(|| "message".to_owned()),
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent { event: event.into(), data: data.into(), id: id.map(str::to_owned) }
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        chunks.iter().flat_map(|c| parser.feed(c)).collect()
    }

    #[test]
    fn single_event_with_id_and_name() {
        let got = parse_all(&[b"event: message\nid: 7\ndata: {\"id\":7}\n\n"]);
        assert_eq!(got, vec![ev("message", "{\"id\":7}", Some("7"))]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let got = parse_all(&[b"data: one\ndata:two\ndata:  three\n\n"]);
        assert_eq!(got, vec![ev("message", "one\ntwo\n three", None)]);
    }

    #[test]
    fn comments_and_keep_alives_dispatch_nothing() {
        let got = parse_all(&[b": keep-alive\n\n:another\n\nid: 3\n\n"]);
        assert!(got.is_empty(), "{got:?}");
        // ...but the id sticks for the next event.
        let mut parser = SseParser::new();
        parser.feed(b"id: 3\n\n");
        assert_eq!(parser.feed(b"data: x\n\n"), vec![ev("message", "x", Some("3"))]);
    }

    #[test]
    fn every_line_ending_works() {
        let expect = vec![ev("message", "a", Some("1")), ev("message", "b", Some("2"))];
        assert_eq!(parse_all(&[b"id: 1\r\ndata: a\r\n\r\nid: 2\r\ndata: b\r\n\r\n"]), expect);
        assert_eq!(parse_all(&[b"id: 1\rdata: a\r\rid: 2\rdata: b\r\r"]), expect);
        assert_eq!(parse_all(&[b"id: 1\ndata: a\r\n\nid: 2\rdata: b\n\r"]), expect);
    }

    #[test]
    fn any_chunking_gives_the_same_events() {
        let stream: &[u8] =
            b"\xEF\xBB\xBF: hi\r\nevent: message\r\nid: 10\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nid: 11\rdata: x\r\r";
        let whole = parse_all(&[stream]);
        assert_eq!(whole, vec![ev("message", "{\"a\":\n1}", Some("10")), ev("message", "x", Some("11"))]);
        // One byte at a time, and every two-way split.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse_all(&bytes), whole);
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(parse_all(&[a, b]), whole, "split at {cut}");
        }
    }

    #[test]
    fn incomplete_events_wait_for_the_blank_line() {
        let mut parser = SseParser::new();
        assert!(parser.feed(b"id: 5\ndata: par").is_empty());
        assert!(parser.feed(b"tial\n").is_empty());
        assert_eq!(parser.feed(b"\n"), vec![ev("message", "partial", Some("5"))]);
    }

    #[test]
    fn fields_without_colon_and_unknown_fields() {
        // `data` alone is an empty data line; `retry` and unknown fields are ignored.
        let got = parse_all(&[b"retry: 100\nfoo: bar\ndata\n\nevent: other\ndata: y\n\n"]);
        assert_eq!(got, vec![ev("message", "", None), ev("other", "y", None)]);
    }

    #[test]
    fn event_name_resets_after_dispatch() {
        let got = parse_all(&[b"event: ping\ndata: 1\n\ndata: 2\n\n"]);
        assert_eq!(got, vec![ev("ping", "1", None), ev("message", "2", None)]);
    }

    #[test]
    fn non_utf8_bytes_do_not_break_the_parser() {
        let got = parse_all(&[b"data: \xFF\n\ndata: ok\n\n"]);
        assert_eq!(got[1], ev("message", "ok", None));
    }
}
