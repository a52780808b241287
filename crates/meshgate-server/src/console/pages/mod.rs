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
