//! `/openapi.json`: the API description, generated from the route list
//! ([`crate::routes::all`]): the handlers' annotations and the wire types.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::endpoint::Endpoints;

#[derive(OpenApi)]
#[openapi(
    info(title = "meshgate", description = "Mesh gateway: peers register and exchange typed direct messages."),
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

/// Routes of this resource.
pub fn routes() -> Endpoints {
    Endpoints::new().add(__path_document, document)
}

/// The OpenAPI document: every path of [`crate::routes::all`].
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let (paths, schemas) = crate::routes::all().paths();
    doc.paths = paths;
    doc.components.get_or_insert_with(Default::default).schemas.extend(schemas);
    doc
}

/// `GET /openapi.json` (no auth).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(),
    responses((status = 200, description = "this document"))
)]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}
