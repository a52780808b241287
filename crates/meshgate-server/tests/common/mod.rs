//! A real gateway on 127.0.0.1:0 over a temp SQLite file.

#![allow(dead_code)]

use std::sync::Arc;

use meshgate_server::{Config, OperatorToken};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const OPERATOR: &str = "operator-test-token-0123456789";

pub struct Gateway {
    pub url: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    pub async fn start() -> Gateway {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("meshgate.db"), SqliteOptions::default()).unwrap();
        let mut config = Config::new(OperatorToken::new(OPERATOR));
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            meshgate_server::serve(listener, Arc::new(store), config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Gateway { url, http: reqwest::Client::new(), _dir: dir, stop: Some(stop), task: Some(task) }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Sends a request with `token` (None: no Authorization header).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(OPERATOR), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(OPERATOR), Some(body)).await
    }

    /// Registers `name` with the operator token; returns its peer token.
    pub async fn register(&self, name: &str) -> String {
        let (s, v) = self.post("/peers/register", json!({"name": name, "url": "http://x.invalid:1"})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["peer_token"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn send(&self, from: &str, to: &str, content: &str) -> (StatusCode, Value) {
        self.post("/messages", json!({"from_node": from, "to_node": to, "kind": "fyi", "content": content})).await
    }

    pub async fn inbox(&self, name: &str) -> Vec<Value> {
        let (s, v) = self.get(&format!("/messages?to={name}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["messages"].as_array().unwrap().clone()
    }
}
