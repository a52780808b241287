//! The one route list. Each resource module lists its endpoints as
//! (annotation, handler) pairs in an [`Endpoints`]; the router, the OpenAPI
//! paths and the metrics `route` labels are all derived from
//! [`super::all`], so a route cannot be served without being documented
//! and counted. Path and methods come from the handler's
//! `#[utoipa::path]`, never restated.

use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use utoipa::openapi::path::{HttpMethod, Operation, Paths};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

use crate::state::AppState;

type Schemas = Vec<(String, RefOr<Schema>)>;

/// One documented operation, and the handler serving it (none for a route
/// served outside the API router, as `/mcp`).
struct Endpoint {
    path: String,
    methods: Vec<HttpMethod>,
    operation: fn() -> Operation,
    tags: fn() -> Vec<&'static str>,
    schemas: fn(&mut Schemas),
    handler: Option<MethodRouter<AppState>>,
}

/// A list of endpoints (one resource's, or the whole API's).
#[derive(Default)]
pub struct Endpoints(Vec<Endpoint>);

/// The `#[utoipa::path]` of a handler: the `__path_<handler>` value the
/// attribute generates. (`__dev` is utoipa's hidden API that its own
/// `#[openapi(paths(..))]` expands to; utoipa is pinned by Cargo.lock.)
pub trait Documented: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static> {}
impl<P: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static>> Documented for P {}

impl Endpoints {
    /// No endpoints.
    pub fn new() -> Endpoints {
        Endpoints::default()
    }

    /// `handler` at the path and methods of its annotation `_doc`.
    pub fn add<D: Documented, H: Handler<T, AppState>, T: 'static>(self, _doc: D, handler: H) -> Endpoints {
        let methods = D::methods();
        let router = methods.iter().fold(MethodRouter::new(), |r, m| r.on(filter(m), handler.clone()));
        self.push::<D>(methods, Some(router))
    }

    /// A route documented and counted here but served by its own router
    /// (`/mcp`, which sits on top of the API router).
    pub fn served_elsewhere<D: Documented>(self, _doc: D) -> Endpoints {
        self.push::<D>(D::methods(), None)
    }

    fn push<D: Documented>(mut self, methods: Vec<HttpMethod>, handler: Option<MethodRouter<AppState>>) -> Endpoints {
        self.0.push(Endpoint {
            path: D::path(),
            methods,
            operation: D::operation,
            tags: D::tags,
            schemas: D::schemas,
            handler,
        });
        self
    }

    /// These endpoints and `other`'s.
    pub fn merge(mut self, other: Endpoints) -> Endpoints {
        self.0.extend(other.0);
        self
    }

    /// The router serving every endpoint that has a handler here.
    pub fn router(self) -> Router<AppState> {
        self.0.into_iter().fold(Router::new(), |router, e| match e.handler {
            Some(h) => router.route(&e.path, h),
            None => router,
        })
    }

    /// The OpenAPI paths, and the schemas their bodies refer to.
    pub fn paths(&self) -> (Paths, Schemas) {
        let (mut paths, mut schemas) = (Paths::new(), Schemas::new());
        for e in &self.0 {
            let mut operation = (e.operation)();
            operation.tags.get_or_insert_with(Vec::new).extend((e.tags)().into_iter().map(str::to_owned));
            paths.add_path_operation(&e.path, e.methods.clone(), operation);
            (e.schemas)(&mut schemas);
        }
        (paths, schemas)
    }

    /// Every path template, once each (the metrics `route` labels).
    pub fn templates(&self) -> Vec<String> {
        let mut out: Vec<String> = self.0.iter().map(|e| e.path.clone()).collect();
        out.sort();
        out.dedup();
        out
    }
}

fn filter(m: &HttpMethod) -> MethodFilter {
    match m {
        HttpMethod::Get => MethodFilter::GET,
        HttpMethod::Post => MethodFilter::POST,
        HttpMethod::Put => MethodFilter::PUT,
        HttpMethod::Delete => MethodFilter::DELETE,
        HttpMethod::Patch => MethodFilter::PATCH,
        HttpMethod::Head => MethodFilter::HEAD,
        HttpMethod::Options => MethodFilter::OPTIONS,
        HttpMethod::Trace => MethodFilter::TRACE,
    }
}

/// Reusable responses, so each annotation states only what is its own.
pub mod responses {
    use meshgate_proto::ErrorBody;

    /// 401: the bearer token is missing, unknown or revoked.
    #[derive(utoipa::IntoResponses)]
    #[response(status = 401, description = "missing, unknown or revoked token")]
    pub struct Unauthorized(pub ErrorBody);

    /// 403 `operator_only`: a per-peer token where the operator's is needed.
    #[derive(utoipa::IntoResponses)]
    #[response(status = 403, description = "operator_only: needs the operator token")]
    pub struct OperatorOnly(pub ErrorBody);

    /// 404 `unknown_peer`: the named peer is not registered.
    #[derive(utoipa::IntoResponses)]
    #[response(status = 404, description = "unknown_peer: no such peer")]
    pub struct UnknownPeer(pub ErrorBody);

    /// 422: a malformed body, parameter or path (the `error` code says which).
    #[derive(utoipa::IntoResponses)]
    #[response(status = 422, description = "malformed input; the error code says what")]
    pub struct Invalid(pub ErrorBody);
}
