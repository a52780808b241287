//! The one wrapper around every route of the API: the request id and its
//! log span ([`crate::request_id`]) and, with metrics on, the request's
//! count and latency ([`crate::metrics`]).
//!
//! A hand-written tower layer rather than `axum::middleware::from_fn`
//! layers, since it is on every request's path: each `from_fn` layer boxes
//! a clone of the route service and the request's future per request. This
//! one calls the route in place (axum routes are always ready) and wraps
//! its future without an allocation.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service};
use tracing::instrument::Instrumented;
use tracing::Instrument;

use crate::metrics::{Metrics, Observation};
use crate::request_id::Assigned;

/// Layer of [`Around`].
#[derive(Clone)]
pub(crate) struct AroundLayer {
    metrics: Option<Arc<Metrics>>,
}

impl AroundLayer {
    /// The request id always; counts and latency when `metrics` is set.
    pub(crate) fn new(metrics: Option<Arc<Metrics>>) -> Self {
        AroundLayer { metrics }
    }
}

impl<S> Layer<S> for AroundLayer {
    type Service = Around<S>;

    fn layer(&self, inner: S) -> Around<S> {
        Around { inner, metrics: self.metrics.clone() }
    }
}

/// A route wrapped by [`AroundLayer`].
#[derive(Clone)]
pub(crate) struct Around<S> {
    inner: S,
    metrics: Option<Arc<Metrics>>,
}

impl<S> Service<Request> for Around<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let observed = self.metrics.as_ref().map(|m| (Arc::clone(m), Observation::start(&req)));
        let assigned = Assigned::new(&req);
        let inner = self.inner.call(req).instrument(assigned.span().clone());
        AroundFuture { inner, done: Some((assigned, observed)) }
    }
}

pin_project_lite::pin_project! {
    /// The route's future, then the response's request id and metrics.
    pub(crate) struct AroundFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        done: Option<(Assigned, Option<(Arc<Metrics>, Observation)>)>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for AroundFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        let (assigned, observed) = this.done.take().expect("polled after completion");
        assigned.answered(&mut response);
        if let Some((metrics, observation)) = observed {
            metrics.finish(observation, &response);
        }
        Poll::Ready(Ok(response))
    }
}
