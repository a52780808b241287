//! The stylesheet, script and icon, embedded in the binary and served under a
//! URL carrying their content hash, so browsers may cache them for a year
//! and still get a new version the moment it changes.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use meshgate_store::TokenHash;

use crate::error::ApiError;

/// (file name, content type, bytes).
const FILES: &[(&str, &str, &str)] = &[
    ("style.css", "text/css; charset=utf-8", include_str!("assets/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("assets/app.js")),
    ("icon.svg", "image/svg+xml", include_str!("assets/icon.svg")),
];

/// First 16 hex digits of the SHA-256 of every asset together.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let all: String = FILES.iter().map(|(_, _, body)| *body).collect();
    TokenHash::of(&all).0.iter().take(8).map(|b| format!("{b:02x}")).collect()
});

/// The URL of asset `file`.
pub(crate) fn url(file: &str) -> String {
    format!("/ui/assets/{}/{file}", *VERSION)
}

/// `GET /ui/assets/{version}/{file}`: an asset of this build (another
/// build's version is 404: its content is not here).
pub(crate) async fn serve(Path((version, file)): Path<(String, String)>) -> Response {
    let found = FILES.iter().find(|(name, _, _)| *name == file).filter(|_| version == *VERSION);
    let Some((_, content_type, body)) = found else {
        return super::layout::error_page(None, &ApiError::not_found("no_asset", "no such asset in this build"));
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        *body,
    )
        .into_response()
}
