//! Threads: minting, listing and reading a conversation.

//! [`Client`]: one peer's connection to one gateway.

use meshgate_proto::{NewThread, Thread, ThreadList, ThreadMessages};

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

    /// `GET /threads/{thread_id}`: metadata and messages, oldest first.
    pub async fn thread(&self, thread_id: &str) -> Result<ThreadMessages> {
        self.get(&["threads", thread_id], &[]).await
    }
}
