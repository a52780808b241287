//! Privacy is per message: with three peers' tokens, every read route
//! (`GET /threads/{uuid}`, `GET /threads`, `GET /messages?thread_id=`,
//! long-poll, SSE) shows a peer only the DMs it sent or received, and
//! minting a thread name never hands out another peer's thread. Every
//! scenario runs on SQLite and on PostgreSQL.

use crate::common;

use std::time::Duration;

use common::{backends, Gateway, OPERATOR};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Mesh {
    gw: Gateway,
    alice: String,
    bob: String,
    mallory: String,
    carol: String,
}

async fn mesh(gw: Gateway) -> Mesh {
    let alice = gw.register("alice").await;
    let bob = gw.register("bob").await;
    let mallory = gw.register("mallory").await;
    let carol = gw.register("carol").await;
    Mesh { gw, alice, bob, mallory, carol }
}

impl Mesh {
    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.gw.call(method, path, Some(token), body).await
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call(token, Method::GET, path, None).await
    }

    /// Sends a DM with `token` (the sender is the token's peer); returns its id.
    async fn dm(&self, token: &str, to: &str, content: &str, thread: Option<&str>) -> i64 {
        let body = json!({"to_node": to, "kind": "fyi", "content": content, "thread_id": thread});
        let (s, v) = self.call(token, Method::POST, "/messages", Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["id"].as_i64().unwrap()
    }
}

fn ids(v: &Value, key: &str) -> Vec<i64> {
    v[key].as_array().unwrap_or_else(|| panic!("no {key} in {v}")).iter().map(|m| m["id"].as_i64().unwrap()).collect()
}

/// Reads the SSE stream at `url` with `token` until an event with id
/// `until` arrives (`None`: until the first events); returns every event id
/// seen. Owns its arguments so a task can run it.
async fn sse_ids(http: reqwest::Client, url: String, token: String, until: Option<i64>) -> Vec<i64> {
    let resp = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while until.map_or(seen.is_empty(), |id| !seen.contains(&id)) {
        let chunk = tokio::time::timeout_at(deadline, body.next()).await.expect("event within 10 s");
        text.push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if let Some(id) = event.lines().find_map(|l| l.strip_prefix("id:")) {
                seen.push(id.trim().parse().unwrap());
            }
        }
    }
    seen
}

async fn mint(m: &Mesh, token: &str, name: &str, session: Option<&str>) -> Value {
    let (s, v) =
        m.call(token, Method::POST, "/threads", Some(json!({"thread_name": name, "session_id": session}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// The attack of issue #11.1, replayed against every read route.
#[tokio::test]
async fn a_thread_shows_each_peer_only_its_own_dms() {
    for backend in backends() {
        let m = mesh(Gateway::start_backend(backend, |_| {}).await).await;
        let design = mint(&m, &m.alice, "design", Some("s-alice")).await;
        let uuid = design["thread_uuid"].as_str().unwrap().to_owned();
        let secret = m.dm(&m.alice, "bob", "alice to bob: the plan", Some(&uuid)).await;

        // Minting the same name with another token yields another thread
        // and leaves alice's untouched.
        let theirs = mint(&m, &m.mallory, "design", Some("s-evil")).await;
        assert_ne!(theirs["thread_uuid"], design["thread_uuid"], "{backend:?}");
        assert_eq!(theirs["created"], true);
        let (_, seen) = m.gw.get(&format!("/threads/{uuid}")).await;
        assert_eq!(seen["thread"]["session_id"], "s-alice", "{backend:?}: mallory changed alice's thread");

        // Even with the UUID leaked, a DM of her own into the thread shows
        // mallory her own DM and nothing else.
        let hers = m.dm(&m.mallory, "bob", "mallory to bob", Some(&uuid)).await;
        let (s, v) = m.get(&m.mallory, &format!("/threads/{uuid}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(ids(&v, "messages"), [hers], "{backend:?}: GET /threads/{{uuid}}");
        let (_, v) = m.get(&m.mallory, &format!("/messages?thread_id={uuid}")).await;
        assert_eq!(ids(&v, "messages"), [hers], "{backend:?}: GET /messages?thread_id=");
        let (_, v) = m.get(&m.mallory, &format!("/messages?thread_id={uuid}&after_id=0&wait=1")).await;
        assert_eq!(ids(&v, "messages"), [hers], "{backend:?}: long-poll");

        // Alice sees her DM, not mallory's to bob; bob sees both; the
        // operator sees everything.
        let (_, v) = m.get(&m.alice, &format!("/threads/{uuid}")).await;
        assert_eq!(ids(&v, "messages"), [secret], "{backend:?}");
        let (_, v) = m.get(&m.bob, &format!("/threads/{uuid}")).await;
        assert_eq!(ids(&v, "messages"), [secret, hers], "{backend:?}");
        let (_, v) = m.gw.get(&format!("/threads/{uuid}")).await;
        assert_eq!(ids(&v, "messages"), [secret, hers], "{backend:?}");

        // A peer with no DM in the thread learns nothing, not even that it exists.
        let (s, v) = m.get(&m.carol, &format!("/threads/{uuid}")).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_thread")), "{backend:?}");
        let (_, v) = m.get(&m.carol, "/threads").await;
        assert_eq!(v["threads"], json!([]), "{backend:?}");
        let (_, v) = m.get(&m.carol, &format!("/messages?thread_id={uuid}&wait=1")).await;
        assert_eq!(v["messages"], json!([]), "{backend:?}");

        // SSE, replayed from the start and then live: mallory's stream
        // carries only DMs to her.
        let reply = m.dm(&m.bob, "mallory", "bob to mallory", Some(&uuid)).await;
        m.dm(&m.alice, "bob", "alice to bob again", Some(&uuid)).await;
        let stream = |path: String, until: Option<i64>| {
            sse_ids(m.gw.http.clone(), format!("{}{path}", m.gw.url), m.mallory.clone(), until)
        };
        let streamed = stream(format!("/messages/stream?after_id=0&thread_id={uuid}"), Some(reply)).await;
        assert_eq!(streamed, [reply], "{backend:?}: SSE");
        let live = tokio::spawn(stream(format!("/messages/stream?after_id={reply}"), None));
        tokio::time::sleep(Duration::from_millis(200)).await;
        m.dm(&m.alice, "bob", "alice to bob, live", Some(&uuid)).await;
        let last = m.dm(&m.alice, "mallory", "alice to mallory", None).await;
        assert_eq!(live.await.unwrap(), [last], "{backend:?}: live SSE");

        // GET /threads lists, for each peer, only threads it minted or has a DM in.
        let listed = |v: Value| {
            let mut u: Vec<String> =
                v["threads"].as_array().unwrap().iter().map(|t| t["thread_uuid"].as_str().unwrap().into()).collect();
            u.sort();
            u
        };
        let mut want = vec![uuid.clone(), theirs["thread_uuid"].as_str().unwrap().to_owned()];
        want.sort();
        assert_eq!(listed(m.get(&m.mallory, "/threads").await.1), want, "{backend:?}");
        assert_eq!(listed(m.get(&m.alice, "/threads").await.1), [uuid.as_str()], "{backend:?}");
        m.gw.stop().await;
    }
}

/// Thread names are per minter: the same token gets its thread back, the
/// operator has its own shared namespace, and names cannot be UUIDs.
#[tokio::test]
async fn thread_names_are_scoped_per_minter_and_cannot_be_uuids() {
    for backend in backends() {
        let m = mesh(Gateway::start_backend(backend, |_| {}).await).await;
        let first = mint(&m, &m.alice, "lab\u{2194}gpu:phase-7", None).await;
        let again = mint(&m, &m.alice, "lab\u{2194}gpu:phase-7", None).await;
        assert_eq!(
            (again["thread_uuid"].clone(), again["created"].clone()),
            (first["thread_uuid"].clone(), json!(false))
        );
        assert_eq!(first["minted_by"], "alice");
        let (_, op) = m.gw.post("/threads", json!({"thread_name": "lab\u{2194}gpu:phase-7"})).await;
        assert_ne!(op["thread_uuid"], first["thread_uuid"], "{backend:?}");
        assert_eq!(op.get("minted_by"), None, "the operator's namespace has no minter");
        for name in ["5b0c4a1e-1111-4222-8333-444455556666", "5b0c4a1e111142228333444455556666"] {
            let (s, v) = m.call(&m.alice, Method::POST, "/threads", Some(json!({"thread_name": name}))).await;
            assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_thread_name")));
        }
        m.gw.stop().await;
    }
}

/// `lab` -> `lab-ovh` must not let lab-ovh DM itself, with its own token or
/// the operator's.
#[tokio::test]
async fn self_dms_are_refused_after_alias_resolution() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        let ovh = gw.register("lab-ovh").await;
        let (s, v) = gw.post("/aliases", json!({"alias": "lab", "canonical": "lab-ovh"})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let body = json!({"to_node": "lab", "kind": "fyi", "content": "note to self"});
        let (s, v) = gw.call(Method::POST, "/messages", Some(&ovh), Some(body)).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("self_message")), "{backend:?}");
        let (s, v) = gw.send("lab-ovh", "lab", "note to self").await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("self_message")), "{backend:?}");
        assert!(gw.inbox("lab-ovh").await.is_empty(), "{backend:?}: nothing stored");
        gw.stop().await;
    }
}

/// Issue #12.2: after `DELETE /peers/bob`, a fresh `bob` must not inherit
/// old bob's DMs, aliases, idempotency keys or threads unless the operator
/// says so.
#[tokio::test]
async fn a_deleted_peers_history_is_not_inherited_silently() {
    for backend in backends() {
        let m = mesh(Gateway::start_backend(backend, |_| {}).await).await;
        let (s, _) = m.gw.post("/aliases", json!({"alias": "bobby", "canonical": "bob"})).await;
        assert_eq!(s, StatusCode::OK);
        let t = mint(&m, &m.bob, "bob-notes", None).await;
        let old = m.dm(&m.alice, "bob", "for the old bob", t["thread_uuid"].as_str()).await;
        let keyed = json!({"to_node": "alice", "kind": "fyi", "content": "keyed", "idempotency_key": "k1"});
        let (s, _) = m.call(&m.bob, Method::POST, "/messages", Some(keyed)).await;
        assert_eq!(s, StatusCode::OK);

        let (s, _) = m.call(&m.bob, Method::DELETE, "/peers/bob", None).await;
        assert_eq!(s, StatusCode::OK, "a peer deregisters itself");
        let (s, v) = m.gw.post("/peers/register", json!({"name": "bob"})).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("name_retired")), "{backend:?}");
        assert!(v["detail"].as_str().unwrap().contains("adopt_history"), "{v}");
        let (_, v) = m.gw.get("/aliases").await;
        assert_eq!(v["aliases"], json!([]), "{backend:?}: bob's aliases went with him");
        let (s, v) = m.gw.post("/aliases", json!({"alias": "bob", "canonical": "alice"})).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("name_retired")));
        let (s, v) = m
            .call(&m.alice, Method::POST, "/peers/register", Some(json!({"name": "alice", "adopt_history": true})))
            .await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("operator_only")), "{v}");
        let (s, _) = m.call(&m.alice, Method::DELETE, "/peers/bob?purge=true", None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // Adopting is explicit: the new bob reads old bob's DMs.
        let (s, v) = m.gw.post("/peers/register", json!({"name": "bob", "adopt_history": true})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let adopted = v["peer_token"].as_str().unwrap().to_owned();
        let (_, v) = m.get(&adopted, "/messages?to=bob").await;
        assert_eq!(ids(&v, "messages"), [old], "{backend:?}");

        // Purging: the DMs, keys, threads and the retirement go; a fresh
        // bob starts empty.
        let (s, v) = m.call(&adopted, Method::DELETE, "/peers/bob", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = m.gw.call(Method::DELETE, "/peers/bob?purge=true", Some(OPERATOR), None).await;
        assert_eq!((s, &v["status"], &v["messages"]), (StatusCode::OK, &json!("purged"), &json!(2)), "{v}");
        let (s, v) = m.gw.post("/peers/register", json!({"name": "bob"})).await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {v}");
        let fresh = v["peer_token"].as_str().unwrap().to_owned();
        for path in ["/messages", "/messages?to=bob", "/threads"] {
            let (_, v) = m.get(&fresh, path).await;
            let rows = v.get("messages").or(v.get("threads")).unwrap();
            assert_eq!(rows, &json!([]), "{backend:?}: {path}");
        }
        let (s, v) = m.get(&fresh, &format!("/threads/{}", t["thread_uuid"].as_str().unwrap())).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        let keyed = json!({"to_node": "alice", "kind": "fyi", "content": "another body", "idempotency_key": "k1"});
        let (s, v) = m.call(&fresh, Method::POST, "/messages", Some(keyed)).await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: the old key went with its message: {v}");
        let (_, v) = m.gw.get("/peers/bob").await;
        assert_eq!(v["name"], "bob");
        let _ = &m.carol;
        m.gw.stop().await;
    }
}

/// Issue #12.3: one namespace for peers and aliases, refused the same way
/// in both orders.
#[tokio::test]
async fn peers_and_aliases_share_one_namespace() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        gw.register("bob").await;
        gw.register("alice").await;
        let (s, _) = gw.post("/aliases", json!({"alias": "bobby", "canonical": "bob"})).await;
        assert_eq!(s, StatusCode::OK);
        let (s, v) = gw.post("/peers/register", json!({"name": "bobby"})).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("name_taken")), "{backend:?}");
        let (s, v) = gw.post("/aliases", json!({"alias": "alice", "canonical": "bob"})).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("name_taken")), "{backend:?}");
        let (s, _) = gw.get("/peers/bobby").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        gw.stop().await;
    }
}

/// A peer that joins a thread it did not mint (here: by its leaked UUID)
/// learns nothing of the others' activity in it: not the minter's
/// `session_id` (nor finds the thread by it), not when others last wrote
/// there (`last_used_at` and the list order follow its own DMs).
#[tokio::test]
async fn joining_a_thread_shows_nothing_of_the_others_activity() {
    for backend in backends() {
        let m = mesh(Gateway::start_backend(backend, |_| {}).await).await;
        let merger = mint(&m, &m.alice, "alice\u{2194}bob:merger", Some("s-alice-1")).await;
        let uuid = merger["thread_uuid"].as_str().unwrap().to_owned();
        m.dm(&m.alice, "bob", "the plan", Some(&uuid)).await;
        let body = json!({"to_node": "bob", "kind": "fyi", "content": "me too", "thread_id": uuid});
        let (_, sent) = m.call(&m.mallory, Method::POST, "/messages", Some(body)).await;
        let joined_at = sent["created_at"].clone();
        let own = mint(&m, &m.mallory, "mine", None).await;

        // Alice carries on and moves to another session.
        let (_, later) = m
            .call(
                &m.alice,
                Method::POST,
                "/messages",
                Some(json!({"to_node": "bob", "kind": "fyi", "content": "more", "thread_id": uuid})),
            )
            .await;
        mint(&m, &m.alice, "alice\u{2194}bob:merger", Some("s-alice-2")).await;

        let (s, v) = m.get(&m.mallory, &format!("/threads/{uuid}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["thread"]["session_id"], Value::Null, "{backend:?}: {v}");
        assert_eq!(v["thread"]["last_used_at"], joined_at, "{backend:?}: {v}");
        let (_, v) = m.get(&m.mallory, "/threads").await;
        let rows = v["threads"].as_array().unwrap();
        let order: Vec<&str> = rows.iter().map(|t| t["thread_uuid"].as_str().unwrap()).collect();
        assert_eq!(
            order,
            [own["thread_uuid"].as_str().unwrap(), uuid.as_str()],
            "{backend:?}: order follows her own DMs"
        );
        assert_eq!((&rows[1]["session_id"], &rows[1]["last_used_at"]), (&Value::Null, &joined_at), "{backend:?}");
        for session in ["s-alice-1", "s-alice-2"] {
            let (_, v) = m.get(&m.mallory, &format!("/threads?session_id={session}")).await;
            assert_eq!(v["threads"], json!([]), "{backend:?}: found by alice's session id");
        }

        // Bob, a legitimate party who did not mint it, sees his own newest DM.
        let (_, v) = m.get(&m.bob, &format!("/threads/{uuid}")).await;
        assert_eq!((&v["thread"]["session_id"], &v["thread"]["last_used_at"]), (&Value::Null, &later["created_at"]));
        // The minter and the operator see the thread's own metadata.
        let (_, v) = m.get(&m.alice, "/threads?session_id=s-alice-2").await;
        assert_eq!(v["threads"][0]["thread_uuid"], uuid.as_str(), "{backend:?}: {v}");
        let (_, v) = m.get(&m.alice, &format!("/threads/{uuid}")).await;
        assert_eq!(v["thread"]["session_id"], "s-alice-2", "{backend:?}");
        let (_, v) = m.gw.get("/threads?session_id=s-alice-2").await;
        assert_eq!(v["threads"][0]["session_id"], "s-alice-2", "{backend:?}");
        m.gw.stop().await;
    }
}

/// An alias in a name filter means its peer, as it does for a send, on
/// every read that takes a name (`GET /messages`, search, obligations,
/// threads), for the operator and for the peer itself; a third peer's own
/// token still finds nothing of the pair's.
#[tokio::test]
async fn name_filters_resolve_aliases_on_every_read() {
    for backend in backends() {
        let m = mesh(Gateway::start_backend(backend, |_| {}).await).await;
        let (s, v) = m.gw.post("/aliases", json!({"alias": "bobby", "canonical": "bob"})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let thread =
            mint(&m, &m.alice, "alice\u{2194}bob:plans", None).await["thread_uuid"].as_str().unwrap().to_owned();
        let fyi = m.dm(&m.alice, "bob", "deploy the canary", Some(&thread)).await;
        let ask = json!({"to_node": "bob", "kind": "question", "content": "canary ok?", "thread_id": thread});
        let (s, v) = m.call(&m.alice, Method::POST, "/messages", Some(ask)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let question = v["id"].as_i64().unwrap();
        let searched = |v: &Value| -> Vec<i64> {
            let hits = v["hits"].as_array().unwrap_or_else(|| panic!("no hits in {v}"));
            hits.iter().map(|h| h["message"]["id"].as_i64().unwrap()).collect()
        };
        for (who, token) in [("operator", OPERATOR), ("bob", m.bob.as_str())] {
            let (s, v) = m.get(token, "/messages?to=bobby&limit=10").await;
            assert_eq!((s, ids(&v, "messages")), (StatusCode::OK, vec![question, fyi]), "{backend:?} {who}: {v}");
            let (s, v) = m.get(token, "/messages?to_node=bobby&after_id=0&wait=5").await;
            assert_eq!((s, ids(&v, "messages")), (StatusCode::OK, vec![fyi, question]), "{backend:?} {who}: {v}");
            let (s, v) = m.get(token, "/messages/search?q=canary&to=bobby").await;
            assert_eq!(s, StatusCode::OK, "{backend:?} {who}: {v}");
            let mut found = searched(&v);
            found.sort();
            assert_eq!(found, vec![fyi, question], "{backend:?} {who}: search to=bobby");
            let (s, v) = m.get(token, "/obligations?peer=bobby").await;
            assert_eq!((s, ids(&v, "owed")), (StatusCode::OK, vec![question]), "{backend:?} {who}: {v}");
            let (s, v) = m.get(token, "/threads?peer=bobby").await;
            let found: Vec<&str> =
                v["threads"].as_array().unwrap().iter().filter_map(|t| t["thread_uuid"].as_str()).collect();
            assert_eq!((s, found), (StatusCode::OK, vec![thread.as_str()]), "{backend:?} {who}: {v}");
        }
        let url = format!("{}/messages/stream?to=bobby&after_id=0", m.gw.url);
        let streamed = sse_ids(m.gw.http.clone(), url, OPERATOR.to_owned(), Some(question)).await;
        assert_eq!(streamed, vec![fyi, question], "{backend:?}: the operator streams bob's inbox by its alias");
        let back = m.dm(&m.bob, "alice", "canary is fine", None).await;
        let (s, v) = m.get(&m.alice, "/messages?to=alice&from=bobby").await;
        assert_eq!((s, ids(&v, "messages")), (StatusCode::OK, vec![back]), "{backend:?}: alice narrows to bob's sends");
        // mallory holds a valid token of its own: names resolve for it too,
        // and find nothing of alice's and bob's.
        for path in ["/messages?to=bobby", "/obligations?peer=bobby"] {
            let (s, v) = m.get(&m.mallory, path).await;
            assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{backend:?} {path}");
        }
        let (s, v) = m.get(&m.mallory, "/messages/search?q=canary&to=bobby").await;
        assert_eq!((s, searched(&v)), (StatusCode::OK, vec![]), "{backend:?}: mallory's search");
        let (s, v) = m.get(&m.mallory, "/threads?peer=bobby").await;
        assert_eq!((s, &v["threads"]), (StatusCode::OK, &json!([])), "{backend:?}: mallory's threads");
        m.gw.stop().await;
    }
}

/// `GET /threads?peer=` matches a whole name in the thread's pair, never a
/// part of a longer one, and a third peer's own token finds none of the
/// threads it takes no part in, whatever name it filters by.
#[tokio::test]
async fn the_threads_peer_filter_is_an_exact_name() {
    for backend in backends() {
        let m = mesh(Gateway::start_backend(backend, |_| {}).await).await;
        let plan = mint(&m, &m.carol, "bob\u{2194}carol:plan", None).await["thread_uuid"].as_str().unwrap().to_owned();
        m.dm(&m.carol, "bob", "the plan", Some(&plan)).await;
        let other =
            mint(&m, &m.mallory, "bobcat <-> mallory:other", None).await["thread_uuid"].as_str().unwrap().to_owned();
        let listed = |v: &Value| -> Vec<String> {
            let rows = v["threads"].as_array().unwrap_or_else(|| panic!("no threads in {v}"));
            rows.iter().map(|t| t["thread_uuid"].as_str().unwrap().to_owned()).collect()
        };
        let (s, v) = m.gw.get("/threads?peer=bob").await;
        assert_eq!((s, listed(&v)), (StatusCode::OK, vec![plan.clone()]), "{backend:?}: bobcat is not bob");
        let (_, v) = m.gw.get("/threads?peer=bobcat").await;
        assert_eq!(listed(&v), vec![other.clone()], "{backend:?}: spaces around <-> do not matter");
        let (_, v) = m.gw.get("/threads?peer=bo").await;
        assert_eq!(listed(&v), Vec::<String>::new(), "{backend:?}: a prefix is no name");
        let (_, v) = m.get(&m.bob, "/threads?peer=carol").await;
        assert_eq!(listed(&v), vec![plan.clone()], "{backend:?}: bob took part");
        for peer in ["bob", "carol", "b%25", "_ob"] {
            let (s, v) = m.get(&m.mallory, &format!("/threads?peer={peer}")).await;
            assert_eq!((s, listed(&v)), (StatusCode::OK, vec![]), "{backend:?}: mallory, peer={peer}");
        }
        let (_, v) = m.get(&m.mallory, "/threads?peer=mallory").await;
        assert_eq!(listed(&v), vec![other], "{backend:?}: mallory's own");
        let (s, v) = m.get(&m.alice, &format!("/threads/{plan}")).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_thread")), "{backend:?}");
        m.gw.stop().await;
    }
}
