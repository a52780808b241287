//! What an import refuses that its source let in: records the API could
//! never have stored (a body over the API's length, a thread id that is no
//! UUID, an empty or over-long name or one holding control characters).
//! Such a record is skipped and counted with the reason, like other
//! unusable rows. Names are held to this loose rule, not to
//! [`meshgate_proto::validate_peer_name`], so a swarph mesh whose peers
//! use older name shapes still imports.

use meshgate_proto::{CONTENT_MAX_CHARS, PEER_NAME_MAX};
use meshgate_store::{ImportRecord, RecordKind};

/// Why `record` is not imported, if it is not.
pub(crate) fn refusal(record: &ImportRecord) -> Option<(RecordKind, String)> {
    let bad_name = |n: &str| n.is_empty() || n.len() > PEER_NAME_MAX || n.chars().any(char::is_control);
    let not_uuid = |t: &str| uuid::Uuid::parse_str(t).is_err();
    match record {
        ImportRecord::Peer(p) if bad_name(&p.name) => Some((RecordKind::Peer, NAME.into())),
        ImportRecord::Thread(t) if not_uuid(&t.thread_uuid) => Some((RecordKind::Thread, THREAD.into())),
        ImportRecord::Message(m) => {
            let m = &m.message;
            let why = if bad_name(&m.from_node) || bad_name(&m.to_node) {
                NAME.to_owned()
            } else if m.thread_id.as_deref().is_some_and(not_uuid) {
                THREAD.to_owned()
            } else if m.content.chars().nth(CONTENT_MAX_CHARS).is_some() {
                format!("body longer than {CONTENT_MAX_CHARS} characters (the API's limit)")
            } else {
                return None;
            };
            Some((RecordKind::Message, why))
        }
        _ => None,
    }
}

const NAME: &str = "name empty, longer than 64 bytes or holding control characters";
const THREAD: &str = "thread id is not a UUID";

#[cfg(test)]
mod tests {
    use super::*;
    use meshgate_proto::{Kind, Message, Peer, Thread};
    use meshgate_store::MessageRecord;

    fn message(from: &str, thread: Option<&str>, content: &str) -> ImportRecord {
        ImportRecord::Message(MessageRecord {
            message: Message {
                id: 1,
                from_node: from.into(),
                to_node: "bob".into(),
                kind: Kind::Fyi,
                content: content.into(),
                created_at: "2026-01-01T00:00:00+00:00".into(),
                read_at: None,
                thread_id: thread.map(str::to_owned),
                related_task_id: None,
                owed: false,
                sender_verified: false,
            },
            idempotency_key: None,
            idempotency_digest: None,
            origin: None,
            ladder: Default::default(),
        })
    }

    #[test]
    fn refuses_what_the_api_would() {
        let uuid = "0b8e8f0a-4c1e-4d8e-9a55-6f0e3c7d2a11";
        assert_eq!(refusal(&message("alice", Some(uuid), "hi")), None);
        assert_eq!(refusal(&message("Old_Name.host", None, "hi")), None, "older swarph names still import");
        let long = "a".repeat(CONTENT_MAX_CHARS);
        assert_eq!(refusal(&message("alice", None, &long)), None);
        for (from, thread, content) in [
            ("", None, "hi"),
            ("bob\u{1b}]0;PWNED\u{7}", None, "hi"),
            (&*"b".repeat(5000), None, "hi"),
            ("alice", Some("not-a-uuid"), "hi"),
            ("alice", None, &*format!("{long}a")),
        ] {
            let r = refusal(&message(from, thread, content));
            assert!(matches!(r, Some((RecordKind::Message, _))), "{from:?} {thread:?}: {r:?}");
        }
        let mut peer: Peer = serde_json::from_value(serde_json::json!({"name": "evil\u{1b}[31m name"})).unwrap();
        assert!(matches!(refusal(&ImportRecord::Peer(peer.clone())), Some((RecordKind::Peer, _))));
        peer.name = "alice".into();
        assert_eq!(refusal(&ImportRecord::Peer(peer)), None);
        let thread: Thread = serde_json::from_value(
            serde_json::json!({"thread_uuid": "nope", "thread_name": "x", "created_at": "2026-01-01T00:00:00+00:00"}),
        )
        .unwrap();
        assert!(matches!(refusal(&ImportRecord::Thread(thread)), Some((RecordKind::Thread, _))));
    }
}
