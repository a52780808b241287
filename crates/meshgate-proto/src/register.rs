//! The `POST /peers/register` body: the bounds of a peer record and the
//! gateway's reading of it ([`RegisterRequest::read`]).
//!
//! A peer record is read by every other agent (and shown in consoles), so
//! its free-form parts are capped and its `url` must be a web address, not
//! a `javascript:` or `file:` link a console might render as clickable.

use serde_json::{Map, Value};

use crate::body::{BodyError, Fields};
use crate::{RegisterRequest, PEER_NAME_MAX};

/// Longest `url`, in characters.
pub const URL_MAX_CHARS: usize = 2048;
/// Largest `capabilities`, as compact JSON, in bytes.
pub const CAPABILITIES_MAX_BYTES: usize = 16 * 1024;
/// Deepest nesting of objects and arrays in `capabilities` (the top-level
/// object is depth 1).
pub const CAPABILITIES_MAX_DEPTH: usize = 8;
/// Most object keys in `capabilities`, at every level together.
pub const CAPABILITIES_MAX_KEYS: usize = 256;

impl RegisterRequest {
    /// Reads a `POST /peers/register` body as the gateway does. Checks run
    /// in a fixed order and the first failing one answers: `name` (a field
    /// of 1 to 64 characters, then a canonical peer name), the token's
    /// binding (`token_peer`, the peer a per-peer token belongs to, may
    /// register only itself: 403 `caller_binding`), `url` ([`check_url`]),
    /// `capabilities` ([`check_capabilities`]), `adopt_history`. Unknown
    /// fields are ignored. Who may adopt a history, and whether the fields
    /// hold a live credential, is the gateway's to decide after this.
    pub fn read(body: &Map<String, Value>, token_peer: Option<&str>) -> Result<RegisterRequest, BodyError> {
        let f = Fields(body);
        let name = f.string("name", 1, PEER_NAME_MAX)?;
        crate::validate_peer_name(name)?;
        if token_peer.is_some_and(|me| me != name) {
            return Err(BodyError::forbidden("caller_binding", "a peer token can only register its own peer"));
        }
        let url = f.opt_string("url", 1, URL_MAX_CHARS)?;
        if let Some(url) = url {
            check_url(url)?;
        }
        let capabilities = f.opt_object("capabilities")?;
        if let Some(caps) = capabilities {
            check_capabilities(caps)?;
        }
        Ok(RegisterRequest {
            name: name.to_owned(),
            url: url.map(str::to_owned),
            capabilities: capabilities.cloned(),
            adopt_history: f.opt_bool("adopt_history")?.unwrap_or(false),
        })
    }
}

/// Refuses (422 `invalid_url`) a `url` that is not an absolute
/// `http`/`https` address with a host, or that holds whitespace or control
/// characters.
pub fn check_url(url: &str) -> Result<(), BodyError> {
    let bad = |why: &str| BodyError::invalid("invalid_url", format!("field \"url\" {why}"));
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err(bad("must be an http:// or https:// address"));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain whitespace or control characters"));
    }
    if url.chars().any(invisible) {
        return Err(bad("must not contain invisible or bidirectional-override characters"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(bad("must name a host"));
    }
    if let Some(v6) = host.strip_prefix('[') {
        // `[addr]` or `[addr]:port`, nothing else.
        let closed = v6
            .split_once(']')
            .is_some_and(|(addr, after)| !addr.is_empty() && (after.is_empty() || after.strip_prefix(':').is_some()));
        if !closed {
            return Err(bad("has an IPv6 host without its closing ']'"));
        }
    }
    Ok(())
}

/// Characters that change how a URL reads without showing: bidirectional
/// overrides and isolates (`http://x\u{202e}moc.evil`), zero-width ones and
/// the byte-order mark. Every peer sees a peer's `url`.
fn invisible(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Refuses `capabilities` larger (422 `capabilities_too_large`), deeper or
/// with more keys (422 `capabilities_too_complex`) than the caps.
pub fn check_capabilities(caps: &Map<String, Value>) -> Result<(), BodyError> {
    let bytes = serde_json::to_vec(caps).map(|v| v.len()).unwrap_or(usize::MAX);
    if bytes > CAPABILITIES_MAX_BYTES {
        return Err(BodyError::invalid(
            "capabilities_too_large",
            format!("field \"capabilities\" is {bytes} bytes of JSON; at most {CAPABILITIES_MAX_BYTES} are allowed"),
        ));
    }
    let (mut keys, mut depth) = (caps.len(), 1usize);
    // Iterative walk: no recursion on caller-controlled nesting.
    let mut stack: Vec<(&Value, usize)> = caps.values().map(|v| (v, 2)).collect();
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Object(m) => {
                depth = depth.max(d);
                keys += m.len();
                stack.extend(m.values().map(|v| (v, d + 1)));
            }
            Value::Array(items) => {
                depth = depth.max(d);
                stack.extend(items.iter().map(|v| (v, d + 1)));
            }
            _ => {}
        }
    }
    if depth > CAPABILITIES_MAX_DEPTH || keys > CAPABILITIES_MAX_KEYS {
        return Err(BodyError::invalid(
            "capabilities_too_complex",
            format!(
                "field \"capabilities\" nests {depth} levels with {keys} keys; at most {CAPABILITIES_MAX_DEPTH} \
                 levels and {CAPABILITIES_MAX_KEYS} keys are allowed"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value, who: Option<&str>) -> Result<RegisterRequest, BodyError> {
        RegisterRequest::read(v.as_object().unwrap(), who)
    }

    #[test]
    fn a_written_request_reads_back() {
        let caps = json!({"runtime": "claude", "n": [1, {"k": 2}]}).as_object().cloned();
        for r in [
            RegisterRequest { name: "ab".into(), url: None, capabilities: None, adopt_history: false },
            RegisterRequest {
                name: "lab-ovh".into(),
                url: Some("https://[::1]:8788/hook".into()),
                capabilities: caps,
                adopt_history: true,
            },
        ] {
            assert_eq!(read(serde_json::to_value(&r).unwrap(), None), Ok(r.clone()));
            assert_eq!(read(serde_json::to_value(&r).unwrap(), Some(&r.name)), Ok(r));
        }
    }

    #[test]
    fn the_name_is_checked_before_the_binding_and_the_binding_before_the_rest() {
        assert_eq!(read(json!({"name": "Bob", "url": 5}), Some("al")).unwrap_err().code, "invalid_name");
        let e = read(json!({"name": "bob", "url": 5}), Some("al")).unwrap_err();
        assert_eq!((e.kind, e.code), (crate::BodyErrorKind::Forbidden, "caller_binding"));
        assert_eq!(read(json!({"name": "bob", "url": 5}), None).unwrap_err().code, "invalid_field");
    }

    #[test]
    fn urls_must_be_web_addresses() {
        for ok in ["http://x.invalid:1", "https://lab.example/a?b#c", "HTTP://Host", "http://u@h:8"] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in
            ["javascript:alert(1)", "file:///etc/passwd", "http://", "https://:80/x", "http://a b", "ftp://h", "//h"]
        {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_read_as_they_show() {
        for ok in ["http://[::1]:8788/hook", "https://[2001:db8::1]", "http://h/caf\u{e9}"] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://x\u{202e}",
            "http://x/\u{202e}moc.live",
            "http://a\u{200b}b.example",
            "https://\u{feff}h",
            "http://[::1",
            "http://[::1]x",
            "http://[]:80",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn capabilities_are_capped_in_depth_and_keys() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        assert!(check_capabilities(&obj(json!({"a": {"b": [1, {"c": 2}]}}))).is_ok());
        let mut deep = json!(1);
        for _ in 0..CAPABILITIES_MAX_DEPTH {
            deep = json!({ "k": deep });
        }
        assert!(check_capabilities(&obj(deep.clone())).is_ok(), "exactly the maximum depth");
        assert!(check_capabilities(&obj(json!({ "k": deep }))).is_err());
        let wide: Map<String, Value> = (0..=CAPABILITIES_MAX_KEYS).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(check_capabilities(&wide).is_err());
    }
}
