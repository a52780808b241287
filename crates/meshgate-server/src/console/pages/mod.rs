//! One module per console page.

pub(crate) mod login;
pub(crate) mod message;
pub(crate) mod overview;
pub(crate) mod peer;
pub(crate) mod thread;
