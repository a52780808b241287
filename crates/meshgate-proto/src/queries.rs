//! Query parameters of `GET /threads`, `GET /threads/{uuid}`,
//! `GET /obligations`, `GET /messages/search` and `DELETE /peers/{name}`:
//! the one definition of their names, used by the
//! gateway (its allowlist), the client and the gateway's MCP tools
//! (building) and OpenAPI (as `params(...)`). `GET /messages` has its own,
//! [`crate::ListQuery`].

use crate::Kind;

/// The `(name, value)` pairs of the parameters given (`None` is left out).
pub(crate) fn given<const N: usize>(params: [(&'static str, Option<String>); N]) -> Vec<(&'static str, String)> {
    params.into_iter().filter_map(|(name, value)| value.map(|v| (name, v))).collect()
}

/// `GET /threads` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ThreadsQuery {
    /// a peer or alias on either side of the thread name's pair
    pub peer: Option<String>,
    /// substring of the topic (after the first `:`)
    pub topic: Option<String>,
    /// the minter's session id
    pub session_id: Option<String>,
    /// 1..1000, default 50
    pub limit: Option<u32>,
}

impl ThreadsQuery {
    /// Every name `GET /threads` accepts.
    pub const PARAMS: &'static [&'static str] = &["peer", "topic", "session_id", "limit"];

    /// The parameters given, for a URL query.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        given([
            ("peer", self.peer.clone()),
            ("topic", self.topic.clone()),
            ("session_id", self.session_id.clone()),
            ("limit", self.limit.map(|n| n.to_string())),
        ])
    }
}

/// `GET /threads/{uuid}` parameters: one page of the thread's DMs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ThreadPageQuery {
    /// 1..1000, default 100
    pub limit: Option<u32>,
    /// cursor: messages after this id
    pub after_id: Option<i64>,
}

impl ThreadPageQuery {
    /// Every name `GET /threads/{uuid}` accepts.
    pub const PARAMS: &'static [&'static str] = &["limit", "after_id"];

    /// The parameters given, for a URL query.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        given([("limit", self.limit.map(|n| n.to_string())), ("after_id", self.after_id.map(|n| n.to_string()))])
    }
}

/// `GET /obligations` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ObligationsQuery {
    /// operator: whose obligations (default: the whole mesh)
    pub peer: Option<String>,
    /// 1..1000 per list, default 100
    pub limit: Option<u32>,
}

impl ObligationsQuery {
    /// Every name `GET /obligations` accepts.
    pub const PARAMS: &'static [&'static str] = &["peer", "limit"];

    /// The parameters given, for a URL query.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        given([("peer", self.peer.clone()), ("limit", self.limit.map(|n| n.to_string()))])
    }
}

/// `DELETE /peers/{name}` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DeletePeerQuery {
    /// operator: delete the peer's DMs and threads too and free the name
    pub purge: Option<bool>,
}

impl DeletePeerQuery {
    /// Every name `DELETE /peers/{name}` accepts.
    pub const PARAMS: &'static [&'static str] = &["purge"];

    /// The parameters given, for a URL query.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        given([("purge", self.purge.map(|b| b.to_string()))])
    }
}

/// `GET /messages/search` parameters: the query and its filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SearchParams {
    /// the query: words (ANDed), "a phrase", word* (prefix, 2+ characters), a OR b, -word (exclude); at most
    /// 512 bytes and 32 words
    pub q: String,
    /// recipient (alias: to_node); narrows
    pub to: Option<String>,
    /// sender (alias: from_node); narrows
    pub from: Option<String>,
    /// Thread UUID.
    pub thread_id: Option<String>,
    /// Message kind.
    pub kind: Option<Kind>,
    /// RFC 3339 instant; strictly after
    pub since: Option<String>,
    /// 1..100, default 20
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
}

impl SearchParams {
    /// Every name `GET /messages/search` accepts: the fields, and the
    /// reference's spellings `to_node` and `from_node` of `to` and `from`.
    pub const PARAMS: &'static [&'static str] =
        &["q", "to", "to_node", "from", "from_node", "thread_id", "kind", "since", "limit"];

    /// The parameters given (`q` always), for a URL query.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        given([
            ("q", Some(self.q.clone())),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
            ("kind", self.kind.map(|k| k.as_str().to_owned())),
            ("thread_id", self.thread_id.clone()),
            ("since", self.since.clone()),
            ("limit", self.limit.map(|l| l.to_string())),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pairs: Vec<(&'static str, String)>) -> Vec<&'static str> {
        pairs.into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn every_field_is_an_accepted_name_and_every_name_a_field() {
        let s = || Some("x".to_owned());
        let threads = ThreadsQuery { peer: s(), topic: s(), session_id: s(), limit: Some(5) };
        assert_eq!(names(threads.pairs()), ThreadsQuery::PARAMS);
        let page = ThreadPageQuery { limit: Some(5), after_id: Some(7) };
        assert_eq!(page.pairs(), [("limit", "5".to_owned()), ("after_id", "7".to_owned())]);
        assert_eq!(names(page.pairs()), ThreadPageQuery::PARAMS);
        let owed = ObligationsQuery { peer: s(), limit: Some(3) };
        assert_eq!(names(owed.pairs()), ObligationsQuery::PARAMS);
        assert_eq!(DeletePeerQuery { purge: Some(true) }.pairs(), [("purge", "true".to_owned())]);
        assert_eq!(names(DeletePeerQuery { purge: Some(false) }.pairs()), DeletePeerQuery::PARAMS);
        assert!(ThreadsQuery::default().pairs().is_empty() && ObligationsQuery::default().pairs().is_empty());
        let search = SearchParams {
            q: "w".into(),
            to: s(),
            from: s(),
            thread_id: s(),
            kind: Some(Kind::Fyi),
            since: s(),
            limit: Some(2),
        };
        let names = names(search.pairs());
        assert!(names.iter().all(|n| SearchParams::PARAMS.contains(n)));
        assert!(SearchParams::PARAMS.iter().all(|p| names.contains(p) || ["to_node", "from_node"].contains(p)));
        assert_eq!(SearchParams::default().pairs(), [("q", String::new())]);
    }
}
