//! Precision (issue #11): a digest, slug, file name or path is not a
//! credential because a credential word stands nearby; only the token's own
//! shape counts. Reference syntax is exempt only when it is real reference
//! syntax, so passwords with `$`, `(`, `{`, `!` are found. Meshgate's own
//! token formats (issue #12) are always refused. Key-looking strings are built
//! at run time so the repository holds no literal credential.

use crate::support;

use meshgate_guard::{scan, Finding};

use support::body;

const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &str = "0123456789abcdef";

fn ids(text: &str) -> Vec<&'static str> {
    scan(text).iter().map(Finding::rule_id).collect()
}

/// `text` holds exactly one finding: `tok`, labelled `label`.
fn assert_one_token(text: &str, tok: &str, label: &str) {
    let f = scan(text);
    assert_eq!(f.len(), 1, "{label} in {}", text.replace(tok, "<tok>"));
    assert_eq!(f[0].label(), label);
    let start = text.find(tok).unwrap();
    assert_eq!(f[0].span, start..start + tok.len());
}

#[test]
fn meshgate_peer_and_operator_tokens() {
    for seed in 0..200 {
        let peer = format!("mgp_{}", body(B64URL, 43, seed));
        let op = format!("mgo_{}", body(B64URL, 43, seed + 1000));
        for (tok, label) in [(&peer, "meshgate peer token"), (&op, "meshgate operator token")] {
            for text in [
                tok.to_string(),
                format!("here: {tok}."),
                format!("MESH_GATEWAY_TOKEN={tok}"),
                format!("{{\"token\":\"{tok}\"}}"),
                format!("Authorization: Bearer {tok}"),
            ] {
                assert_one_token(&text, tok, label);
            }
        }
    }
    // The prefix alone, or too short a body, is not a token.
    assert!(ids("tokens start with mgp_ (peers) and mgo_ (operators)").is_empty());
    assert!(ids(&format!("mgp_{}", body(B64URL, 20, 1))).is_empty());
}

#[test]
fn digests_near_credential_words_are_not_tokens() {
    for seed in 0..50 {
        let sha256 = body(HEX, 64, seed);
        let sha1 = body(HEX, 40, seed);
        let sri = body(B64, 86, seed);
        let gosum = body(B64, 43, seed);
        for text in [
            format!("the MESH_GATEWAY_TOKEN hash is {sha256} in the log"),
            format!("MESH_GATEWAY_TOKEN rotated; image digest sha256:{sha256}"),
            format!("MESH_GATEWAY_TOKEN file checksum {}", sha256.to_uppercase()),
            format!("token: sha256:{sha256}"),
            format!("secret rotated in commit {sha1}"),
            format!("\"integrity\": \"sha512-{sri}==\" MESH_GATEWAY_TOKEN"),
            format!("golang.org/x/crypto v0.1.0 h1:{gosum}= token"),
            format!("aws s3 cp s3://bucket/{sha1}.tar.gz ."),
            format!("MESH_GATEWAY_TOKEN docs: https://example.com/{}/raw", body(B64URL, 60, seed)),
        ] {
            assert!(ids(&text).is_empty(), "{text}: {:?}", ids(&text));
        }
    }
}

#[test]
fn slugs_and_file_names_are_not_keys() {
    for text in [
        "https://news.example.com/sk-hynix-memory-bandwidth-roadmap-2027",
        "see sk-hynix-hbm4-memory-bandwidth-roadmap-2027-q3 for the numbers",
        "token: release-notes-2024-11-03-final-v3.md",
        "token file: meshgate-release-candidate-2024-11-03-linux-x86_64-unknown-gnu.tar.gz",
        "the token is in my-very-long-hyphenated-file-name-for-the-tokens-2024-v3.txt",
        "MESH_GATEWAY_TOKEN docs live in Meshgate-Release-Notes-2024-Q3-Final-Draft-For-Review-v2.md",
        "secret_key_len = MLKEM768_SECRET_KEY_BYTES;",
        "pGlobal->api.xCreateTokenizer = fts5CreateTokenizer;",
        "colon2_token: node.colon2_token,",
        "token.n = nToken+1;",
        "let tokens = quote!(..100u32);",
        "Ok(ConnectionTrafficSecrets::Aes128Gcm { key, iv })",
        "[![codecov](https://codecov.io/gh/o/r/graph/badge.svg?token=AB12CD34EF)]",
        "[codecov-badge]: https://codecov.io/gh/o/r/graph/badge.svg?token=AB12CD34EF",
        "https://img.shields.io/codecov/c/github/o/r?logo=codecov&style=flat-square&token=AB12CD34EF&color=C43AC3",
    ] {
        assert!(ids(text).is_empty(), "{text}: {:?}", ids(text));
    }
}

#[test]
fn passwords_with_reference_characters_are_found() {
    let cases = [
        ("postgres://app:Pa$$w0rd!(x@db:5432/main", "url-with-password", "Pa$$w0rd!(x"),
        ("password: \"Ab$$cd(ef12!xy\"", "generic-secret-assignment", "Ab$$cd(ef12!xy"),
        ("password: \"Ab$$cd(efGh!\"", "generic-secret-assignment", "Ab$$cd(efGh!"),
        ("api_token = \"Zk{9$pQ!2mW(x7\"", "generic-secret-assignment", "Zk{9$pQ!2mW(x7"),
        ("DB_PASSWORD=Pa$$w0rd!(x", "generic-secret-assignment", "Pa$$w0rd!(x"),
        ("MESH_GATEWAY_TOKEN=Xy$9kL(mQ2", "mesh-gateway-token-assignment", "Xy$9kL(mQ2"),
        ("redis://:{9Lm$Qx!2z@cache:6379/0", "url-with-password", "{9Lm$Qx!2z"),
    ];
    for (text, rule, secret) in cases {
        let f = scan(text);
        assert_eq!(f.len(), 1, "{text}: {f:?}");
        assert_eq!(f[0].rule_id(), rule, "{text}");
        assert_eq!(&text[f[0].span.clone()], secret, "{text}");
    }
}

#[test]
fn real_reference_syntax_is_exempt() {
    for text in [
        "password = ${DB_PASSWORD}",
        "password: \"${DB_PASSWORD}\"",
        "password: ${DB_PASSWORD:-changeme}",
        "password: $DB_PASS",
        "password: \"%(pw)s\"",
        "password: {{ db_password }}",
        "password: ${{ secrets.DB_PASSWORD }}",
        "password: <your-password>",
        "password = %DB_PASSWORD%",
        "MESH_GATEWAY_TOKEN=$(cat /run/secrets/token)",
        "MESH_GATEWAY_TOKEN=${MESH_GATEWAY_TOKEN}",
        "postgres://app:${PG_PASS}@db:5432/main",
        "postgres://app:{password}@db:5432/main",
        "postgres://%s:%s@%s/db",
        "token = get_token(user)",
        "token = request.headers['Authorization']",
        "this.$tokenIndex=e.rowCount?x:y",
    ] {
        assert!(ids(text).is_empty(), "{text}: {:?}", ids(text));
    }
    // The documented price (README): unquoted, `word(` reads as code.
    assert!(ids("DB_PASSWORD=Pa$$x9(y").is_empty());
    // `$Name` in mixed case is not a variable name convention: a literal.
    assert_eq!(ids("password: $ecretPassw0rd9"), vec!["generic-secret-assignment"]);
}

#[test]
fn mesh_token_heuristic_needs_the_token_shape() {
    for seed in 0..200 {
        let mut tok = body(B64URL, 52, seed);
        // The shape: upper, lower and digits (random tokens miss one ~1/3000).
        tok.replace_range(0..3, "aZ7");
        assert_eq!(ids(&format!("{tok} is my MESH_GATEWAY_TOKEN")), vec!["mesh-gateway-token-heuristic"], "{seed}");
    }
    let words = "handle-incoming-request-with-retry-and-exponential-backoff-policy";
    assert!(ids(&format!("MESH_GATEWAY_TOKEN is read by {words}")).is_empty());
    assert!(ids(&format!("MESH_GATEWAY_TOKEN {}", "a".repeat(60))).is_empty());
}

#[test]
fn aws_heuristic_needs_the_keyword_nearby() {
    let secret = format!("{}/A1", body(B64, 37, 7).replace(['/', '+'], "x"));
    assert_eq!(ids(&format!("aws creds: {secret}")), vec!["aws-secret-key-heuristic"]);
    let far = format!("aws {} {secret}", "filler ".repeat(20));
    assert!(ids(&far).is_empty(), "{:?}", ids(&far));
}

#[test]
fn token_shapes_inside_longer_blobs_are_fragments() {
    // A vendor prefix inside a base64url digest or a base64 blob.
    let record = format!(
        "pip/_vendor/x.py,sha256=qaN-fw_{},160",
        body("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 35, 3)
    );
    assert!(ids(&record).is_empty(), "{:?}", ids(&record));
    let blob = format!(
        "AAAAZ/EAAC{}+NIo0jjae4qLi58bvxvPHD8cTxx",
        body("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 130, 4)
    );
    assert!(ids(&blob).is_empty(), "{:?}", ids(&blob));
}

#[test]
fn meshgate_tokens_glued_to_other_text_are_found() {
    // Hostile review: a live token pasted into a URL-encoded query, a variable
    // name or a flag passed, because the vendor-shape rules require a word
    // boundary and skip shapes next to `-`/`+` (base64 fragments).
    for seed in 0..50 {
        let peer = format!("mgp_{}", body(B64URL, 43, seed));
        let op = format!("mgo_{}", body(B64URL, 43, seed + 1000));
        for (tok, label) in [(&peer, "meshgate peer token"), (&op, "meshgate operator token")] {
            for text in [
                format!("curl http://gw:8788/messages?token%3D{tok}"),
                format!("MY_TOKEN_{tok}"),
                format!("--token -{tok}"),
                format!("token-{tok}"),
                format!("tok+{tok}"),
                format!("{tok}+"),
                format!("1{tok}"),
                format!("x{tok}y"),
            ] {
                assert_one_token(&text, tok, label);
            }
        }
    }
}
