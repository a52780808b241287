//! HTTP resources; each module owns its routes.

pub mod aliases;
mod credentials;
pub mod health;
pub mod loops;
pub mod messages;
pub mod openapi;
pub mod peers;
pub mod receipts;
pub mod search;
pub mod threads;

use meshgate_store::Store;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Parses a numeric path id (422 otherwise, as the reference answers).
pub(crate) fn parse_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid("invalid_id", format!("message id {raw:?} is not a positive integer")))
}

/// Close names for a misaddressed `name`: enabled peers whose name or alias
/// is close, by [`meshgate_proto::suggestions`] (the client's rule too).
pub(crate) async fn suggestions(state: &AppState, name: &str) -> ApiResult<Vec<String>> {
    let store: &dyn Store = state.store();
    let aliases = store.aliases().await?;
    let peers = store.list_peers().await?;
    Ok(meshgate_proto::suggestions(
        name,
        peers.iter().filter(|p| p.enabled).map(|p| p.name.as_str()),
        aliases.iter().map(|a| (a.alias.as_str(), a.canonical.as_str())),
    ))
}
