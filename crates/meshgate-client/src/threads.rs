//! Threads: minting, listing and reading a conversation.

//! [`Client`]: one peer's connection to one gateway.

use meshgate_proto::{NewThread, Thread, ThreadList, ThreadMessages, ThreadPageQuery};

use crate::{Client, Result};

impl Client {
    // ---- threads ------------------------------------------------------

    /// `POST /threads`: the UUID for `name`, minted on first use.
    pub async fn mint_thread(&self, name: &str) -> Result<Thread> {
        self.post_thread(name, None).await
    }

    /// `POST /threads` recording the agent session that minted or last
    /// re-minted `name` (shown in `GET /threads`).
    pub async fn mint_thread_in_session(&self, name: &str, session_id: &str) -> Result<Thread> {
        self.post_thread(name, Some(session_id)).await
    }

    async fn post_thread(&self, name: &str, session_id: Option<&str>) -> Result<Thread> {
        let body = NewThread { thread_name: name.to_owned(), session_id: session_id.map(str::to_owned) };
        self.post(&["threads"], &body).await
    }

    /// `GET /threads`, most recently used first.
    pub async fn threads(&self) -> Result<Vec<Thread>> {
        Ok(self.get::<ThreadList>(&["threads"], &[]).await?.threads)
    }

    /// `GET /threads/{thread_id}`: metadata and every message the caller
    /// may read, oldest first, following the gateway's pages
    /// ([`Client::thread_page`]) to the end.
    pub async fn thread(&self, thread_id: &str) -> Result<ThreadMessages> {
        let mut whole = self.thread_page(thread_id, None).await?;
        while whole.truncated {
            let Some(last) = whole.messages.last().map(|m| m.id) else { break };
            let next = self.thread_page(thread_id, Some(last)).await?;
            // A gateway that does not move on ends the walk.
            whole.truncated = next.truncated && next.messages.last().is_some_and(|m| m.id > last);
            whole.messages.extend(next.messages.into_iter().filter(|m| m.id > last));
        }
        Ok(whole)
    }

    /// One page of `GET /threads/{thread_id}`: up to 1000 messages (fewer
    /// where the gateway's page byte budget ends first) after `after_id`,
    /// oldest first; `truncated` says more follow.
    pub async fn thread_page(&self, thread_id: &str, after_id: Option<i64>) -> Result<ThreadMessages> {
        self.thread_page_of(thread_id, after_id, 1000).await
    }

    /// [`Client::thread_page`] of at most `limit` messages (the gateway
    /// takes 1 to 1000).
    pub async fn thread_page_of(&self, thread_id: &str, after_id: Option<i64>, limit: u32) -> Result<ThreadMessages> {
        let query = ThreadPageQuery { limit: Some(limit), after_id };
        self.get(&["threads", thread_id], &query.pairs()).await
    }
}
