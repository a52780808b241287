//! The search query language, parsed once for every backend, and the
//! snippet the gateway builds from a hit's body.
//!
//! Language: bare words are ANDed; `"a phrase"` matches words in a row;
//! `word*` matches words starting with `word` (at least 2 characters
//! before `*`); `OR` (upper case) between two terms matches either; `-word`
//! or `-"a phrase"` excludes. A word is a run of letters and digits: other
//! characters separate words, so `deploy-prod` is the phrase
//! `"deploy prod"`. Backends never see the user's text, only the words of
//! a parsed [`SearchExpr`], each quoted in their own syntax.

use meshgate_proto::{Message, SnippetSegment, SEARCH_QUERY_MAX_BYTES, SEARCH_TERMS_MAX};

use crate::Timestamp;
use meshgate_proto::Kind;

/// A parsed query: every clause must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchExpr {
    /// The clauses, ANDed; at least one is not negated.
    pub clauses: Vec<Clause>,
}

/// One clause: any of its phrases matches (`OR`); `negated` excludes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// `-term`: messages matching it are left out.
    pub negated: bool,
    /// Alternatives, at least one.
    pub any: Vec<Phrase>,
}

/// Words that must appear in a row; a single word is a phrase of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    /// Words as typed (letters and digits only, never empty).
    pub words: Vec<String>,
    /// The last word is a prefix (`word*`).
    pub prefix: bool,
}

/// Why a query cannot be searched (400 `invalid_query`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

fn bad<T>(why: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(why.into()))
}

/// The words of `text`: runs of letters and digits.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// A lexical token of the query.
enum Tok {
    Or,
    Term { negated: bool, phrase: Phrase },
}

/// Parses `q` (see the module docs for the language).
pub fn parse_query(q: &str) -> Result<SearchExpr, QueryError> {
    if q.len() > SEARCH_QUERY_MAX_BYTES {
        return bad(format!("the query is {} bytes; at most {SEARCH_QUERY_MAX_BYTES} are allowed", q.len()));
    }
    if q.trim().is_empty() {
        return bad("the query is empty");
    }
    let toks = tokens(q)?;
    let n_words: usize = toks
        .iter()
        .map(|t| match t {
            Tok::Term { phrase, .. } => phrase.words.len(),
            Tok::Or => 0,
        })
        .sum();
    if n_words > SEARCH_TERMS_MAX {
        return bad(format!("the query has {n_words} words; at most {SEARCH_TERMS_MAX} are allowed"));
    }
    let mut clauses: Vec<Clause> = Vec::new();
    let mut after_or = false;
    for (i, t) in toks.into_iter().enumerate() {
        match t {
            Tok::Or if i == 0 || after_or => return bad("OR needs a term on each side"),
            Tok::Or => after_or = true,
            Tok::Term { negated, phrase } => {
                if after_or {
                    let last = clauses.last_mut().expect("OR follows a term");
                    if negated || last.negated {
                        return bad("an excluded term (-word) cannot be part of OR");
                    }
                    last.any.push(phrase);
                } else {
                    clauses.push(Clause { negated, any: vec![phrase] });
                }
                after_or = false;
            }
        }
    }
    if after_or {
        return bad("OR needs a term on each side");
    }
    if clauses.is_empty() {
        return bad("the query has no words: a word is a run of letters or digits, punctuation only separates words");
    }
    if clauses.iter().all(|c| c.negated) {
        return bad("the query only excludes (-word): add a word to search for");
    }
    Ok(SearchExpr { clauses })
}

fn tokens(q: &str) -> Result<Vec<Tok>, QueryError> {
    let mut out = Vec::new();
    let mut rest = q;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace());
        if rest.is_empty() {
            return Ok(out);
        }
        let negated = rest.starts_with('-') && rest.len() > 1 && !rest[1..].starts_with(char::is_whitespace);
        if negated {
            rest = &rest[1..];
        }
        if let Some(inner) = rest.strip_prefix('"') {
            let Some(end) = inner.find('"') else { return bad("a \" opens a phrase that is never closed") };
            let text = &inner[..end];
            rest = &inner[end + 1..];
            let prefix = rest.starts_with('*');
            if prefix {
                rest = &rest[1..];
            }
            let phrase = phrase(text, prefix)?;
            match phrase {
                Some(phrase) => out.push(Tok::Term { negated, phrase }),
                None => return bad("a quoted phrase has no words (letters or digits)"),
            }
            continue;
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(rest.len());
        let raw = &rest[..end];
        rest = &rest[end..];
        if raw == "OR" && !negated {
            out.push(Tok::Or);
            continue;
        }
        let (text, prefix) = match raw.strip_suffix('*') {
            Some(t) => (t, true),
            None => (raw, false),
        };
        // Punctuation alone (`!!`, `--`) is no term: it separates words.
        if let Some(phrase) = phrase(text, prefix)? {
            out.push(Tok::Term { negated, phrase });
        } else if prefix {
            return bad("a prefix (word*) needs at least 2 letters or digits before *");
        }
    }
}

fn phrase(text: &str, prefix: bool) -> Result<Option<Phrase>, QueryError> {
    let words: Vec<String> = words(text).map(str::to_owned).collect();
    if words.is_empty() {
        return Ok(None);
    }
    if prefix && words.last().is_some_and(|w| w.chars().count() < 2) {
        return bad("a prefix (word*) needs at least 2 letters or digits before *");
    }
    Ok(Some(Phrase { words, prefix }))
}

/// A search for `GET /messages/search`: the parsed query and the same
/// filters as `GET /messages`, scoped like every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// What to search for.
    pub expr: SearchExpr,
    /// Recipient.
    pub to: Option<String>,
    /// Sender.
    pub from: Option<String>,
    /// Sender or recipient (scopes a per-peer caller to its own DMs).
    pub involving: Option<String>,
    /// Thread UUID.
    pub thread_id: Option<String>,
    /// Kind.
    pub kind: Option<Kind>,
    /// Only messages created strictly after this normalised timestamp.
    pub since: Option<Timestamp>,
    /// At most this many hits.
    pub limit: u32,
    /// Store time the search may use before it stops and ranks what it
    /// found ([`SearchPage::truncated`]).
    pub budget: std::time::Duration,
    /// Encoded bytes of messages the hits may hold, as `GET /messages`'
    /// page budget (the best hit always comes back; 0: no budget). Hits
    /// cut by it make the page [`SearchPage::truncated`].
    pub max_bytes: usize,
}

impl SearchQuery {
    /// A search for `expr` with no filters or scope, 20 hits
    /// ([`SEARCH_LIMIT_DEFAULT`](meshgate_proto::SEARCH_LIMIT_DEFAULT)) and
    /// the default budget.
    pub fn new(expr: SearchExpr) -> Self {
        SearchQuery {
            expr,
            to: None,
            from: None,
            involving: None,
            thread_id: None,
            kind: None,
            since: None,
            limit: meshgate_proto::SEARCH_LIMIT_DEFAULT,
            budget: SEARCH_BUDGET_DEFAULT,
            max_bytes: meshgate_proto::PAGE_BYTES_DEFAULT,
        }
    }
}

/// Matches ranked per search: the newest this many matches (after the
/// filters) are ranked; with more, the page is [`SearchPage::truncated`].
pub const SEARCH_CANDIDATES_MAX: u32 = 2000;

/// Bytes of bodies one search tokenises at most to rank its candidates
/// where the gateway ranks (SQLite): each candidate is ranked over its
/// first [`rank_window`] bytes, so the ranking costs at most this much
/// whatever the bodies hold.
pub const SEARCH_RANK_BYTES: usize = 8 << 20;

/// Most bytes of one body a ranking reads (its first 64 KiB).
pub const SEARCH_RANK_BODY_MAX: usize = 64 << 10;

/// Fewest bytes of one body a ranking reads (with the most candidates).
const SEARCH_RANK_BODY_MIN: usize = SEARCH_RANK_BYTES / SEARCH_CANDIDATES_MAX as usize;

/// Bytes of each body ranked when `candidates` bodies are: the
/// [`SEARCH_RANK_BYTES`] split between them, at most
/// [`SEARCH_RANK_BODY_MAX`] each (the same for every candidate, so ranks
/// stay comparable).
pub fn rank_window(candidates: usize) -> usize {
    (SEARCH_RANK_BYTES / candidates.max(1)).clamp(SEARCH_RANK_BODY_MIN, SEARCH_RANK_BODY_MAX)
}

/// The longest start of `text` of at most `bytes` bytes, cut at a
/// character boundary.
pub fn head(text: &str, bytes: usize) -> &str {
    if text.len() <= bytes {
        return text;
    }
    let mut end = bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Default [`SearchQuery::budget`].
pub const SEARCH_BUDGET_DEFAULT: std::time::Duration = std::time::Duration::from_millis(250);

/// One hit as the store returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHit {
    /// The message.
    pub message: Message,
    /// Relevance, higher is better (backend-specific scale).
    pub rank: f64,
}

/// A page of search hits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchPage {
    /// Best rank first, ties newest first.
    pub hits: Vec<StoredHit>,
    /// The search stopped before it saw every match: more than
    /// [`SEARCH_CANDIDATES_MAX`] matched, or the budget ran out; or the
    /// page's byte budget ([`SearchQuery::max_bytes`]) cut hits.
    pub truncated: bool,
    /// Bytes of bodies the gateway tokenised to rank this page (at most
    /// [`SEARCH_RANK_BYTES`]; 0 where the database ranks).
    pub ranked_bytes: usize,
}

/// Sorts hits best rank first, ties newest first, and keeps `limit`.
pub fn rank_hits(hits: &mut Vec<StoredHit>, limit: u32) {
    hits.sort_by(|a, b| b.rank.total_cmp(&a.rank).then(b.message.id.cmp(&a.message.id)));
    hits.truncate(limit as usize);
}

/// BM25 scores of `bodies` for `expr`, computed over these bodies alone
/// (document frequencies and the average length are those of the
/// candidates, not of the whole store, so no global statistics are read),
/// each over its first [`rank_window`] bytes; with the bytes read.
/// Words of non-excluded terms count (case-insensitive; a prefix term
/// counts words starting with it); higher is better.
pub fn rank_bodies(expr: &SearchExpr, bodies: &[&str]) -> (Vec<f64>, usize) {
    let window = rank_window(bodies.len());
    let bodies: Vec<&str> = bodies.iter().map(|b| head(b, window)).collect();
    let read = bodies.iter().map(|b| b.len()).sum();
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    let terms: Vec<(String, bool)> = {
        let mut t: Vec<(String, bool)> = Vec::new();
        for clause in expr.clauses.iter().filter(|c| !c.negated) {
            for p in &clause.any {
                for (i, w) in p.words.iter().enumerate() {
                    let term = (w.to_lowercase(), p.prefix && i + 1 == p.words.len());
                    if !t.contains(&term) {
                        t.push(term);
                    }
                }
            }
        }
        t
    };
    // Per body: its length in words and each term's count.
    let counts: Vec<(usize, Vec<u32>)> = bodies
        .iter()
        .map(|body| {
            let mut tf = vec![0u32; terms.len()];
            let mut len = 0;
            for w in words(body) {
                len += 1;
                let w = lower(w);
                for (i, (t, prefix)) in terms.iter().enumerate() {
                    if if *prefix { w.starts_with(t.as_str()) } else { *w == **t } {
                        tf[i] += 1;
                    }
                }
            }
            (len, tf)
        })
        .collect();
    let n = bodies.len().max(1) as f64;
    let avg = (counts.iter().map(|c| c.0).sum::<usize>() as f64 / n).max(1.0);
    let idf: Vec<f64> = (0..terms.len())
        .map(|i| {
            let df = counts.iter().filter(|c| c.1[i] > 0).count() as f64;
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .collect();
    let ranks = counts
        .iter()
        .map(|(len, tf)| {
            tf.iter()
                .zip(&idf)
                .map(|(&f, idf)| {
                    let f = f64::from(f);
                    idf * f * (K1 + 1.0) / (f + K1 * (1.0 - B + B * *len as f64 / avg))
                })
                .sum()
        })
        .collect();
    (ranks, read)
}

/// `w` in lower case, without a copy when it has no upper-case letter.
fn lower(w: &str) -> std::borrow::Cow<'_, str> {
    if w.chars().any(char::is_uppercase) {
        std::borrow::Cow::Owned(w.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(w)
    }
}

/// Characters of body a snippet shows at most (before the `…` marks).
pub const SNIPPET_CHARS: usize = 160;

/// Bytes at the start of a body a snippet looks at for its first matched
/// word (beyond them it shows the body's start).
pub const SNIPPET_SCAN_BYTES: usize = 16 << 10;

/// Characters of context a snippet keeps before its first matched word.
const SNIPPET_LEAD: usize = 40;

/// The snippet of `body` for `expr`: about [`SNIPPET_CHARS`] characters
/// around the first word a (non-excluded) term matches in the first
/// [`SNIPPET_SCAN_BYTES`] (the work is bounded whatever the body), whitespace runs
/// shown as one space, matched words as `hit` segments. Words compare
/// case-insensitively (Unicode lower case); a prefix term matches words
/// starting with it.
pub fn snippet(body: &str, expr: &SearchExpr) -> Vec<SnippetSegment> {
    let full_len = body.len();
    let body = head(body, SNIPPET_SCAN_BYTES);
    let mut exact: Vec<String> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    for clause in expr.clauses.iter().filter(|c| !c.negated) {
        for p in &clause.any {
            for (i, w) in p.words.iter().enumerate() {
                let w = w.to_lowercase();
                if p.prefix && i + 1 == p.words.len() {
                    prefixes.push(w);
                } else {
                    exact.push(w);
                }
            }
        }
    }
    let is_hit = |w: &str| {
        let w = w.to_lowercase();
        exact.contains(&w) || prefixes.iter().any(|p| w.starts_with(p.as_str()))
    };
    // Byte spans of the words, flagged.
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    let mut start = None;
    for (i, c) in body.char_indices().chain(std::iter::once((body.len(), ' '))) {
        match (c.is_alphanumeric() && i < body.len(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i, is_hit(&body[s..i])));
                start = None;
            }
            _ => {}
        }
    }
    let first = spans.iter().find(|s| s.2).map_or(0, |s| s.0);
    // Start SNIPPET_LEAD characters before the first hit, at a word start.
    let lead_from = body[..first].char_indices().rev().nth(SNIPPET_LEAD - 1).map_or(0, |(i, _)| i);
    let from = if lead_from == 0 {
        0
    } else {
        spans.iter().map(|s| s.0).find(|&s| s >= lead_from).unwrap_or(first).min(first)
    };
    let to = body[from..].char_indices().nth(SNIPPET_CHARS).map_or(body.len(), |(i, _)| from + i);
    let mut out: Vec<SnippetSegment> = Vec::new();
    let mut push = |text: &str, hit: bool| {
        let mut t = String::with_capacity(text.len());
        for c in text.chars() {
            let c = if c.is_whitespace() || c.is_control() { ' ' } else { c };
            if !(c == ' ' && t.ends_with(' ')) {
                t.push(c);
            }
        }
        match out.last_mut() {
            Some(last) if !last.hit && !hit => {
                if last.text.ends_with(' ') && t.starts_with(' ') {
                    t.remove(0);
                }
                last.text.push_str(&t);
            }
            _ if !t.is_empty() => out.push(SnippetSegment { text: t, hit }),
            _ => {}
        }
    };
    if from > 0 {
        push("…", false);
    }
    let mut at = from;
    for &(s, e, hit) in spans.iter().filter(|s| s.2 && s.0 >= from && s.0 < to) {
        let e = e.min(to);
        push(&body[at..s], false);
        push(&body[s..e], hit);
        at = e;
    }
    push(&body[at..to], false);
    if to < full_len {
        push("…", false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str], prefix: bool) -> Phrase {
        Phrase { words: words.iter().map(|w| w.to_string()).collect(), prefix }
    }

    #[test]
    fn parses_the_language() {
        let e = parse_query(r#"deploy "prod box" rel* -staging a OR b"#).unwrap();
        assert_eq!(
            e.clauses,
            vec![
                Clause { negated: false, any: vec![p(&["deploy"], false)] },
                Clause { negated: false, any: vec![p(&["prod", "box"], false)] },
                Clause { negated: false, any: vec![p(&["rel"], true)] },
                Clause { negated: true, any: vec![p(&["staging"], false)] },
                Clause { negated: false, any: vec![p(&["a"], false), p(&["b"], false)] },
            ]
        );
        assert_eq!(parse_query("deploy-prod").unwrap().clauses[0].any[0], p(&["deploy", "prod"], false));
        assert_eq!(parse_query("x !! y").unwrap().clauses.len(), 2);
    }

    #[test]
    fn refuses_what_it_cannot_search() {
        for q in ["", "   ", "\"open", "a*", "*", "OR a", "a OR", "a OR OR b", "-a", "-a OR b", "\"!!\"", "ü*"] {
            assert!(parse_query(q).is_err(), "{q:?} should be refused");
        }
        assert!(parse_query(&"a ".repeat(33)).is_err());
        assert!(parse_query(&"a".repeat(513)).is_err());
        assert!(parse_query(&"a ".repeat(32)).is_ok());
        for q in [".", "!!!", "\u{fffd}", "- ."] {
            assert!(parse_query(q).unwrap_err().0.contains("no words"), "{q:?}");
        }
        assert!(parse_query("-a").unwrap_err().0.contains("only excludes"));
    }

    #[test]
    fn ranks_count_matched_words() {
        let e = parse_query("deploy -late").unwrap();
        let (r, read) = rank_bodies(&e, &["deploy deploy deploy now", "deploy now please", "late late late deploy"]);
        assert!(r[0] > r[1], "{r:?}");
        assert!(r[1] > r[2], "excluded words do not count, longer bodies weigh less: {r:?}");
        assert_eq!(read, 24 + 17 + 21);
        assert_eq!(rank_bodies(&e, &[]), (Vec::<f64>::new(), 0));
    }

    #[test]
    fn ranking_and_snippets_read_a_bounded_start_of_each_body() {
        assert_eq!(rank_window(1), SEARCH_RANK_BODY_MAX);
        assert!(rank_window(SEARCH_CANDIDATES_MAX as usize) * SEARCH_CANDIDATES_MAX as usize <= SEARCH_RANK_BYTES);
        let big = "a ".repeat(100_000);
        let bodies: Vec<&str> = vec![&big; 50];
        let (r, read) = rank_bodies(&parse_query("a").unwrap(), &bodies);
        assert_eq!(r.len(), 50);
        assert_eq!(read, 50 * SEARCH_RANK_BODY_MAX);
        let bodies: Vec<&str> = vec![&big; SEARCH_CANDIDATES_MAX as usize];
        assert!(rank_bodies(&parse_query("a").unwrap(), &bodies).1 <= SEARCH_RANK_BYTES);
        // A word past the scanned start: the snippet shows the start, cut.
        let late = format!("{}deploy", "x ".repeat(SNIPPET_SCAN_BYTES));
        let s = snippet(&late, &parse_query("deploy").unwrap());
        assert!(s.iter().all(|s| !s.hit) && s.last().unwrap().text.ends_with('…'), "{s:?}");
        assert_eq!(head("é", 1), "");
    }

    #[test]
    fn snippets_mark_matched_words() {
        let e = parse_query("deploy rel*").unwrap();
        let s = snippet("We  Deploy\nthe release now", &e);
        let text: String = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "We Deploy the release now");
        let hits: Vec<&str> = s.iter().filter(|s| s.hit).map(|s| s.text.as_str()).collect();
        assert_eq!(hits, ["Deploy", "release"]);
        let long = format!("{} deploy {}", "word ".repeat(100), "tail ".repeat(100));
        let s = snippet(&long, &e);
        assert_eq!(s[0].text.chars().next(), Some('…'));
        assert!(s.iter().any(|s| s.hit && s.text == "deploy"));
        assert!(s.last().unwrap().text.ends_with('…'));
        assert!(s.iter().map(|s| s.text.chars().count()).sum::<usize>() <= SNIPPET_CHARS + 4);
    }
}
