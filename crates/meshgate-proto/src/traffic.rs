//! Traffic control shapes: the conversation-loop breaker's pairs.

use serde::{Deserialize, Serialize};

/// A pair of peers whose DMs the loop breaker refuses now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoopPair {
    /// One peer (the smaller name).
    pub a: String,
    /// The other peer.
    pub b: String,
    /// DMs between them within the window.
    pub count: u32,
    /// Seconds until the oldest of them leaves the window (and one DM may go).
    pub retry_after: u64,
}

/// `GET /loops`: the tripped pairs and the limit in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoopList {
    /// DMs allowed per pair within the window; `null` when the breaker is off.
    pub count: Option<u32>,
    /// The window in seconds; `null` when the breaker is off.
    pub window_secs: Option<u64>,
    /// Pairs refused now, by name.
    pub tripped: Vec<LoopPair>,
}

/// `DELETE /loops/{a}/{b}`: whether the pair was refusing DMs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoopReset {
    /// One peer.
    pub a: String,
    /// The other peer.
    pub b: String,
    /// True if the pair was refusing DMs before the reset.
    pub was_tripped: bool,
}
