//! `/openapi.json`: the API description, generated from the handlers'
//! annotations and the wire types.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{aliases, health, loops, messages, peers, receipts, search, threads};
use crate::{live, metrics};

#[derive(OpenApi)]
#[openapi(
    info(title = "meshgate", description = "Mesh gateway: peers register and exchange typed direct messages."),
    paths(
        health::health, health::ready,
        peers::register, peers::list, peers::one, peers::deregister, peers::update, peers::rotate, peers::revoke,
        messages::send, messages::list, messages::mark_read, messages::mark_read_bulk, live::stream,
        threads::mint, threads::list, threads::show,
        aliases::list, aliases::put, aliases::remove,
        loops::list, loops::reset,
        metrics::scrape,
        receipts::status, receipts::obligations,
        search::search,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The OpenAPI document.
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// `GET /openapi.json` (no auth).
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}
