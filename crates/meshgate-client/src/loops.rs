//! Operator calls of the conversation-loop breaker: list tripped pairs,
//! reset one (`GET /loops`, `DELETE /loops/{a}/{b}`; operator token).

use meshgate_proto::{LoopList, LoopReset};
use reqwest::Method;

use crate::client::Client;
use crate::Result;

impl Client {
    /// `GET /loops` (operator): the pairs whose DMs the breaker refuses now
    /// on the replica that answers, and the limit in force.
    pub async fn loops(&self) -> Result<LoopList> {
        self.get(&["loops"], &[]).await
    }

    /// `DELETE /loops/{a}/{b}` (operator): lets DMs between `a` and `b`
    /// flow again.
    pub async fn reset_loop(&self, a: &str, b: &str) -> Result<LoopReset> {
        let request = self.authorized(Method::DELETE, &["loops", a, b]);
        self.execute(request, "DELETE /loops/{a}/{b}").await
    }
}
