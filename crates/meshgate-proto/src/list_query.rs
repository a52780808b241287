//! `GET /messages` and `GET /messages/stream` query parameters: the one
//! definition of their names, used by the gateway (parsing), the client
//! (building) and OpenAPI.

use crate::Kind;

/// The parameters of `GET /messages` (the SSE stream takes
/// [`StreamQuery`]). `None` is "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ListQuery {
    /// recipient (alias: to_node)
    pub to: Option<String>,
    /// sender (alias: from_node)
    pub from: Option<String>,
    /// Thread UUID.
    pub thread_id: Option<String>,
    /// Message kind.
    pub kind: Option<Kind>,
    /// Only messages not yet marked read.
    pub unread_only: Option<bool>,
    /// ISO 8601 instant; strictly after
    pub since: Option<String>,
    /// 1..1000, default 100
    pub limit: Option<u32>,
    /// cursor: ids above, oldest first
    pub after_id: Option<i64>,
    /// long-poll seconds, <= 60
    pub wait: Option<u64>,
    /// true: hand nothing over (no `delivered_at` is recorded)
    pub peek: Option<bool>,
}

impl ListQuery {
    /// Every name `GET /messages` accepts: the fields, and the reference's
    /// spellings `to_node` and `from_node` of `to` and `from`.
    pub const PARAMS: &'static [&'static str] = &[
        "to",
        "to_node",
        "from",
        "from_node",
        "thread_id",
        "kind",
        "unread_only",
        "since",
        "limit",
        "after_id",
        "wait",
        "peek",
    ];

    /// The `(name, value)` pairs of the parameters given, for a URL query.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        crate::queries::given([
            ("to", self.to.clone()),
            ("from", self.from.clone()),
            ("thread_id", self.thread_id.clone()),
            ("kind", self.kind.map(|k| k.as_str().to_owned())),
            ("unread_only", self.unread_only.map(|b| b.to_string())),
            ("since", self.since.clone()),
            ("limit", self.limit.map(|n| n.to_string())),
            ("after_id", self.after_id.map(|n| n.to_string())),
            ("wait", self.wait.map(|n| n.to_string())),
            ("peek", self.peek.map(|b| b.to_string())),
        ])
    }
}

/// The parameters of `GET /messages/stream`: [`ListQuery`]'s filters and
/// cursor, plus `receipts`. A stream sends every message past its cursor,
/// oldest first, as it is committed, so the list's `limit`, `wait` and
/// `unread_only` have no meaning there and are refused, not ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct StreamQuery {
    /// operator: whose inbox (alias: to_node); a peer token streams its own
    pub to: Option<String>,
    /// only messages from this sender (alias: from_node)
    pub from: Option<String>,
    /// Thread UUID.
    pub thread_id: Option<String>,
    /// Message kind.
    pub kind: Option<Kind>,
    /// ISO 8601 instant; only messages created strictly after it
    pub since: Option<String>,
    /// resume after this id (as `Last-Event-ID`, which wins)
    pub after_id: Option<i64>,
    /// true: hand nothing over (no `delivered_at` is recorded)
    pub peek: Option<bool>,
    /// also receipt events (delivered, read, answered) of the peer's own DMs
    pub receipts: Option<bool>,
}

impl StreamQuery {
    /// Every name `GET /messages/stream` accepts: the fields, and `to_node`
    /// and `from_node`.
    pub const PARAMS: &'static [&'static str] =
        &["to", "to_node", "from", "from_node", "thread_id", "kind", "since", "after_id", "peek", "receipts"];

    /// The `(name, value)` pairs of the parameters given, for a URL query.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        crate::queries::given([
            ("to", self.to.clone()),
            ("from", self.from.clone()),
            ("thread_id", self.thread_id.clone()),
            ("kind", self.kind.map(|k| k.as_str().to_owned())),
            ("since", self.since.clone()),
            ("after_id", self.after_id.map(|n| n.to_string())),
            ("peek", self.peek.map(|b| b.to_string())),
            ("receipts", self.receipts.map(|b| b.to_string())),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_an_accepted_name_and_every_name_a_field_or_its_alias() {
        let all = ListQuery {
            to: Some("a".into()),
            from: Some("b".into()),
            thread_id: Some("t".into()),
            kind: Some(Kind::Question),
            unread_only: Some(true),
            since: Some("s".into()),
            limit: Some(5),
            after_id: Some(7),
            wait: Some(3),
            peek: Some(false),
        };
        let names: Vec<&str> = all.pairs().into_iter().map(|(n, _)| n).collect();
        for n in &names {
            assert!(ListQuery::PARAMS.contains(n), "{n}");
        }
        let aliases = ["to_node", "from_node"];
        for p in ListQuery::PARAMS {
            assert!(names.contains(p) || aliases.contains(p), "{p} is accepted but no field");
        }
        assert_eq!(ListQuery::default().pairs(), vec![]);
        assert!(all.pairs().contains(&("kind", "question".to_owned())));
    }

    #[test]
    fn the_stream_takes_the_lists_filters_and_cursor_but_not_its_paging() {
        let all = StreamQuery {
            to: Some("a".into()),
            from: Some("b".into()),
            thread_id: Some("t".into()),
            kind: Some(Kind::Fyi),
            since: Some("s".into()),
            after_id: Some(7),
            peek: Some(true),
            receipts: Some(true),
        };
        let names: Vec<&str> = all.pairs().into_iter().map(|(n, _)| n).collect();
        for n in &names {
            assert!(StreamQuery::PARAMS.contains(n), "{n}");
        }
        for p in StreamQuery::PARAMS {
            assert!(names.contains(p) || ["to_node", "from_node"].contains(p), "{p} is accepted but no field");
            assert!(ListQuery::PARAMS.contains(p) || *p == "receipts", "{p} is no list parameter");
        }
        for refused in ["limit", "wait", "unread_only"] {
            assert!(!StreamQuery::PARAMS.contains(&refused), "{refused}");
        }
        assert_eq!(StreamQuery::default().pairs(), vec![]);
    }
}
