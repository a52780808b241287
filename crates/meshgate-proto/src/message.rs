use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::json_ser::{self, EncodeError};
use crate::Kind;

/// One direct message, as `GET /messages` returns it.
///
/// Unknown extra fields (the reference adds `channel` and `mentions`) are
/// ignored, so newer gateways do not break older clients.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// Gateway-assigned id; ids grow in commit order.
    pub id: i64,
    /// Sender peer name.
    pub from_node: String,
    /// Recipient peer name (canonical, after alias resolution).
    pub to_node: String,
    /// Message kind.
    pub kind: Kind,
    /// Body (absent only in the `POST /messages` answer of the reference).
    #[serde(default)]
    pub content: String,
    /// When the gateway stored it (RFC 3339, UTC, microseconds).
    pub created_at: String,
    /// When the recipient first marked it read; `None` while unread.
    #[serde(default)]
    pub read_at: Option<String>,
    /// Thread UUID, if the message belongs to a thread.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Free-form task reference; the reference gateway sends an integer.
    #[serde(default, deserialize_with = "string_or_int")]
    pub related_task_id: Option<String>,
    /// `true` on a `question` not answered yet: its recipient still owes
    /// an answer. Left out when false, so other rows keep the reference's
    /// shape.
    #[serde(default)]
    pub owed: bool,
    /// `true` when the sender authenticated with its own per-peer token,
    /// so the gateway vouches for `from_node`; false (left out) when it
    /// was sent with the operator or a shared legacy token, which may
    /// write as any peer.
    #[serde(default)]
    pub sender_verified: bool,
}

// The wire form is `MessageRef`'s: serializing writes the borrowed view, so
// field names, order and omissions are defined once, there. (A plain
// comment: the type's doc is its OpenAPI description.)
impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MessageRef::from(self).serialize(s)
    }
}

/// `GET /messages` envelope: newest first (or oldest first with `after_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageList {
    /// The rows.
    pub messages: Vec<Message>,
    /// `messages.len()`, kept for the Python CLI.
    #[serde(default)]
    pub n: usize,
}

/// A borrowed view of a [`Message`] and the one definition of its wire
/// form (field names, order, omissions): `Message` serializes through it,
/// and [`MessageListWriter`] writes it straight from a store's buffers,
/// without copying each field into an owned `String` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MessageRef<'a> {
    /// See [`Message::id`].
    pub id: i64,
    /// See [`Message::from_node`].
    pub from_node: &'a str,
    /// See [`Message::to_node`].
    pub to_node: &'a str,
    /// See [`Message::kind`].
    pub kind: Kind,
    /// See [`Message::content`].
    pub content: &'a str,
    /// See [`Message::created_at`].
    pub created_at: &'a str,
    /// See [`Message::read_at`].
    pub read_at: Option<&'a str>,
    /// See [`Message::thread_id`].
    pub thread_id: Option<&'a str>,
    /// See [`Message::related_task_id`].
    pub related_task_id: Option<&'a str>,
    /// See [`Message::owed`]; left out when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub owed: bool,
    /// See [`Message::sender_verified`]; left out when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sender_verified: bool,
}

impl<'a> From<&'a Message> for MessageRef<'a> {
    fn from(m: &'a Message) -> Self {
        MessageRef {
            id: m.id,
            from_node: &m.from_node,
            to_node: &m.to_node,
            kind: m.kind,
            content: &m.content,
            created_at: &m.created_at,
            read_at: m.read_at.as_deref(),
            thread_id: m.thread_id.as_deref(),
            related_task_id: m.related_task_id.as_deref(),
            owed: m.owed,
            sender_verified: m.sender_verified,
        }
    }
}

impl From<MessageRef<'_>> for Message {
    fn from(m: MessageRef<'_>) -> Self {
        Message {
            id: m.id,
            from_node: m.from_node.to_owned(),
            to_node: m.to_node.to_owned(),
            kind: m.kind,
            content: m.content.to_owned(),
            created_at: m.created_at.to_owned(),
            read_at: m.read_at.map(str::to_owned),
            thread_id: m.thread_id.map(str::to_owned),
            related_task_id: m.related_task_id.map(str::to_owned),
            owed: m.owed,
            sender_verified: m.sender_verified,
        }
    }
}

impl MessageRef<'_> {
    /// The length of this row as [`MessageListWriter::push`] writes it
    /// (without the separating comma), counted by the same encoder. A row
    /// the encoder could not write (none can: every field is a supported
    /// shape) counts as `usize::MAX`, larger than any budget.
    pub fn json_len(&self) -> usize {
        let mut count = json_ser::Count::default();
        match json_ser::write(&mut count, self) {
            Ok(()) => count.0,
            Err(_) => usize::MAX,
        }
    }
}

/// Writes a [`MessageList`] body one row at a time, so rows can be encoded
/// while the store still holds them (the gateway's `GET /messages`). Each
/// row is [`MessageRef`]'s `Serialize`, written by the read path's encoder
/// (`json_ser.rs`: serde's data model, `json.rs`'s string writer).
#[derive(Debug)]
pub struct MessageListWriter {
    body: Vec<u8>,
    n: usize,
    error: Option<EncodeError>,
}

impl MessageListWriter {
    const HEAD: &'static [u8] = b"{\"messages\":[";

    /// Starts a body, reserving `capacity` bytes up front.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut body = Vec::with_capacity(capacity.max(Self::HEAD.len() + 16));
        body.extend_from_slice(Self::HEAD);
        MessageListWriter { body, n: 0, error: None }
    }

    /// Appends one message. A row the encoder cannot write (none can, see
    /// [`MessageRef::json_len`]) is left out and kept as the error
    /// [`MessageListWriter::finish`] returns; later rows are not taken.
    pub fn push(&mut self, m: &MessageRef<'_>) {
        if self.error.is_some() {
            return;
        }
        let mark = self.body.len();
        if self.n > 0 {
            self.body.push(b',');
        }
        match json_ser::write(&mut self.body, m) {
            Ok(()) => self.n += 1,
            Err(e) => {
                self.body.truncate(mark);
                self.error = Some(e);
            }
        }
    }

    /// Appends `m` if it fits the page's byte budget of `max_bytes` (0:
    /// unlimited), with the same rule and result as
    /// [`PageBudget::admit`](crate::PageBudget::admit): the first row always
    /// fits, a later one only if the encoded rows (commas included) stay
    /// within the budget. The row is measured by writing it (and cut off
    /// again if it does not fit) rather than in a pass of its own, so a page
    /// costs no more than its encoding. `false` also when the row could not
    /// be encoded (then [`MessageListWriter::finish`] says why).
    pub fn push_within(&mut self, m: &MessageRef<'_>, max_bytes: usize) -> bool {
        let mark = self.body.len();
        let n = self.n;
        self.push(m);
        if self.n == n {
            return false;
        }
        if max_bytes != 0 && self.n > 1 && self.body.len() - Self::HEAD.len() > max_bytes {
            self.body.truncate(mark);
            self.n -= 1;
            return false;
        }
        true
    }

    /// Rows written so far.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether no row was written.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Closes the list, adds the `n` field and returns the JSON text: the
    /// same bytes `serde_json::to_vec(&MessageList)` gives; or the error of
    /// a row that could not be encoded.
    pub fn finish(mut self) -> Result<Vec<u8>, EncodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.body.extend_from_slice(b"],\"n\":");
        self.body.extend_from_slice(itoa::Buffer::new().format(self.n).as_bytes());
        self.body.push(b'}');
        Ok(self.body)
    }

    /// The body of `messages` (tests and callers holding owned rows).
    pub fn encode(messages: &[Message]) -> Result<Vec<u8>, EncodeError> {
        let mut w = MessageListWriter::with_capacity(messages.iter().map(|m| m.content.len() + 256).sum());
        for m in messages {
            w.push(&MessageRef::from(m));
        }
        w.finish()
    }
}

/// `POST /messages` body: the client writes it, the gateway reads it with
/// [`SendRequest::read`] (which owns the limits, see `send.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendRequest {
    /// Sender; the gateway fills it from a per-peer token when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub from_node: Option<String>,
    /// Recipient peer name or alias. A reply may leave it out (empty here,
    /// and then not written): the gateway sends it to the other party.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub to_node: String,
    /// Message kind.
    pub kind: Kind,
    /// Body, 1 to 200,000 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200000))]
    pub content: String,
    /// Thread UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub thread_id: Option<String>,
    /// Free-form task reference (a string, or an integer taken as its digits).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_int")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub related_task_id: Option<String>,
    /// A retried send with the same key returns the original message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub idempotency_key: Option<String>,
    /// Overrides the gateway's credential guard for a known false positive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_secret_check: bool,
    /// The message this one replies to (the sender must be a party to it;
    /// the reply goes to the other party, in its thread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<i64>,
    /// A `question`'s deadline (RFC 3339); excludes `due_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub due_at: Option<String>,
    /// A `question`'s deadline in seconds from now (1..=DUE_IN_MAX_SECS);
    /// excludes `due_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31622400))]
    pub due_in: Option<u64>,
}

/// `POST /messages` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendResponse {
    /// Id of the stored message (the original one for an idempotent retry).
    pub id: i64,
    /// Sender.
    pub from_node: String,
    /// Canonical recipient.
    pub to_node: String,
    /// Message kind.
    pub kind: Kind,
    /// Thread UUID.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// When the gateway stored it.
    pub created_at: String,
    /// The alias the sender wrote, when the gateway resolved one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_from: Option<String>,
}

/// `POST /messages/{id}/read` answer (also one entry of the bulk answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkRead {
    /// Message id.
    pub id: i64,
    /// The first time it was marked read; marking again keeps this value.
    pub read_at: String,
}

/// `POST /messages/read` body, the bulk form the Python CLI tries first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkReadBulk {
    /// Message ids to mark read.
    pub ids: Vec<i64>,
}

/// `POST /messages/read` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkReadBulkResponse {
    /// The messages now marked read, with their first `read_at`.
    pub marked: Vec<MarkRead>,
    /// Ids that do not exist or that the caller may not mark.
    #[serde(default)]
    pub not_found: Vec<i64>,
}

/// Accepts a JSON string, integer or null as an optional string.
pub(crate) fn string_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("expected a string or an integer, got {other}"))),
    }
}

/// Accepts any JSON as an error detail (FastAPI sends a list of objects for
/// validation errors) and renders it as a string.
pub(crate) fn detail_any<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_reference_rows_with_integer_task_ids_and_extras() {
        let row = r#"{"id":7,"thread_id":null,"from_node":"a1","to_node":"b1","channel":null,
            "mentions":null,"kind":"fyi","content":"hi","related_task_id":77,
            "created_at":"2026-01-01T00:00:00+00:00","read_at":null}"#;
        let m: Message = serde_json::from_str(row).unwrap();
        assert_eq!(m.related_task_id.as_deref(), Some("77"));
        assert_eq!(m.kind, Kind::Fyi);
    }

    /// Bodies that stress an encoder: every control character, quotes and
    /// backslashes at every offset of an 8-byte word, NUL, DEL, multi-byte
    /// and astral characters, line and paragraph separators, bidi controls,
    /// and a long body.
    fn nasty_bodies() -> Vec<String> {
        let controls: String = (0u8..0x20).map(char::from).collect();
        let mut bodies = vec![
            String::new(),
            "quote \" backslash \\ newline \n tab \t nul \u{0} é 🚀".to_owned(),
            controls.clone(),
            format!("{controls}\"\\\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}"),
            "\u{2028}\u{2029}\u{202e}live\u{200b}\u{feff}".to_owned(),
            "\u{0}".repeat(1000),
            "a\u{0}b".repeat(333),
            "plain text ".repeat(20_000),
            "é🚀\"\\\u{1}x".repeat(25_000),
        ];
        for pad in 0..9 {
            bodies.push(format!("{}\"{}\\{}\u{1f}", "a".repeat(pad), "b".repeat(8 - pad), "€".repeat(pad)));
        }
        bodies
    }

    fn nasty_messages() -> Vec<Message> {
        let mut out = Vec::new();
        for (i, content) in nasty_bodies().into_iter().enumerate() {
            let set = i % 2 == 0;
            out.push(Message {
                id: [0, 1, -1, i64::MAX, i64::MIN, 9 + i as i64][i % 6],
                from_node: if set { "a1".into() } else { "peer-\u{e9}\"q\\".into() },
                to_node: "b1".into(),
                kind: Kind::ALL[i % Kind::ALL.len()],
                content,
                created_at: "2026-01-01T00:00:00.000001+00:00".into(),
                read_at: set.then(|| "2026-01-01T00:00:01+00:00".into()),
                thread_id: (i % 3 == 0).then(|| "7f1c1f7e-0000-4000-8000-000000000001".into()),
                related_task_id: (i % 4 != 1).then(|| format!("task \u{1} \"{i}\"")),
                owed: i % 3 == 1,
                sender_verified: i % 5 < 2,
            });
        }
        out
    }

    #[test]
    fn list_writer_encodes_what_serde_encodes() {
        let all = nasty_messages();
        let mut cases = vec![vec![], all.clone()];
        cases.extend(all.iter().map(|m| vec![m.clone()]));
        for messages in cases {
            let expected = serde_json::to_vec(&MessageList { n: messages.len(), messages: messages.clone() }).unwrap();
            let json = MessageListWriter::encode(&messages).unwrap();
            assert!(json == expected, "{}", String::from_utf8_lossy(&expected[..expected.len().min(200)]));
            let back: MessageList = serde_json::from_slice(&json).unwrap();
            assert_eq!(back.messages, messages, "the encoding reads back");
            for m in &messages {
                let one = MessageListWriter::encode(std::slice::from_ref(m)).unwrap().len();
                let empty = MessageListWriter::encode(&[]).unwrap().len();
                assert_eq!(MessageRef::from(m).json_len(), one - empty, "row {}", m.id);
            }
        }
    }

    /// Generated rows (xorshift, fixed seed): every field drawn from
    /// strings that mix plain text with every escape class, optionals set
    /// and unset, flags both ways; the writer and `json_len` agree with
    /// `serde_json` for each row and for the page of all of them.
    #[test]
    fn generated_rows_encode_like_serde_json() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: Vec<char> = "aZ09 -_:.\"\\/\n\r\t\u{0}\u{8}\u{c}\u{1f}\u{7f}é€🚀\u{2028}{}".chars().collect();
        let text = |next: &mut dyn FnMut() -> u64, max: u64| -> String {
            let len = next() % (max + 1);
            (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
        };
        let mut rows = Vec::new();
        for i in 0..2000 {
            let bits = next();
            let m = Message {
                id: match i % 4 {
                    0 => next() as i64,
                    1 => (next() % 1000) as i64,
                    2 => -((next() % 100_000) as i64),
                    _ => [i64::MIN, i64::MAX, 0, -1][(next() % 4) as usize],
                },
                from_node: text(&mut next, 20),
                to_node: text(&mut next, 20),
                kind: Kind::ALL[(next() % 5) as usize],
                content: text(&mut next, if i % 50 == 0 { 5000 } else { 300 }),
                created_at: text(&mut next, 40),
                read_at: (bits & 1 != 0).then(|| text(&mut next, 40)),
                thread_id: (bits & 2 != 0).then(|| text(&mut next, 40)),
                related_task_id: (bits & 4 != 0).then(|| text(&mut next, 30)),
                owed: bits & 8 != 0,
                sender_verified: bits & 16 != 0,
            };
            let one = MessageListWriter::encode(std::slice::from_ref(&m)).unwrap();
            let expected = serde_json::to_vec(&MessageList { n: 1, messages: vec![m.clone()] }).unwrap();
            assert!(one == expected, "row {i}: {}", String::from_utf8_lossy(&expected));
            let row = serde_json::to_vec(&m).unwrap();
            assert_eq!(MessageRef::from(&m).json_len(), row.len(), "row {i}");
            rows.push(m);
        }
        let page = MessageListWriter::encode(&rows).unwrap();
        assert!(page == serde_json::to_vec(&MessageList { n: rows.len(), messages: rows.clone() }).unwrap());
        let back: MessageList = serde_json::from_slice(&page).unwrap();
        assert_eq!(back.messages, rows, "the page reads back");
    }

    #[test]
    fn the_wire_field_order_is_the_references() {
        let m = &nasty_messages()[0];
        let row = String::from_utf8(MessageListWriter::encode(std::slice::from_ref(m)).unwrap()).unwrap();
        assert_eq!(
            row,
            r#"{"messages":[{"id":0,"from_node":"a1","to_node":"b1","kind":"fyi","content":"","created_at":"2026-01-01T00:00:00.000001+00:00","read_at":"2026-01-01T00:00:01+00:00","thread_id":"7f1c1f7e-0000-4000-8000-000000000001","related_task_id":"task \u0001 \"0\"","sender_verified":true}],"n":1}"#
        );
        let bare =
            Message { read_at: None, thread_id: None, related_task_id: None, sender_verified: false, ..m.clone() };
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            r#"{"id":0,"from_node":"a1","to_node":"b1","kind":"fyi","content":"","created_at":"2026-01-01T00:00:00.000001+00:00","read_at":null,"thread_id":null,"related_task_id":null}"#
        );
    }

    #[test]
    fn send_request_omits_empty_optionals() {
        let req = SendRequest::new("b1", Kind::Question, "x");
        assert_eq!(serde_json::to_string(&req).unwrap(), r#"{"to_node":"b1","kind":"question","content":"x"}"#);
        let reply = SendRequest { to_node: String::new(), in_reply_to: Some(7), ..req };
        let written = serde_json::to_string(&reply).unwrap();
        assert_eq!(written, r#"{"kind":"question","content":"x","in_reply_to":7}"#, "a reply leaves the recipient out");
        assert_eq!(serde_json::from_str::<SendRequest>(&written).unwrap(), reply);
    }
}
