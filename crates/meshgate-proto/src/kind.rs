use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of a direct message; the five the gateway accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// For your information; no answer expected.
    Fyi,
    /// A question that expects an answer.
    Question,
    /// An answer to a question.
    Answer,
    /// A status report.
    Status,
    /// Unblocks work the recipient is waiting on.
    Unblock,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 5] = [Kind::Fyi, Kind::Question, Kind::Answer, Kind::Status, Kind::Unblock];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Fyi => "fyi",
            Kind::Question => "question",
            Kind::Answer => "answer",
            Kind::Status => "status",
            Kind::Unblock => "unblock",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the five kinds (matching is exact: `FYI` and
/// `fyi ` are refused, as the reference gateway refuses them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?}: expected one of fyi, question, answer, status, unblock")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_exact() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        for bad in ["FYI", "fyi ", "", "review_request"] {
            assert!(bad.parse::<Kind>().is_err(), "{bad:?}");
        }
    }
}
