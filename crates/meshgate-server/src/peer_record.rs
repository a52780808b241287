//! Bounds of a peer record: what a registration may make the gateway keep
//! and hand to every reader of `GET /peers`.
//!
//! A peer record is read by every other agent (and shown in consoles), so
//! its free-form parts are capped and its `url` must be a web address, not
//! a `javascript:` or `file:` link a console might render as clickable.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Longest `url`, in characters.
pub const URL_MAX_CHARS: usize = 2048;
/// Largest `capabilities`, as compact JSON, in bytes.
pub const CAPABILITIES_MAX_BYTES: usize = 16 * 1024;
/// Deepest nesting of objects and arrays in `capabilities` (the top-level
/// object is depth 1).
pub const CAPABILITIES_MAX_DEPTH: usize = 8;
/// Most object keys in `capabilities`, at every level together.
pub const CAPABILITIES_MAX_KEYS: usize = 256;

/// Refuses a `url` that is not an absolute `http`/`https` address with a
/// host, or that holds whitespace or control characters.
pub fn check_url(url: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::invalid("invalid_url", format!("field \"url\" {why}"));
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

/// Refuses `capabilities` larger, deeper or with more keys than the caps.
pub fn check_capabilities(caps: &Map<String, Value>) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec(caps).map(|v| v.len()).unwrap_or(usize::MAX);
    if bytes > CAPABILITIES_MAX_BYTES {
        return Err(ApiError::invalid(
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
        return Err(ApiError::invalid(
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
