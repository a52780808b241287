//! The exact answers to the request bodies of `POST /aliases`,
//! `POST /peers/register`, `PATCH /peers/{name}` and `POST /messages/read`
//! (status, `error` and `detail`, whole), and the exact small answers of
//! the routes that confirm a change (`DELETE /aliases/{alias}`,
//! `DELETE /peers/{name}`, `POST /peers/{name}/revoke`, `GET /ready`).
//! Written before those bodies moved into proto types, so the move is shown
//! to keep every answer, including which check answers when a body breaks
//! several rules.

use crate::common;

use common::{Gateway, OPERATOR};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// `(status, {"error": code, "detail": detail})`.
fn refusal(status: StatusCode, code: &str, detail: &str) -> (StatusCode, Value) {
    (status, json!({"error": code, "detail": detail}))
}

fn missing(field: &str) -> (StatusCode, Value) {
    refusal(UNPROCESSABLE, "missing_field", &format!("field {field:?} is required"))
}

fn invalid(detail: &str) -> (StatusCode, Value) {
    refusal(UNPROCESSABLE, "invalid_field", detail)
}

async fn check(gw: &Gateway, method: Method, path: &str, token: &str, cases: Vec<(Value, (StatusCode, Value))>) {
    for (body, expected) in cases {
        let answer = gw.call(method.clone(), path, Some(token), Some(body.clone())).await;
        assert_eq!(answer, expected, "{method} {path} {body}");
    }
}

const NOT_CANONICAL: &str = "is not canonical: lower-case letters, digits and '-', starting with a letter and not \
                             ending with '-'";

#[tokio::test]
async fn alias_bodies_are_answered_as_before() {
    let gw = Gateway::start().await;
    let bob = gw.register("bob").await;
    let long = "x".repeat(65);
    let cases = vec![
        (json!({}), missing("alias")),
        (json!({"alias": null, "canonical": "bob"}), missing("alias")),
        (json!({"alias": 5, "canonical": "bob"}), invalid("field \"alias\" must be a string, not a number")),
        (json!({"alias": "", "canonical": "bob"}), invalid("field \"alias\" must not be empty")),
        (
            json!({"alias": long, "canonical": "bob"}),
            invalid("field \"alias\" has 65 characters; at most 64 are allowed"),
        ),
        (json!({"alias": "bb"}), missing("canonical")),
        (json!({"alias": "bb", "canonical": ["bob"]}), invalid("field \"canonical\" must be a string, not an array")),
        (json!({"alias": "a\u{0}", "canonical": "bob"}), invalid("field \"alias\" must not contain the NUL character")),
        // Both fields are read before either name is checked.
        (json!({"alias": "Bad", "canonical": 7}), invalid("field \"canonical\" must be a string, not a number")),
        (
            json!({"alias": "Bad", "canonical": "bob"}),
            refusal(UNPROCESSABLE, "invalid_name", &format!("peer name \"Bad\" {NOT_CANONICAL}")),
        ),
        (
            json!({"alias": "bb", "canonical": "B"}),
            refusal(UNPROCESSABLE, "invalid_name", "peer name \"B\" is too short: names have 2 to 64 characters"),
        ),
        (
            json!({"alias": "bb", "canonical": "nobody"}),
            refusal(StatusCode::NOT_FOUND, "unknown_peer", "canonical \"nobody\" is not a registered peer"),
        ),
        (json!([]), refusal(UNPROCESSABLE, "invalid_json", "the request body must be a JSON object")),
    ];
    check(&gw, Method::POST, "/aliases", OPERATOR, cases).await;
    // A peer token is refused before its body is read.
    let operator_only = refusal(StatusCode::FORBIDDEN, "operator_only", "managing aliases needs the operator token");
    let cases =
        vec![(json!({"alias": 5}), operator_only.clone()), (json!({"alias": "bb", "canonical": "bob"}), operator_only)];
    check(&gw, Method::POST, "/aliases", &bob, cases).await;

    let (s, v) = gw.post("/aliases", json!({"alias": "bb", "canonical": "bob", "extra": 1})).await;
    assert_eq!((s, &v["alias"], &v["canonical"]), (StatusCode::OK, &json!("bb"), &json!("bob")), "{v}");
    let deleted = gw.call(Method::DELETE, "/aliases/bb", Some(OPERATOR), None).await;
    assert_eq!(deleted, (StatusCode::OK, json!({"status": "deleted", "alias": "bb"})));
    let again = gw.call(Method::DELETE, "/aliases/bb", Some(OPERATOR), None).await;
    assert_eq!(again, refusal(StatusCode::NOT_FOUND, "unknown_alias", "alias \"bb\" does not exist"));
    gw.stop().await;
}

#[tokio::test]
async fn register_bodies_are_answered_as_before() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    let cases = vec![
        (json!({}), missing("name")),
        (json!({"name": 5}), invalid("field \"name\" must be a string, not a number")),
        (json!({"name": ""}), invalid("field \"name\" must not be empty")),
        (json!({"name": "x".repeat(65)}), invalid("field \"name\" has 65 characters; at most 64 are allowed")),
        (
            json!({"name": "Bad_Name", "url": 5}),
            refusal(UNPROCESSABLE, "invalid_name", &format!("peer name \"Bad_Name\" {NOT_CANONICAL}")),
        ),
        (json!({"name": "alpha", "url": ""}), invalid("field \"url\" must not be empty")),
        (json!({"name": "alpha", "url": 5}), invalid("field \"url\" must be a string, not a number")),
        (
            json!({"name": "alpha", "url": "ftp://x", "capabilities": 5}),
            refusal(UNPROCESSABLE, "invalid_url", "field \"url\" must be an http:// or https:// address"),
        ),
        (
            json!({"name": "alpha", "capabilities": "x"}),
            invalid("field \"capabilities\" must be an object, not a string"),
        ),
        (
            json!({"name": "alpha", "capabilities": {}, "adopt_history": "yes"}),
            invalid("field \"adopt_history\" must be a boolean, not a string"),
        ),
    ];
    check(&gw, Method::POST, "/peers/register", OPERATOR, cases).await;
    let binding = refusal(StatusCode::FORBIDDEN, "caller_binding", "a peer token can only register its own peer");
    let cases = vec![
        (json!({"name": "bob", "url": 5}), binding.clone()),
        (json!({"name": "bob"}), binding),
        (json!({"name": "Bob"}), refusal(UNPROCESSABLE, "invalid_name", &format!("peer name \"Bob\" {NOT_CANONICAL}"))),
        (
            json!({"name": "alice", "adopt_history": true}),
            refusal(
                StatusCode::FORBIDDEN,
                "operator_only",
                "adopting a deleted peer's history needs the operator token",
            ),
        ),
        (
            json!({"name": "alice", "adopt_history": 1}),
            invalid("field \"adopt_history\" must be a boolean, not a number"),
        ),
    ];
    check(&gw, Method::POST, "/peers/register", &alice, cases).await;
    let (s, v) =
        gw.call(Method::POST, "/peers/register", Some(&alice), Some(json!({"name": "alice", "url": null}))).await;
    assert_eq!((s, &v["token_status"], &v["url"]), (StatusCode::OK, &json!("existing"), &json!("http://x.invalid:1")));
    gw.stop().await;
}

#[tokio::test]
async fn peer_update_bodies_are_answered_as_before() {
    let gw = Gateway::start().await;
    let bob = gw.register("bob").await;
    let neither = refusal(UNPROCESSABLE, "missing_field", "give \"enabled\" and/or \"secret_guard\"");
    let cases = vec![
        (json!({}), neither.clone()),
        (json!({"enabled": null, "other": 1}), neither),
        (json!({"enabled": "yes", "secret_guard": 5}), invalid("field \"enabled\" must be a boolean, not a string")),
        (json!({"secret_guard": 5}), invalid("field \"secret_guard\" must be block, warn, off or null")),
        (json!({"secret_guard": ["off"]}), invalid("field \"secret_guard\" must be block, warn, off or null")),
        (
            json!({"enabled": true, "secret_guard": "sometimes"}),
            invalid("unknown secret-guard policy \"sometimes\": expected block, warn or off"),
        ),
        (json!({"secret_guard": "Off"}), invalid("unknown secret-guard policy \"Off\": expected block, warn or off")),
    ];
    check(&gw, Method::PATCH, "/peers/bob", OPERATOR, cases).await;
    let unknown = refusal(StatusCode::NOT_FOUND, "unknown_peer", "peer \"nobody\" is not registered");
    check(&gw, Method::PATCH, "/peers/nobody", OPERATOR, vec![(json!({"enabled": true}), unknown)]).await;
    let operator_only =
        refusal(StatusCode::FORBIDDEN, "operator_only", "changing a peer's settings needs the operator token");
    check(&gw, Method::PATCH, "/peers/bob", &bob, vec![(json!({"enabled": "yes"}), operator_only)]).await;

    let (s, v) = gw
        .call(Method::PATCH, "/peers/bob", Some(OPERATOR), Some(json!({"enabled": false, "secret_guard": "warn"})))
        .await;
    assert_eq!((s, &v["enabled"], &v["secret_guard"]), (StatusCode::OK, &json!(false), &json!("warn")), "{v}");
    let (s, v) = gw.call(Method::PATCH, "/peers/bob", Some(OPERATOR), Some(json!({"secret_guard": null}))).await;
    assert_eq!((s, &v["enabled"], v.get("secret_guard")), (StatusCode::OK, &json!(false), None), "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn mark_read_bodies_are_answered_as_before() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    gw.register("bob").await;
    let (_, sent) = gw.send("alice", "bob", "hi").await;
    let id = sent["id"].as_i64().unwrap();
    let not_array = invalid("field \"ids\" must be an array of integers");
    let cases = vec![
        (json!({}), missing("ids")),
        (json!({"ids": null}), not_array.clone()),
        (json!({"ids": "1"}), not_array.clone()),
        (json!({"ids": {"a": 1}}), not_array),
        (json!({"ids": [1, "x"]}), invalid("ids must be integers")),
        (json!({"ids": [1.5]}), invalid("ids must be integers")),
        (json!({"ids": vec![1; 1001]}), invalid("at most 1000 ids per request")),
        (json!({"ids": vec!["x"; 1001]}), invalid("at most 1000 ids per request")),
        (json!({"ids": []}), (StatusCode::OK, json!({"marked": [], "not_found": []}))),
    ];
    check(&gw, Method::POST, "/messages/read", OPERATOR, cases).await;
    let (s, v) = gw.post("/messages/read", json!({"ids": [id, id + 1000]})).await;
    assert_eq!((s, &v["marked"][0]["id"], &v["not_found"]), (StatusCode::OK, &json!(id), &json!([id + 1000])), "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn confirmations_are_answered_as_before() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    gw.register("bob").await;
    gw.register("carol").await;
    gw.send("alice", "carol", "hi").await;
    gw.post("/aliases", json!({"alias": "cc", "canonical": "carol"})).await;
    let ok = |v: Value| (StatusCode::OK, v);
    let answer = gw.call(Method::POST, "/peers/bob/revoke", Some(OPERATOR), None).await;
    assert_eq!(answer, ok(json!({"status": "revoked", "name": "bob"})));
    let answer = gw.call(Method::DELETE, "/peers/bob", Some(OPERATOR), None).await;
    assert_eq!(answer, ok(json!({"status": "deregistered", "name": "bob"})));
    let answer = gw.call(Method::DELETE, "/peers/carol?purge=true", Some(OPERATOR), None).await;
    let purged = json!({"status": "purged", "name": "carol", "peer": true, "messages": 1, "threads": 0, "aliases": 1});
    assert_eq!(answer, ok(purged));
    assert_eq!(gw.call(Method::GET, "/ready", None, None).await, ok(json!({"status": "ready"})));
    gw.stop().await;
}

/// Every `$ref` of `/openapi.json` names a schema the document defines, and
/// the bodies and answers that have proto types are documented by them.
#[tokio::test]
async fn the_openapi_document_refers_to_the_proto_types() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                out.extend(m.get("$ref").and_then(Value::as_str));
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let gw = Gateway::start().await;
    let (s, doc) = gw.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "{r} is not defined");
    }
    let schema = |path: &str, method: &str, part: &str| {
        let op = &doc["paths"][path][method];
        let content = match part {
            "request" => &op["requestBody"]["content"]["application/json"]["schema"],
            _ => &op["responses"]["200"]["content"]["application/json"]["schema"],
        };
        content["$ref"].as_str().map(|r| r.rsplit('/').next().unwrap().to_owned())
    };
    let expected = [
        ("/aliases", "post", "request", "NewAlias"),
        ("/aliases/{alias}", "delete", "answer", "AliasDeleted"),
        ("/peers/register", "post", "request", "RegisterRequest"),
        ("/peers/{name}", "patch", "request", "PeerUpdate"),
        ("/peers/{name}", "delete", "answer", "PeerRemoved"),
        ("/peers/{name}/revoke", "post", "answer", "PeerChanged"),
        ("/messages/read", "post", "request", "MarkReadBulk"),
        ("/ready", "get", "answer", "Ready"),
    ];
    for (path, method, part, name) in expected {
        assert_eq!(schema(path, method, part).as_deref(), Some(name), "{method} {path} {part}");
    }
    for name in ["Purged", "PeerChanged"] {
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
    gw.stop().await;
}
