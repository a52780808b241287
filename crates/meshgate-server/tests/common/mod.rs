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
    /// The store the gateway serves.
    pub store: Arc<dyn meshgate_store::Store>,
    _dir: Box<dyn std::any::Any + Send>,
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
        Self::start_on(Arc::new(store), Box::new(dir), tweak).await
    }

    /// A gateway over `store`; `guard` (a temp dir, a database) lives as
    /// long as the gateway.
    pub async fn start_on(
        store: Arc<dyn meshgate_store::Store>,
        guard: Box<dyn std::any::Any + Send>,
        tweak: impl FnOnce(&mut Config),
    ) -> Gateway {
        let dir = guard;
        let mut config = Config::new(OperatorToken::new(OPERATOR));
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = Arc::clone(&store);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            meshgate_server::serve(listener, store, config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Gateway { url, http: reqwest::Client::new(), store: handle, _dir: dir, stop: Some(stop), task: Some(task) }
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

// ---------------------------------------------------------------- backends

/// The store a test gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL from `MESHGATE_TEST_PG_URL`. Panics when that
/// is unset unless `MESHGATE_SKIP_PG=1`: a silently skipped backend would
/// look green.
pub fn backends() -> Vec<Backend> {
    match pg_base_url() {
        Some(_) => vec![Backend::Sqlite, Backend::Postgres],
        None => vec![Backend::Sqlite],
    }
}

fn pg_base_url() -> Option<String> {
    match std::env::var("MESHGATE_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ if std::env::var("MESHGATE_SKIP_PG").as_deref() == Ok("1") => None,
        _ => panic!(
            "MESHGATE_TEST_PG_URL is not set: `export MESHGATE_TEST_PG_URL=\"$(scripts/pg.sh start)\"` \
             (or MESHGATE_SKIP_PG=1 to run on SQLite only)"
        ),
    }
}

/// A fresh PostgreSQL database, dropped with this value.
struct PgDb {
    base: String,
    name: String,
}

async fn pg_admin(base: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let c = pg_admin(&base).await;
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            });
        })
        .join();
    }
}

impl Gateway {
    /// A gateway on a fresh, empty store of `backend`.
    pub async fn start_backend(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Gateway {
        match backend {
            Backend::Sqlite => Self::start_with(tweak).await,
            Backend::Postgres => {
                let base = pg_base_url().expect("PostgreSQL configured");
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                pg_admin(&base).await.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
                let (scheme, rest) = base.split_once("://").unwrap();
                let authority = rest.split('/').next().unwrap();
                let url = format!("{scheme}://{authority}/{name}");
                let db = PgDb { base, name };
                let store = meshgate_store_postgres::PgStore::connect(&url, Default::default()).await.unwrap();
                Self::start_on(Arc::new(store), Box::new(db), tweak).await
            }
        }
    }
}
