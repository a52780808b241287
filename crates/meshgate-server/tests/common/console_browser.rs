//! The console tests' browser: real HTTP with one session cookie, no
//! redirects followed, every answer kept (to check no token ever appears).

#![allow(dead_code)]

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::Gateway;

/// A browser: no redirects followed, one session cookie, every answer kept
/// so a test can check that no token ever appears in one.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    pub seen: std::sync::Mutex<Vec<String>>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new(gw: &Gateway) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, base: gw.url.clone(), cookie: None, seen: Default::default() }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", format!("meshgate_session={c}")),
            None => req,
        };
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = resp.text().await.unwrap();
        let mut seen = self.seen.lock().unwrap();
        seen.push(body.clone());
        for v in headers.get_all(SET_COOKIE) {
            seen.push(v.to_str().unwrap().to_owned());
        }
        Answer { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.post_with(path, &[], form).await
    }

    /// A form POST with extra request `headers`.
    pub async fn post_with(&self, path: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Answer {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// Logs in with `token`; keeps the cookie on success.
    pub async fn login(&mut self, token: &str) -> Answer {
        let a = self.post("/ui/login", &[("token", token)]).await;
        if let Some(c) = session_cookie(&a.headers) {
            self.cookie = Some(c);
        }
        a
    }

    /// The CSRF token of the logout form on the overview.
    pub async fn csrf(&self) -> String {
        let a = self.get("/ui").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        attr_after(&a.body, "name=\"csrf\" value=\"").expect("a CSRF field on the page")
    }

    /// Whether any answer so far contained `secret`.
    pub fn ever_showed(&self, secret: &str) -> bool {
        self.seen.lock().unwrap().iter().any(|b| b.contains(secret))
    }
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(SET_COOKIE)?.to_str().ok()?;
    let value = v.split(';').next()?.strip_prefix("meshgate_session=")?;
    Some(value.to_owned()).filter(|v| !v.is_empty())
}

pub fn attr_after(body: &str, prefix: &str) -> Option<String> {
    let start = body.find(prefix)? + prefix.len();
    Some(body[start..].split('"').next()?.to_owned())
}

pub fn redirects_to_login(a: &Answer) -> bool {
    a.status == StatusCode::SEE_OTHER && a.headers.get(LOCATION).is_some_and(|l| l == "/ui/login")
}

pub async fn dm(gw: &Gateway, token: &str, to: &str, content: &str, thread: Option<&str>) -> i64 {
    let body = json!({"to_node": to, "kind": "fyi", "content": content, "thread_id": thread});
    let (s, v) = gw.call(Method::POST, "/messages", Some(token), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["id"].as_i64().unwrap()
}

/// Opens `/ui/events?QUERY` with session `cookie` (owns its arguments so a
/// task can run it).
pub async fn open_events(gw_url: String, cookie: String, query: String) -> reqwest::Response {
    let resp = reqwest::Client::new()
        .get(format!("{gw_url}/ui/events?{query}"))
        .header("cookie", format!("meshgate_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp
}

/// Reads `/ui/events` with `cookie` until event `until` arrives; returns
/// every id seen.
pub async fn event_ids(gw_url: &str, cookie: &str, after: i64, until: i64) -> Vec<i64> {
    let resp = open_events(gw_url.to_owned(), cookie.to_owned(), format!("after={after}")).await;
    let mut body = resp.bytes_stream();
    let mut ids = Vec::new();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                if let Some(id) = event.lines().find_map(|l| l.strip_prefix("id: ")) {
                    ids.push(id.parse::<i64>().unwrap());
                }
            }
            if ids.contains(&until) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("the awaited event arrives");
    ids
}

/// The text of cell `testid` in the overview row of `peer`.
pub fn cell(page: &str, peer: &str, testid: &str) -> String {
    let row = &page[page.find(&format!(r#"data-peer="{peer}""#)).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let at = row.find(&format!(r#"data-testid="{testid}">"#)).unwrap();
    let text = &row[at..];
    let text = &text[text.find('>').unwrap() + 1..text.find("</td>").unwrap()];
    // Drop an inner span, if any.
    let mut out = String::new();
    let mut tag = false;
    for c in text.chars() {
        match c {
            '<' => tag = true,
            '>' => tag = false,
            c if !tag => out.push(c),
            _ => {}
        }
    }
    out
}
