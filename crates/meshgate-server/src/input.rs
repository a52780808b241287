//! Request input: JSON bodies and query strings parsed by hand, so every
//! malformed input gets our error body with the status the Python clients
//! expect (422 for malformed or mistyped JSON, 400 for unknown parameters).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};

use crate::error::{shown, ApiError, Class};

/// Most unknown query keys named in an `unknown_parameter` detail.
const UNKNOWN_SHOWN: usize = 8;

/// Largest accepted request body. A 200,000-character message whose
/// characters are all escaped astral-plane code points is about 2.4 MB.
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// 413 `body_too_large`: a body (or its declared length) over [`BODY_LIMIT`].
pub fn body_too_large() -> ApiError {
    ApiError::new(Class::TooLarge, "body_too_large", format!("request body is over {BODY_LIMIT} bytes"))
}

/// A JSON object body. Each route reads its fields with the proto type's
/// reader (`SendRequest::read`, `NewAlias::read`, ...), through proto's
/// [`Fields`](meshgate_proto::Fields): one wording of every refusal.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                body_too_large()
            } else {
                ApiError::invalid("invalid_body", "could not read the request body")
            }
        })?;
        Self::parse(&bytes)
    }
}

impl JsonObject {
    /// Parses `bytes` as a JSON object whose keys are each given once: a
    /// repeated key is 422 `duplicate_field`, as a repeated query parameter
    /// is 400 `duplicate_parameter`, rather than the last one silently
    /// winning (a proxy that reads the first would see another sender).
    /// Objects nested in a field (`capabilities`) keep JSON's last-wins.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let not_json = |e: serde_json::Error| {
            ApiError::invalid(
                "invalid_json",
                format!("the request body is not valid JSON (line {}, column {})", e.line(), e.column()),
            )
        };
        let object = bytes.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b'{');
        if !object {
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(not_json)?;
            return Err(ApiError::invalid("invalid_json", "the request body must be a JSON object"));
        }
        match serde_json::from_slice::<TopLevel>(bytes).map_err(not_json)? {
            TopLevel::Object(map) => Ok(JsonObject(map)),
            TopLevel::Duplicate(key) => Err(ApiError::invalid(
                "duplicate_field",
                format!(
                    "field {} is given more than once in the JSON body; give it once (which one was meant \
                     is not guessed)",
                    shown(&key)
                ),
            )),
        }
    }
}

/// The first key given twice in one object, at any depth of the JSON text
/// `bytes`; `None` when every key is given once or the text is not JSON
/// (its parser then refuses it). For bodies not read through
/// [`JsonObject`], such as MCP's JSON-RPC messages, whose tool arguments
/// are an object inside the message.
pub fn repeated_key(bytes: &[u8]) -> Option<String> {
    serde_json::from_slice::<Repeats>(bytes).ok().and_then(|r| r.0)
}

/// What [`repeated_key`] found in one JSON value.
struct Repeats(Option<String>);

impl<'de> serde::Deserialize<'de> for Repeats {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};
        struct Walk;
        impl<'de> Visitor<'de> for Walk {
            type Value = Repeats;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Repeats, A::Error> {
                let mut keys = std::collections::HashSet::new();
                let mut found = None;
                while let Some(key) = a.next_key::<String>()? {
                    let inner = a.next_value::<Repeats>()?.0;
                    if keys.contains(&key) {
                        found = found.or(Some(key));
                    } else {
                        keys.insert(key);
                    }
                    found = found.or(inner);
                }
                Ok(Repeats(found))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Repeats, A::Error> {
                let mut found = None;
                while let Some(inner) = a.next_element::<Repeats>()? {
                    found = found.or(inner.0);
                }
                Ok(Repeats(found))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Repeats, E> {
                Ok(Repeats(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Repeats, E> {
                Ok(Repeats(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Repeats, E> {
                Ok(Repeats(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Repeats, E> {
                Ok(Repeats(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Repeats, E> {
                Ok(Repeats(None))
            }
            fn visit_unit<E>(self) -> Result<Repeats, E> {
                Ok(Repeats(None))
            }
        }
        d.deserialize_any(Walk)
    }
}

/// A body's top-level JSON object, as [`JsonObject::parse`] judges it
/// (it parses only a text that starts with `{`).
enum TopLevel {
    Object(Map<String, Value>),
    /// An object with this key more than once.
    Duplicate(String),
}

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};
        struct Top;
        impl<'de> Visitor<'de> for Top {
            type Value = TopLevel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<TopLevel, A::Error> {
                let mut map = Map::new();
                while let Some(key) = a.next_key::<String>()? {
                    if map.contains_key(&key) {
                        // Read to the end: syntax errors after it still win.
                        a.next_value::<IgnoredAny>()?;
                        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        return Ok(TopLevel::Duplicate(key));
                    }
                    let value = a.next_value::<Value>()?;
                    map.insert(key, value);
                }
                Ok(TopLevel::Object(map))
            }
        }
        d.deserialize_map(Top)
    }
}

/// `path?name=value&...` of `pairs` (a proto query type's `pairs()`), each
/// value form-encoded as [`Query::parse`] reads it; `path` alone when there
/// are none. The URIs of the gateway's in-process calls (MCP tools, the
/// console), so a parameter's name comes from its proto type.
pub fn uri_with_query(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    format!("{path}?{query}")
}

/// Refuses a URI whose path or query carries an encoded NUL (`%00`), for
/// the reason of [`Fields::opt_string`](meshgate_proto::Fields::opt_string)'s refusal: a name, filter or
/// path segment with one would fail in the PostgreSQL store (a 500). The
/// connection layer runs it once before routing, for every route; it runs
/// before authentication, which it cannot leak anything to.
pub fn refuse_nul_in_uri(uri: &axum::http::Uri) -> Result<(), ApiError> {
    let has_nul = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return Err(ApiError::invalid(
            "invalid_parameter",
            "the URI contains an encoded NUL character (%00), which no name, id or filter may hold",
        ));
    }
    Ok(())
}

/// The route's path parameters (one `String`, or a tuple), percent-decoded.
/// Every route takes them through this rather than axum's `Path`, whose
/// rejection (e.g. a parameter that is not UTF-8 once decoded, `/peers/%ff`)
/// is a plain-text 400: here it is our JSON 400 `invalid_path`.
pub struct PathParams<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for PathParams<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(match e.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => ApiError::bad_request(
                    "invalid_path",
                    format!("path segment {{{key}}} is not valid UTF-8 once percent-decoded"),
                ),
                _ => ApiError::bad_request("invalid_path", "a path segment could not be read"),
            }),
            Err(_) => Err(ApiError::bad_request("invalid_path", "a path segment could not be read")),
        }
    }
}

/// Spellings of one filter (the reference's `to_node` beside `to`): given
/// both with different values, a query is refused, as for a key given twice.
const SPELLINGS: [[&str; 2]; 2] = [["to", "to_node"], ["from", "from_node"]];

/// A query string split into pairs, refusing keys outside an allowlist
/// (an ignored filter would silently widen a read) and keys given twice
/// (`to=a&to=b`: taking either one silently would answer another question).
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `raw`, refusing any key not in `allowed`.
    pub fn parse(raw: Option<&str>, allowed: &[&str], endpoint: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = match raw {
            Some(raw) => form_urlencoded_pairs(raw),
            None => Vec::new(),
        };
        let mut unknown: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).filter(|k| !allowed.contains(k)).collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            unknown.dedup();
            let listed: Vec<String> = unknown.iter().take(UNKNOWN_SHOWN).map(|k| shown(k)).collect();
            let more = match unknown.len().saturating_sub(UNKNOWN_SHOWN) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            return Err(ApiError::bad_request(
                "unknown_parameter",
                format!(
                    "unrecognized query parameter(s) [{}]{more} on {endpoint}; accepted: {allowed:?}. \
                     Refusing rather than ignoring: an ignored filter would return an unfiltered superset",
                    listed.join(", ")
                ),
            ));
        }
        // Every key is an allowed one by now, so the first repeat comes within
        // the first `allowed.len() + 1` pairs: no allocation, no sort.
        let repeated = pairs.iter().enumerate().find(|(i, (k, _))| pairs[..*i].iter().any(|(seen, _)| seen == k));
        if let Some((_, (twice, _))) = repeated {
            return Err(ApiError::bad_request(
                "duplicate_parameter",
                format!(
                    "query parameter {} is given more than once on {endpoint}; give it once \
                     (which one was meant is not guessed)",
                    shown(twice)
                ),
            ));
        }
        let query = Query { pairs };
        for spellings in SPELLINGS {
            let mut given = spellings.iter().filter_map(|k| query.get(k).filter(|v| !v.is_empty()));
            if let (Some(a), Some(b)) = (given.next(), given.next()) {
                if a != b {
                    return Err(ApiError::bad_request(
                        "duplicate_parameter",
                        format!(
                            "{} are one filter, given two different values on {endpoint}; give one",
                            spellings.join(" and ")
                        ),
                    ));
                }
            }
        }
        Ok(query)
    }

    /// The value of `key` (a key appears at most once).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The first non-empty value among `keys`.
    pub fn first_of(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().filter_map(|k| self.get(k)).find(|v| !v.is_empty())
    }

    /// A boolean in FastAPI's spellings.
    pub fn bool(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(false),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
                "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
                _ => Err(ApiError::invalid("invalid_parameter", format!("{key} must be true or false"))),
            },
        }
    }

    /// An integer in `min..=max`.
    pub fn int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => {
                    Err(ApiError::invalid("invalid_parameter", format!("{key} must be an integer from {min} to {max}")))
                }
            },
        }
    }
}

fn form_urlencoded_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s)).into_owned()
}

/// The bytes `s` percent-decodes to (`+` as a space, as in a form).
pub(crate) fn percent_decode_bytes(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(percent_decode("a%2B1+b%3A"), "a+1 b:");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%e2%86%94"), "↔");
    }

    #[test]
    fn a_repeated_key_is_found_at_any_depth() {
        let found = |text: &str| repeated_key(text.as_bytes());
        assert_eq!(found(r#"{"a":1,"b":{"c":[1,{"d":2,"d":3}]}}"#).as_deref(), Some("d"));
        assert_eq!(found(r#"{"params":{"arguments":{"to":"a","to":"b"}}}"#).as_deref(), Some("to"));
        assert_eq!(found(r#"{"to":"a","t\u006f":"b"}"#).as_deref(), Some("to"), "escapes are decoded first");
        assert_eq!(found(r#"[{"a":1},{"a":2}]"#), None, "two objects, one key each");
        assert_eq!(found(r#"{"a":{"x":1},"b":{"x":2}}"#), None);
        assert_eq!(found(r#"{"a":1,"a":"#), None, "not JSON: left to the parser");
        assert_eq!(found("7"), None);
    }
}
