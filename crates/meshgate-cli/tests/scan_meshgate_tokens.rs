//! `meshgate scan` refuses meshgate's own token formats (issue #12): a file
//! holding a per-peer token (`mgp_` + 43 URL-safe base64 chars) or a generated
//! operator token (`mgo_` + 43) exits 1 and names the token kind and position,
//! never the token. Tokens are built at run time.

use crate::common;

use common::meshgate;

/// 43 URL-safe base64 chars from a deterministic xorshift.
fn body(seed: u64) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..43)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            A[(x % 64) as usize] as char
        })
        .collect()
}

#[tokio::test]
async fn scan_refuses_meshgate_peer_and_operator_tokens() {
    let dir = tempfile::tempdir().unwrap();
    for (prefix, label, seed) in [("mgp_", "meshgate peer token", 1), ("mgo_", "meshgate operator token", 2)] {
        let token = format!("{prefix}{}", body(seed));
        let file = dir.path().join(format!("{prefix}note.txt"));
        std::fs::write(&file, format!("handover notes\nuse {token} for the droplet\n")).unwrap();
        let (code, stdout, stderr) = meshgate(&["scan", file.to_str().unwrap()], &[], None).await;
        assert_eq!(code, 1, "{label}: {stdout} {stderr}");
        assert!(stdout.contains(":2:5: ") && stdout.contains(label), "{stdout}");
        assert!(!stdout.contains(&token) && !stderr.contains(&token));
    }
    // The prefixes alone are documentation, not tokens.
    let file = dir.path().join("doc.txt");
    std::fs::write(&file, "peer tokens start with mgp_, operator tokens with mgo_\n").unwrap();
    let (code, stdout, _) = meshgate(&["scan", file.to_str().unwrap()], &[], None).await;
    assert_eq!(code, 0, "{stdout}");
}
