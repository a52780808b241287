//! `/ui/threads/{uuid}`: a thread's DMs, oldest first (those the session may see).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use meshgate_proto::ThreadMessages;

use super::super::api::enc;
use super::super::layout::{dm_list, respond, shell};
use super::super::{SignedIn, Ui};

/// DMs of a thread shown (the API's most).
const THREAD_MAX: u32 = 1000;

/// `GET /ui/threads/{uuid}`.
pub(crate) async fn page(
    console: Ui,
    SignedIn(session): SignedIn,
    Path(uuid): Path<String>,
) -> Result<Response, Response> {
    // A UUID is case-blind; threads are stored lower-case (the API's form).
    let uri = format!("/threads/{}?limit={THREAD_MAX}", enc(&uuid.to_ascii_lowercase()));
    let t = console.read::<ThreadMessages>(&session, &uri).await?;
    let main = html! {
        h1 { "Thread " (t.thread.thread_name) }
        p.note { "Oldest first. " code { (t.thread.thread_uuid) } }
        (dm_list(&t.messages, "dm-list"))
    };
    Ok(respond(StatusCode::OK, shell("Thread", Some(&session), main)))
}
