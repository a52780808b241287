//! Full-text search over DMs (`GET /messages/search`): hits with a rank and
//! a snippet given as plain-text segments, never markup.

use serde::{Deserialize, Serialize};

use crate::Message;

/// Hits per `GET /messages/search` page when no `limit` is given.
pub const SEARCH_LIMIT_DEFAULT: u32 = 20;

/// Largest `limit` of `GET /messages/search`.
pub const SEARCH_LIMIT_MAX: u32 = 100;

/// Longest search query `q`, in bytes (UTF-8).
pub const SEARCH_QUERY_MAX_BYTES: usize = 512;

/// Most words a search query may hold (over all its terms and phrases).
pub const SEARCH_TERMS_MAX: usize = 32;

/// One piece of a snippet: text, and whether it is a word the query matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnippetSegment {
    /// Plain text, shown as is (no markup: escape it for HTML).
    pub text: String,
    /// `true` for a word the query matched (to be emphasised).
    #[serde(default)]
    pub hit: bool,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// The message, as `GET /messages` shows it.
    pub message: Message,
    /// Relevance, higher is better; comparable only within one answer.
    pub rank: f64,
    /// The part of the body around the first matched word, as segments;
    /// concatenated they are the excerpt (with `…` where it was cut).
    pub snippet: Vec<SnippetSegment>,
}

impl SearchHit {
    /// The snippet as one line of text, matched words between `mark`s
    /// (`mark = ("", "")`: plain text).
    pub fn snippet_text(&self, mark: (&str, &str)) -> String {
        let mut out = String::new();
        for s in &self.snippet {
            if s.hit {
                out.push_str(mark.0);
                out.push_str(&s.text);
                out.push_str(mark.1);
            } else {
                out.push_str(&s.text);
            }
        }
        out
    }
}

/// `GET /messages/search`: hits, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// Hits, best rank first (ties: newest first).
    pub hits: Vec<SearchHit>,
    /// The page size used.
    pub limit: u32,
    /// `true` when the search stopped early (too many matches to rank all
    /// within its budget): the hits are the best of the newest matches.
    #[serde(default)]
    pub truncated: bool,
}
