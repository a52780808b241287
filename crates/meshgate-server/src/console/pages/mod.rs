//! One module per console page.

pub(crate) mod actions;
pub(crate) mod aliases;
pub(crate) mod compose;
pub(crate) mod login;
pub(crate) mod message;
pub(crate) mod overview;
pub(crate) mod peer;
pub(crate) mod search;
pub(crate) mod thread;
pub(crate) mod tokens;

use crate::error::{shown, ApiError};

/// A page's `after` cursor: a message id, 0 or more ("from the beginning").
pub(crate) fn after_cursor(value: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::bad_request("invalid_parameter", "after must be a message id (0 or more)"))
}

/// A page's parameter given twice: refused, as the API refuses it.
pub(crate) fn given_twice(key: &str) -> ApiError {
    ApiError::bad_request("duplicate_parameter", format!("{} is given more than once; give it once", shown(key)))
}
