//! The `POST /messages/read` body: its limit and the gateway's reading of
//! it ([`MarkReadBulk::read`]).

use serde_json::{Map, Value};

use crate::body::BodyError;
use crate::MarkReadBulk;

/// Most ids one `POST /messages/read` may mark.
pub const MARK_READ_IDS_MAX: usize = 1000;

impl MarkReadBulk {
    /// Reads a `POST /messages/read` body as the gateway does: `ids`, an
    /// array of at most [`MARK_READ_IDS_MAX`] integers (`null` is no array,
    /// unlike in other bodies, where it is an absent field). Unknown fields
    /// are ignored.
    pub fn read(body: &Map<String, Value>) -> Result<MarkReadBulk, BodyError> {
        let ids = match body.get("ids") {
            Some(Value::Array(items)) if items.len() <= MARK_READ_IDS_MAX => items
                .iter()
                .map(|v| v.as_i64().ok_or_else(|| BodyError::invalid("invalid_field", "ids must be integers")))
                .collect::<Result<_, _>>()?,
            Some(Value::Array(_)) => {
                return Err(BodyError::invalid("invalid_field", format!("at most {MARK_READ_IDS_MAX} ids per request")))
            }
            Some(_) => return Err(BodyError::invalid("invalid_field", "field \"ids\" must be an array of integers")),
            None => return Err(BodyError::missing("ids")),
        };
        Ok(MarkReadBulk { ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<MarkReadBulk, BodyError> {
        MarkReadBulk::read(v.as_object().unwrap())
    }

    #[test]
    fn a_written_body_reads_back_and_the_limit_holds() {
        let full = MarkReadBulk { ids: (1..=MARK_READ_IDS_MAX as i64).collect() };
        assert_eq!(read(serde_json::to_value(&full).unwrap()), Ok(full));
        assert_eq!(read(json!({"ids": []})), Ok(MarkReadBulk { ids: vec![] }));
        let over = read(json!({"ids": vec![1; MARK_READ_IDS_MAX + 1]})).unwrap_err();
        assert_eq!(over.detail, format!("at most {MARK_READ_IDS_MAX} ids per request"));
        assert_eq!(read(json!({"ids": null})).unwrap_err().detail, "field \"ids\" must be an array of integers");
        assert_eq!(read(json!({})).unwrap_err().code, "missing_field");
    }
}
