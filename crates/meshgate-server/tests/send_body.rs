//! `POST /messages` bodies, pinned: for every malformed body, the exact
//! status, `error` and `detail` the gateway answers (the Python suites
//! compare them), which refusal wins when a body has several defects, and
//! the forms each field accepts. Nothing refused is stored.

use crate::common::{Gateway, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

/// Who sends a case.
#[derive(Clone, Copy, Debug)]
enum Who {
    /// alice's own per-peer token.
    Alice,
    /// The operator token.
    Operator,
}

/// One body and what the gateway must answer. `error` empty: a 200, whose
/// answer must hold `field == value` for each pair of `answer`.
struct Case {
    name: String,
    who: Who,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
    detail: String,
    answer: Vec<(&'static str, Value)>,
}

/// A valid body from alice to bob, changed by `set` (a `null` value removes the field).
fn body(set: Value) -> Vec<u8> {
    let mut map: Map<String, Value> =
        json!({"to_node": "bob", "kind": "fyi", "content": "hi"}).as_object().unwrap().clone();
    for (k, v) in set.as_object().unwrap() {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&map).unwrap()
}

fn refused(name: &str, who: Who, body: Vec<u8>, status: u16, error: &'static str, detail: &str) -> Case {
    Case { name: name.to_owned(), who, body, status, error, detail: detail.to_owned(), answer: Vec::new() }
}

fn invalid(name: &str, set: Value, error: &'static str, detail: &str) -> Case {
    refused(name, Who::Alice, body(set), 422, error, detail)
}

fn accepted(name: &str, who: Who, body: Vec<u8>, answer: Vec<(&'static str, Value)>) -> Case {
    Case { name: name.to_owned(), who, body, status: 200, error: "", detail: String::new(), answer }
}

fn raw(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn cases(parent: i64) -> Vec<Case> {
    let long = |n: usize| "a".repeat(n);
    let not_json =
        |line: u32, column: u32| format!("the request body is not valid JSON (line {line}, column {column})");
    let obj = "the request body must be a JSON object";
    let uuid = "thread_id must be a UUID (mint one with POST /threads)";
    let due_in = "due_in must be a whole number of seconds from 1 to 31622400";
    let kinds = "expected one of fyi, question, answer, status, unblock";
    vec![
        // The body as a whole.
        refused("empty body", Who::Alice, raw(""), 422, "invalid_json", &not_json(1, 0)),
        refused("open brace", Who::Alice, raw("{"), 422, "invalid_json", &not_json(1, 1)),
        refused("array", Who::Alice, raw("[]"), 422, "invalid_json", obj),
        refused("string", Who::Alice, raw("\"hi\""), 422, "invalid_json", obj),
        refused("null", Who::Alice, raw("null"), 422, "invalid_json", obj),
        refused("number", Who::Alice, raw("7"), 422, "invalid_json", obj),
        refused("trailing", Who::Alice, raw(r#"{"to_node":"bob"} x"#), 422, "invalid_json", &not_json(1, 19)),
        refused("two lines", Who::Alice, raw("{\n\"to_node\": bob}"), 422, "invalid_json", &not_json(2, 12)),
        // A repeated key is refused, not last-wins (a proxy reading the
        // first would see another sender than the gateway).
        refused(
            "repeated key",
            Who::Alice,
            raw(r#"{"from_node":"alice","to_node":"bob","kind":"fyi","content":"x","from_node":"mallory"}"#),
            422,
            "duplicate_field",
            "field \"from_node\" is given more than once in the JSON body; give it once (which one was meant is \
             not guessed)",
        ),
        refused(
            "repeated key, then broken JSON",
            Who::Alice,
            raw(r#"{"to_node":"bob","to_node":"bob","kind":"#),
            422,
            "invalid_json",
            &not_json(1, 40),
        ),
        refused(
            "repeated key in a nested object is JSON's last-wins, the refusal is the field's own",
            Who::Alice,
            raw(r#"{"to_node":"bob","kind":"fyi","content":{"a":1,"a":2}}"#),
            422,
            "invalid_field",
            "field \"content\" must be a string, not an object",
        ),
        refused(
            "invalid UTF-8 in a string",
            Who::Alice,
            b"{\"to_node\":\"bob\",\"kind\":\"fyi\",\"content\":\"\xff\"}".to_vec(),
            422,
            "invalid_json",
            &not_json(1, 42),
        ),
        refused(
            "lone surrogate in content",
            Who::Alice,
            raw(r#"{"to_node":"bob","kind":"fyi","content":"\ud800"}"#),
            422,
            "invalid_json",
            &not_json(1, 48),
        ),
        refused(
            "lone surrogate in an unknown field",
            Who::Alice,
            raw(r#"{"to_node":"bob","kind":"fyi","content":"hi","x":"\ud800"}"#),
            422,
            "invalid_json",
            &not_json(1, 57),
        ),
        refused(
            "number out of range in an unknown field",
            Who::Alice,
            raw(r#"{"to_node":"bob","kind":"fyi","content":"hi","x":1e400}"#),
            422,
            "invalid_json",
            &not_json(1, 54),
        ),
        refused(
            "nesting past the parser's depth in an unknown field",
            Who::Alice,
            format!(r#"{{"to_node":"bob","kind":"fyi","content":"hi","x":{}1{}}}"#, "[".repeat(200), "]".repeat(200))
                .into_bytes(),
            422,
            "invalid_json",
            &not_json(1, 176),
        ),
        refused(
            "syntax error after a bad field",
            Who::Alice,
            raw(r#"{"kind":5,"#),
            422,
            "invalid_json",
            &not_json(1, 10),
        ),
        // channel
        refused(
            "channel",
            Who::Alice,
            body(json!({"channel": "general"})),
            400,
            "unsupported",
            "channel posts are not supported; send a DM with to_node",
        ),
        refused(
            "channel as a number, nothing else",
            Who::Alice,
            raw(r#"{"channel":5}"#),
            400,
            "unsupported",
            "channel posts are not supported; send a DM with to_node",
        ),
        accepted(
            "channel null",
            Who::Alice,
            raw(r#"{"to_node":"bob","kind":"fyi","content":"hi","channel":null}"#),
            vec![],
        ),
        // from_node
        invalid(
            "from_node number",
            json!({"from_node": 5}),
            "invalid_field",
            "field \"from_node\" must be a string, not a number",
        ),
        invalid("from_node empty", json!({"from_node": ""}), "invalid_field", "field \"from_node\" must not be empty"),
        invalid(
            "from_node long",
            json!({"from_node": long(65)}),
            "invalid_field",
            "field \"from_node\" has 65 characters; at most 64 are allowed",
        ),
        invalid(
            "from_node NUL",
            json!({"from_node": "al\u{0}ice"}),
            "invalid_field",
            "field \"from_node\" must not contain the NUL character",
        ),
        refused(
            "from_node null with a peer token",
            Who::Alice,
            raw(r#"{"from_node":null,"to_node":"bob","kind":"fyi","content":"hi"}"#),
            422,
            "missing_field",
            "field \"from_node\" is required",
        ),
        refused(
            "from_node missing, operator",
            Who::Operator,
            body(json!({})),
            422,
            "missing_field",
            "field \"from_node\" is required",
        ),
        refused(
            "from_node another peer",
            Who::Alice,
            body(json!({"from_node": "carol"})),
            403,
            "caller_binding",
            "this token belongs to \"alice\"; it cannot send as \"carol\"",
        ),
        accepted("from_node filled from the token", Who::Alice, body(json!({})), vec![("from_node", json!("alice"))]),
        accepted(
            "from_node given, operator",
            Who::Operator,
            body(json!({"from_node": "alice"})),
            vec![("from_node", json!("alice"))],
        ),
        // in_reply_to
        invalid(
            "in_reply_to string",
            json!({"in_reply_to": "7"}),
            "invalid_field",
            "field \"in_reply_to\" must be a message id (a positive integer)",
        ),
        invalid(
            "in_reply_to zero",
            json!({"in_reply_to": 0}),
            "invalid_field",
            "field \"in_reply_to\" must be a message id (a positive integer)",
        ),
        invalid(
            "in_reply_to negative",
            json!({"in_reply_to": -3}),
            "invalid_field",
            "field \"in_reply_to\" must be a message id (a positive integer)",
        ),
        invalid(
            "in_reply_to fraction",
            json!({"in_reply_to": 1.5}),
            "invalid_field",
            "field \"in_reply_to\" must be a message id (a positive integer)",
        ),
        invalid(
            "in_reply_to boolean",
            json!({"in_reply_to": true}),
            "invalid_field",
            "field \"in_reply_to\" must be a message id (a positive integer)",
        ),
        invalid(
            "in_reply_to past i64",
            json!({"in_reply_to": u64::MAX}),
            "invalid_field",
            "field \"in_reply_to\" must be a message id (a positive integer)",
        ),
        refused(
            "in_reply_to unknown",
            Who::Alice,
            body(json!({"in_reply_to": 999_999, "to_node": null})),
            404,
            "unknown_message",
            "message 999999 does not exist",
        ),
        accepted(
            "in_reply_to without to_node",
            Who::Alice,
            body(json!({"in_reply_to": parent, "to_node": null})),
            vec![("to_node", json!("bob"))],
        ),
        invalid(
            "in_reply_to with an empty to_node",
            json!({"in_reply_to": parent, "to_node": ""}),
            "invalid_field",
            "field \"to_node\" must not be empty",
        ),
        invalid(
            "in_reply_to with a numeric to_node",
            json!({"in_reply_to": parent, "to_node": 5}),
            "invalid_field",
            "field \"to_node\" must be a string, not a number",
        ),
        // due_at, due_in
        invalid(
            "due_at number",
            json!({"kind": "question", "due_at": 5}),
            "invalid_field",
            "field \"due_at\" must be a string, not a number",
        ),
        invalid(
            "due_at empty",
            json!({"kind": "question", "due_at": ""}),
            "invalid_field",
            "field \"due_at\" must not be empty",
        ),
        invalid(
            "due_at long",
            json!({"kind": "question", "due_at": long(65)}),
            "invalid_field",
            "field \"due_at\" has 65 characters; at most 64 are allowed",
        ),
        invalid(
            "due_at NUL",
            json!({"kind": "question", "due_at": "2026\u{0}"}),
            "invalid_field",
            "field \"due_at\" must not contain the NUL character",
        ),
        invalid(
            "due_at garbage",
            json!({"kind": "question", "due_at": "tomorrow"}),
            "invalid_due",
            "due_at must be an RFC 3339 instant, e.g. 2026-01-01T12:00:00Z, not \"tomorrow\"",
        ),
        invalid(
            "due_at 64 characters of garbage",
            json!({"kind": "question", "due_at": "b".repeat(64)}),
            "invalid_due",
            &format!("due_at must be an RFC 3339 instant, e.g. 2026-01-01T12:00:00Z, not \"{}\"", "b".repeat(64)),
        ),
        invalid("due_in zero", json!({"kind": "question", "due_in": 0}), "invalid_due", due_in),
        invalid("due_in negative", json!({"kind": "question", "due_in": -5}), "invalid_due", due_in),
        invalid("due_in fraction", json!({"kind": "question", "due_in": 1.5}), "invalid_due", due_in),
        invalid("due_in string", json!({"kind": "question", "due_in": "60"}), "invalid_due", due_in),
        invalid("due_in over a year", json!({"kind": "question", "due_in": 31_622_401}), "invalid_due", due_in),
        invalid(
            "due_at and due_in",
            json!({"kind": "question", "due_at": "2026-01-01T00:00:00Z", "due_in": 60}),
            "invalid_due",
            "give due_at or due_in, not both",
        ),
        invalid("due_in on an fyi", json!({"due_in": 60}), "invalid_due", "only a question can carry due_at or due_in"),
        invalid(
            "due_at on an answer",
            json!({"kind": "answer", "due_at": "2026-01-01T00:00:00Z"}),
            "invalid_due",
            "only a question can carry due_at or due_in",
        ),
        accepted("due_in max", Who::Alice, body(json!({"kind": "question", "due_in": 31_622_400})), vec![]),
        accepted(
            "due_at with an offset",
            Who::Alice,
            body(json!({"kind": "question", "due_at": "2026-01-01T00:00:00+02:00"})),
            vec![],
        ),
        accepted("due_at and due_in null", Who::Alice, body(json!({"kind": "question"})), vec![]),
        accepted(
            "due_at null next to due_in",
            Who::Alice,
            raw(r#"{"to_node":"bob","kind":"question","content":"hi","due_at":null,"due_in":5}"#),
            vec![],
        ),
        // to_node
        invalid("to_node missing", json!({"to_node": null}), "missing_field", "field \"to_node\" is required"),
        refused(
            "to_node null",
            Who::Alice,
            raw(r#"{"to_node":null,"kind":"fyi","content":"hi"}"#),
            422,
            "missing_field",
            "field \"to_node\" is required",
        ),
        invalid(
            "to_node number",
            json!({"to_node": 5}),
            "invalid_field",
            "field \"to_node\" must be a string, not a number",
        ),
        invalid(
            "to_node array",
            json!({"to_node": ["bob"]}),
            "invalid_field",
            "field \"to_node\" must be a string, not an array",
        ),
        invalid("to_node empty", json!({"to_node": ""}), "invalid_field", "field \"to_node\" must not be empty"),
        invalid(
            "to_node long",
            json!({"to_node": long(65)}),
            "invalid_field",
            "field \"to_node\" has 65 characters; at most 64 are allowed",
        ),
        invalid(
            "to_node NUL",
            json!({"to_node": "b\u{0}b"}),
            "invalid_field",
            "field \"to_node\" must not contain the NUL character",
        ),
        // kind
        invalid("kind missing", json!({"kind": null}), "missing_field", "field \"kind\" is required"),
        refused(
            "kind null",
            Who::Alice,
            raw(r#"{"to_node":"bob","kind":null,"content":"hi"}"#),
            422,
            "missing_field",
            "field \"kind\" is required",
        ),
        invalid("kind number", json!({"kind": 5}), "invalid_field", "field \"kind\" must be a string, not a number"),
        invalid("kind object", json!({"kind": {}}), "invalid_field", "field \"kind\" must be a string, not an object"),
        invalid(
            "kind boolean",
            json!({"kind": false}),
            "invalid_field",
            "field \"kind\" must be a string, not a boolean",
        ),
        refused(
            "kind upper case",
            Who::Alice,
            body(json!({"kind": "FYI"})),
            400,
            "unknown_kind",
            &format!("unknown kind \"FYI\": {kinds}"),
        ),
        refused(
            "kind empty",
            Who::Alice,
            body(json!({"kind": ""})),
            400,
            "unknown_kind",
            &format!("unknown kind \"\": {kinds}"),
        ),
        refused(
            "kind with a NUL",
            Who::Alice,
            body(json!({"kind": "fyi\u{0}"})),
            400,
            "unknown_kind",
            &format!("unknown kind \"fyi\\0\": {kinds}"),
        ),
        // content
        invalid("content missing", json!({"content": null}), "missing_field", "field \"content\" is required"),
        invalid("content empty", json!({"content": ""}), "invalid_field", "field \"content\" must not be empty"),
        invalid(
            "content number",
            json!({"content": 5}),
            "invalid_field",
            "field \"content\" must be a string, not a number",
        ),
        invalid(
            "content too long",
            json!({"content": long(200_001)}),
            "content_too_long",
            "field \"content\" has 200001 characters; at most 200000 are allowed",
        ),
        invalid(
            "content too long in astral characters",
            json!({"content": "🚀".repeat(200_001)}),
            "content_too_long",
            "field \"content\" has 200001 characters; at most 200000 are allowed",
        ),
        accepted("content at the limit", Who::Alice, body(json!({"content": "é".repeat(200_000)})), vec![]),
        accepted("content with a NUL", Who::Alice, body(json!({"content": "a\u{0}b"})), vec![]),
        // thread_id
        invalid(
            "thread_id number",
            json!({"thread_id": 5}),
            "invalid_field",
            "field \"thread_id\" must be a string, not a number",
        ),
        invalid("thread_id empty", json!({"thread_id": ""}), "invalid_thread_id", uuid),
        invalid("thread_id not a UUID", json!({"thread_id": "nope"}), "invalid_thread_id", uuid),
        invalid(
            "thread_id long",
            json!({"thread_id": long(65)}),
            "invalid_field",
            "field \"thread_id\" has 65 characters; at most 64 are allowed",
        ),
        invalid(
            "thread_id NUL",
            json!({"thread_id": "\u{0}"}),
            "invalid_field",
            "field \"thread_id\" must not contain the NUL character",
        ),
        accepted(
            "thread_id upper case",
            Who::Alice,
            body(json!({"thread_id": "7F1C1F7E-0000-4000-8000-00000000000A"})),
            vec![("thread_id", json!("7f1c1f7e-0000-4000-8000-00000000000a"))],
        ),
        accepted(
            "thread_id simple",
            Who::Alice,
            body(json!({"thread_id": "7f1c1f7e000040008000000000000001"})),
            vec![("thread_id", json!("7f1c1f7e-0000-4000-8000-000000000001"))],
        ),
        accepted(
            "thread_id braced",
            Who::Alice,
            body(json!({"thread_id": "{7f1c1f7e-0000-4000-8000-000000000002}"})),
            vec![("thread_id", json!("7f1c1f7e-0000-4000-8000-000000000002"))],
        ),
        accepted(
            "thread_id urn",
            Who::Alice,
            body(json!({"thread_id": "urn:uuid:7f1c1f7e-0000-4000-8000-000000000003"})),
            vec![("thread_id", json!("7f1c1f7e-0000-4000-8000-000000000003"))],
        ),
        accepted("thread_id null", Who::Alice, body(json!({})), vec![("thread_id", Value::Null)]),
        // related_task_id
        invalid(
            "related_task_id fraction",
            json!({"related_task_id": 1.5}),
            "invalid_field",
            "field \"related_task_id\" must be a string or an integer, not a number",
        ),
        invalid(
            "related_task_id boolean",
            json!({"related_task_id": true}),
            "invalid_field",
            "field \"related_task_id\" must be a string or an integer, not a boolean",
        ),
        invalid(
            "related_task_id empty",
            json!({"related_task_id": ""}),
            "invalid_field",
            "field \"related_task_id\" must not be empty",
        ),
        invalid(
            "related_task_id long",
            json!({"related_task_id": long(129)}),
            "invalid_field",
            "field \"related_task_id\" has 129 characters; at most 128 are allowed",
        ),
        accepted("related_task_id integer", Who::Alice, body(json!({"related_task_id": 77})), vec![]),
        accepted("related_task_id negative", Who::Alice, body(json!({"related_task_id": -5})), vec![]),
        accepted("related_task_id u64", Who::Alice, body(json!({"related_task_id": u64::MAX})), vec![]),
        accepted("related_task_id string", Who::Alice, body(json!({"related_task_id": long(128)})), vec![]),
        // idempotency_key
        invalid(
            "idempotency_key number",
            json!({"idempotency_key": 5}),
            "invalid_field",
            "field \"idempotency_key\" must be a string, not a number",
        ),
        invalid(
            "idempotency_key empty",
            json!({"idempotency_key": ""}),
            "invalid_field",
            "field \"idempotency_key\" must not be empty",
        ),
        invalid(
            "idempotency_key long",
            json!({"idempotency_key": long(129)}),
            "invalid_field",
            "field \"idempotency_key\" has 129 characters; at most 128 are allowed",
        ),
        // skip_secret_check
        invalid(
            "skip_secret_check string",
            json!({"skip_secret_check": "yes"}),
            "invalid_field",
            "field \"skip_secret_check\" must be a boolean, not a string",
        ),
        invalid(
            "skip_secret_check number",
            json!({"skip_secret_check": 1}),
            "invalid_field",
            "field \"skip_secret_check\" must be a boolean, not a number",
        ),
        accepted("skip_secret_check false", Who::Alice, body(json!({"skip_secret_check": false})), vec![]),
        // Unknown fields are ignored; a repeated key is refused whatever its values.
        accepted(
            "unknown fields",
            Who::Alice,
            body(json!({"mentions": ["x"], "extra": {"a": [1, 2.5, null]}, "priority": 3})),
            vec![("kind", json!("fyi"))],
        ),
        refused(
            "duplicate key, the last valid",
            Who::Alice,
            raw(r#"{"to_node":"bob","kind":5,"content":"hi","kind":"status"}"#),
            422,
            "duplicate_field",
            "field \"kind\" is given more than once in the JSON body; give it once (which one was meant is not \
             guessed)",
        ),
        refused(
            "duplicate key, the last invalid",
            Who::Alice,
            raw(r#"{"to_node":"bob","kind":"fyi","content":"hi","kind":5}"#),
            422,
            "duplicate_field",
            "field \"kind\" is given more than once in the JSON body; give it once (which one was meant is not \
             guessed)",
        ),
        // Several defects: the first in the gateway's order wins, wherever it is in the body.
        refused(
            "channel before everything",
            Who::Alice,
            raw(r#"{"kind":5,"from_node":5,"channel":"c"}"#),
            400,
            "unsupported",
            "channel posts are not supported; send a DM with to_node",
        ),
        refused(
            "from_node before to_node",
            Who::Alice,
            raw(r#"{"to_node":5,"from_node":5}"#),
            422,
            "invalid_field",
            "field \"from_node\" must be a string, not a number",
        ),
        refused(
            "caller binding before reply fields",
            Who::Alice,
            raw(r#"{"due_in":0,"in_reply_to":"x","from_node":"carol"}"#),
            403,
            "caller_binding",
            "this token belongs to \"alice\"; it cannot send as \"carol\"",
        ),
        refused(
            "in_reply_to before due_at",
            Who::Alice,
            raw(r#"{"due_at":5,"in_reply_to":"x"}"#),
            422,
            "invalid_field",
            "field \"in_reply_to\" must be a message id (a positive integer)",
        ),
        refused(
            "due_at type before due_in",
            Who::Alice,
            raw(r#"{"due_in":0,"due_at":5}"#),
            422,
            "invalid_field",
            "field \"due_at\" must be a string, not a number",
        ),
        refused("due_in before both", Who::Alice, raw(r#"{"due_in":0,"due_at":"x"}"#), 422, "invalid_due", due_in),
        refused(
            "due_at format before to_node",
            Who::Alice,
            raw(r#"{"kind":"fyi","due_at":"soon"}"#),
            422,
            "invalid_due",
            "due_at must be an RFC 3339 instant, e.g. 2026-01-01T12:00:00Z, not \"soon\"",
        ),
        refused(
            "to_node before kind",
            Who::Alice,
            raw(r#"{"kind":5,"content":5,"to_node":5}"#),
            422,
            "invalid_field",
            "field \"to_node\" must be a string, not a number",
        ),
        refused(
            "kind before content",
            Who::Alice,
            raw(r#"{"content":5,"kind":"nope","to_node":"bob"}"#),
            400,
            "unknown_kind",
            &format!("unknown kind \"nope\": {kinds}"),
        ),
        refused(
            "content before thread_id",
            Who::Alice,
            raw(r#"{"thread_id":"x","content":"","kind":"fyi","to_node":"bob"}"#),
            422,
            "invalid_field",
            "field \"content\" must not be empty",
        ),
        refused(
            "thread_id before related_task_id",
            Who::Alice,
            raw(r#"{"related_task_id":1.5,"thread_id":"x","content":"hi","kind":"fyi","to_node":"bob"}"#),
            422,
            "invalid_thread_id",
            uuid,
        ),
        refused(
            "related_task_id before idempotency_key",
            Who::Alice,
            raw(r#"{"idempotency_key":"","related_task_id":"","content":"hi","kind":"fyi","to_node":"bob"}"#),
            422,
            "invalid_field",
            "field \"related_task_id\" must not be empty",
        ),
        refused(
            "idempotency_key before skip_secret_check",
            Who::Alice,
            raw(r#"{"skip_secret_check":1,"idempotency_key":"","content":"hi","kind":"fyi","to_node":"bob"}"#),
            422,
            "invalid_field",
            "field \"idempotency_key\" must not be empty",
        ),
        refused(
            "skip_secret_check before the deadline's kind",
            Who::Alice,
            raw(r#"{"due_in":5,"skip_secret_check":1,"content":"hi","kind":"fyi","to_node":"bob"}"#),
            422,
            "invalid_field",
            "field \"skip_secret_check\" must be a boolean, not a number",
        ),
        refused(
            "a bad body before the recipient lookup",
            Who::Alice,
            raw(r#"{"to_node":"nobody-here","kind":"fyi","content":""}"#),
            422,
            "invalid_field",
            "field \"content\" must not be empty",
        ),
        refused(
            "body before the operator's sender check",
            Who::Operator,
            raw(r#"{"from_node":"ghost","to_node":"bob","kind":"fyi","content":"hi","thread_id":"x"}"#),
            422,
            "invalid_thread_id",
            uuid,
        ),
    ]
}

#[tokio::test]
async fn every_malformed_send_body_gets_its_pinned_answer_and_stores_nothing() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    gw.register("carol").await;
    let (s, v) = gw
        .call(
            reqwest::Method::POST,
            "/messages",
            Some(&alice),
            Some(json!({"to_node": "bob", "kind": "question", "content": "parent"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let parent = v["id"].as_i64().unwrap();
    let before = gw.inbox("bob").await.len();
    let mut failures = Vec::new();
    let mut stored = 0;
    for case in cases(parent) {
        let token = match case.who {
            Who::Alice => alice.as_str(),
            Who::Operator => OPERATOR,
        };
        let resp = gw
            .http
            .post(format!("{}/messages", gw.url))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(case.body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: non-JSON answer {status}: {text}", case.name));
        let got = (status, v["error"].as_str().unwrap_or_default(), v["detail"].as_str().unwrap_or_default());
        if case.error.is_empty() {
            if status == 200 {
                stored += 1;
            }
            let mismatch = case.answer.iter().find(|(field, value)| v[*field] != *value);
            if status != 200 || mismatch.is_some() {
                failures.push(format!("{}: expected 200 with {:?}, got {status} {v}", case.name, case.answer));
            }
        } else if got != (case.status, case.error, case.detail.as_str()) {
            failures.push(format!(
                "{}:\n  expected {} {} {:?}\n  got      {} {} {:?}",
                case.name, case.status, case.error, case.detail, got.0, got.1, got.2
            ));
        }
    }
    assert!(failures.is_empty(), "{} cases differ:\n{}", failures.len(), failures.join("\n"));
    let (s, v) = gw.get("/messages?to=bob&limit=1000").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["messages"].as_array().unwrap().len(), before + stored, "refused bodies stored nothing");
    gw.stop().await;
}

#[test]
fn the_openapi_document_shows_the_limits_the_gateway_enforces() {
    use meshgate_proto::{
        CONTENT_MAX_CHARS, DUE_AT_MAX_CHARS, DUE_IN_MAX_SECS, IDEMPOTENCY_KEY_MAX_CHARS, SEND_NAME_MAX_CHARS,
        TASK_ID_MAX_CHARS, THREAD_ID_MAX_CHARS,
    };
    let spec = serde_json::to_value(meshgate_server::routes::openapi::spec()).unwrap();
    let props = &spec["components"]["schemas"]["SendRequest"]["properties"];
    let max_length = [
        ("from_node", SEND_NAME_MAX_CHARS),
        ("to_node", SEND_NAME_MAX_CHARS),
        ("content", CONTENT_MAX_CHARS),
        ("thread_id", THREAD_ID_MAX_CHARS),
        ("related_task_id", TASK_ID_MAX_CHARS),
        ("idempotency_key", IDEMPOTENCY_KEY_MAX_CHARS),
        ("due_at", DUE_AT_MAX_CHARS),
    ];
    for (field, max) in max_length {
        assert_eq!(props[field]["maxLength"], json!(max), "{field}: {}", props[field]);
    }
    assert_eq!(props["due_in"]["maximum"], json!(DUE_IN_MAX_SECS), "{}", props["due_in"]);
    assert_eq!(props["due_in"]["minimum"], json!(1), "{}", props["due_in"]);
}
