//! HTTP resources; each module owns its routes.

pub mod aliases;
mod credentials;
pub mod endpoint;
pub mod health;
pub mod loops;
pub mod messages;
pub mod openapi;
pub mod peers;
pub mod receipts;
pub mod search;
pub mod threads;

use meshgate_store::Store;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::routes::endpoint::Endpoints;
use crate::state::AppState;

/// Every endpoint of the gateway: the one list the router, `/openapi.json`
/// and the metrics `route` labels are derived from. A new resource adds
/// one line here.
pub fn all() -> Endpoints {
    Endpoints::new()
        .merge(health::routes())
        .merge(peers::routes())
        .merge(messages::routes())
        .merge(receipts::routes())
        .merge(search::routes())
        .merge(threads::routes())
        .merge(aliases::routes())
        .merge(loops::routes())
        .merge(openapi::routes())
        .merge(crate::metrics::routes())
        .merge(crate::mcp::routes())
}

/// Parses a numeric path id (422 otherwise, as the reference answers).
pub(crate) fn parse_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid("invalid_id", format!("message id {raw:?} is not a positive integer")))
}

/// Validates a peer name given in a path or body.
pub(crate) fn check_name(name: &str) -> ApiResult<()> {
    Ok(meshgate_proto::validate_peer_name(name).map_err(meshgate_proto::BodyError::from)?)
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

/// The peer a name filter (`to`, `from`, `peer`) means: an alias resolves
/// to its peer, as a send's recipient does; any other name is taken as
/// given (a peer, or a deleted or never registered name whose DMs stay
/// findable: a read names no recipient to refuse). The caller's own name
/// needs no lookup.
pub(crate) async fn filter_name(state: &AppState, auth: &Auth, name: Option<String>) -> ApiResult<Option<String>> {
    match name {
        Some(n) if !n.is_empty() && auth.peer() != Some(n.as_str()) => {
            Ok(Some(match state.store().resolve_name(&n).await? {
                Some(r) if r.via_alias => r.canonical,
                _ => n,
            }))
        }
        other => Ok(other),
    }
}
