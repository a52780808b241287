//! Reading a JSON object body field by field, and the refusals that go with
//! it: one wording of "missing", "mistyped", "empty", "too long" for every
//! body the gateway takes (its routes read theirs through [`Fields`]; the
//! `POST /messages` body is [`SendRequest::read`](crate::SendRequest::read)).

use serde_json::{Map, Value};

/// Most characters of a caller-supplied value quoted in an error detail.
pub const SHOWN_MAX: usize = 64;

/// How the gateway answers a [`BodyError`] (its HTTP status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyErrorKind {
    /// 422: a field is missing, mistyped, out of its limits or malformed.
    Invalid,
    /// 400: a well-formed body asking for what the gateway does not do
    /// (a channel post, an unknown kind).
    BadRequest,
    /// 403: the body names a sender the request's token may not act as.
    Forbidden,
}

/// Why a body was refused: a stable `error` code and the human `detail`
/// (see [`ErrorBody`](crate::ErrorBody)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct BodyError {
    /// The answer's status class.
    pub kind: BodyErrorKind,
    /// Stable machine code, e.g. `invalid_field`.
    pub code: &'static str,
    /// Human detail; quotes a caller's value only through [`shown`].
    pub detail: String,
}

impl BodyError {
    /// A 422 refusal.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        BodyError { kind: BodyErrorKind::Invalid, code, detail: detail.into() }
    }

    /// A 400 refusal.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        BodyError { kind: BodyErrorKind::BadRequest, code, detail: detail.into() }
    }

    /// A 403 refusal.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        BodyError { kind: BodyErrorKind::Forbidden, code, detail: detail.into() }
    }

    /// 422 `missing_field`: a required `field` is absent or null.
    pub fn missing(field: &str) -> Self {
        Self::invalid("missing_field", format!("field {field:?} is required"))
    }

    /// 422 `invalid_field`: `field` holds `got` where `expected` belongs.
    pub fn mistyped(field: &str, expected: &str, got: &Value) -> Self {
        Self::invalid("invalid_field", format!("field {field:?} must be {expected}, not {}", type_name(got)))
    }
}

/// A caller-supplied value as quoted in a detail: Debug-quoted, cut to
/// [`SHOWN_MAX`] characters (then `…`).
pub fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_MAX) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
    }
}

/// JSON type name for error details (never the value itself).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The fields of a JSON object body, read one at a time. An absent field
/// and a `null` one are the same ("not given"); unknown fields are never
/// looked at.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// The raw value of `field`, `None` when absent or null.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    /// A required string field of `min..=max` characters.
    pub fn string(&self, field: &str, min: usize, max: usize) -> Result<&'a str, BodyError> {
        self.opt_string(field, min, max)?.ok_or_else(|| BodyError::missing(field))
    }

    /// An optional string field of `min..=max` characters. A NUL character
    /// is refused in every field but `content`: PostgreSQL's `text` cannot
    /// hold it (only `content` is stored as bytes), so it is refused here,
    /// on every backend alike, instead of failing in the store. An over-long
    /// `content` is `content_too_long`, any other field `invalid_field`.
    pub fn opt_string(&self, field: &str, min: usize, max: usize) -> Result<Option<&'a str>, BodyError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if field != "content" && s.contains('\0') {
                    Err(BodyError::invalid(
                        "invalid_field",
                        format!("field {field:?} must not contain the NUL character"),
                    ))
                } else if n < min {
                    Err(BodyError::invalid("invalid_field", format!("field {field:?} must not be empty")))
                } else if n > max {
                    Err(BodyError::invalid(
                        if field == "content" { "content_too_long" } else { "invalid_field" },
                        format!("field {field:?} has {n} characters; at most {max} are allowed"),
                    ))
                } else {
                    Ok(Some(s))
                }
            }
            Some(other) => Err(BodyError::mistyped(field, "a string", other)),
        }
    }

    /// An optional boolean field.
    pub fn opt_bool(&self, field: &str) -> Result<Option<bool>, BodyError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(BodyError::mistyped(field, "a boolean", other)),
        }
    }

    /// An optional JSON object field.
    pub fn opt_object(&self, field: &str) -> Result<Option<&'a Map<String, Value>>, BodyError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(BodyError::mistyped(field, "an object", other)),
        }
    }

    /// An optional string (of 1..=`max` characters) or integer field,
    /// rendered as a string.
    pub fn opt_string_or_int(&self, field: &str, max: usize) -> Result<Option<String>, BodyError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
            Some(Value::String(_)) => Ok(self.opt_string(field, 1, max)?.map(str::to_owned)),
            Some(other) => Err(BodyError::mistyped(field, "a string or an integer", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shown_cuts_long_values() {
        assert_eq!(shown("ab\"c"), r#""ab\"c""#);
        assert_eq!(shown(&"é".repeat(65)), format!("{:?}…", "é".repeat(64)));
        assert_eq!(shown(&"x".repeat(64)), format!("{:?}", "x".repeat(64)));
    }

    #[test]
    fn null_is_absent_and_types_are_named() {
        let body = json!({"a": null, "b": 5, "c": "x\u{0}", "content": "x\u{0}"});
        let f = Fields(body.as_object().unwrap());
        assert_eq!(f.opt_string("a", 1, 9), Ok(None));
        assert_eq!(f.string("a", 1, 9).unwrap_err().code, "missing_field");
        assert_eq!(f.opt_bool("b").unwrap_err().detail, "field \"b\" must be a boolean, not a number");
        assert_eq!(f.opt_string("c", 1, 9).unwrap_err().detail, "field \"c\" must not contain the NUL character");
        assert_eq!(f.opt_string("content", 1, 9), Ok(Some("x\u{0}")));
        assert_eq!(f.opt_string("content", 1, 1).unwrap_err().code, "content_too_long");
        assert_eq!(f.opt_string_or_int("b", 9), Ok(Some("5".to_owned())));
    }
}
