//! API-level tests: labels, specificity order, spans, own token, no echo.
//! Key-looking strings are built at run time (prefix + body) so that the
//! repository itself never contains literal credentials.

use crate::support;

use meshgate_guard::{redact, rules, scan, scan_with_token, Finding, Scanner};

fn rep(c: &str, n: usize) -> String {
    c.repeat(n)
}

use support::body;

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &str = "0123456789abcdef";

fn labels(text: &str) -> Vec<&'static str> {
    scan(text).iter().map(Finding::label).collect()
}

#[test]
fn python_labels_are_kept() {
    let cases: Vec<(String, &str)> = vec![
        (format!("pypi-{}", body(ALNUM, 40, 1)), "pypi token"),
        (format!("sk-ant-api03-{}", body(ALNUM, 40, 2)), "anthropic api key"),
        (format!("sk-admin-{}", body(ALNUM, 40, 3)), "openai ADMIN key (org-level privilege)"),
        (format!("sk-proj-{}", body(ALNUM, 60, 4)), "openai api key"),
        (format!("sk-{}", body(ALNUM, 48, 5)), "openai api key"),
        (format!("xai-{}", body(ALNUM, 60, 6)), "xai api key"),
        (format!("sk-{}", body(HEX, 32, 7)), "deepseek api key"),
        (format!("AIza{}", body(ALNUM, 35, 8)), "google api key"),
        (format!("ghp_{}", body(ALNUM, 36, 9)), "github token"),
        (format!("gho_{}", body(ALNUM, 36, 9)), "github token"),
        (format!("ghs_{}", body(ALNUM, 36, 9)), "github token"),
        (format!("AKIA{}", body("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 10)), "aws access key"),
        (format!("eyJ{}.eyJ{}.{}", body(ALNUM, 20, 11), body(ALNUM, 30, 12), body(ALNUM, 43, 13)), "jwt"),
    ];
    for (secret, label) in &cases {
        let text = format!("here it is: {secret} -- done");
        assert_eq!(labels(&text), vec![*label], "for a {label}");
    }
}

#[test]
fn placeholders_count_for_prefixed_formats() {
    assert_eq!(labels(&format!("ghp_{}", rep("x", 36))), vec!["github token"]);
    assert_eq!(labels(&format!("token sk-{}", rep("x", 48))), vec!["openai api key"]);
    assert_eq!(labels(&format!("AKIA{}", rep("X", 16))), vec!["aws access key"]);
}

#[test]
fn specificity_order() {
    // DeepSeek (nested) beats generic OpenAI.
    assert_eq!(labels(&format!("k=sk-{}", body(HEX, 32, 1))), vec!["deepseek api key"]);
    // 32 hex followed by more token chars is not DeepSeek.
    assert_eq!(labels(&format!("sk-{}", body(HEX, 48, 1))), vec!["openai api key"]);
    // sk-admin- → admin label, sk-ant-admin01- → anthropic admin.
    assert_eq!(labels(&format!("sk-admin-{}", body(ALNUM, 30, 2))), vec!["openai ADMIN key (org-level privilege)"]);
    assert_eq!(labels(&format!("sk-ant-admin01-{}", body(ALNUM, 30, 2))), vec!["anthropic admin key"]);
    // A vendor token inside a generic assignment keeps the vendor label.
    assert_eq!(labels(&format!("api_key = \"ghp_{}\"", body(ALNUM, 36, 3))), vec!["github token"]);
    // The own token beats everything.
    let tok = format!("ghp_{}", body(ALNUM, 36, 4));
    let f = scan_with_token(&format!("x {tok} y"), Some(&tok));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].label(), "own gateway token");
    // The explicit assignment beats the same-line heuristic (same label for compat).
    let aws = format!("AWS_SECRET_ACCESS_KEY={}", body(ALNUM, 38, 5) + "/+");
    let f = scan(&aws);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule.id, "aws-secret-access-key");
    assert_eq!(f[0].label(), "aws secret key");
    // Tier ordering documented in the crate docs.
    use meshgate_guard::*;
    const _: () = assert!(
        SPEC_OWN_TOKEN > SPEC_NESTED
            && SPEC_NESTED > SPEC_VENDOR
            && SPEC_VENDOR > SPEC_BROAD
            && SPEC_BROAD > SPEC_ASSIGNMENT
            && SPEC_ASSIGNMENT > SPEC_LINE_HEURISTIC
            && SPEC_LINE_HEURISTIC > SPEC_GENERIC
    );
    let spec = |id: &str| rules().iter().find(|r| r.id == id).unwrap().specificity;
    assert!(spec("deepseek-api-key") > spec("openai-api-key"));
    assert!(spec("openai-admin-key") > spec("openai-api-key"));
    assert!(spec("anthropic-admin-key") > spec("anthropic-api-key"));
    assert!(spec("anthropic-api-key") > spec("openai-api-key"));
    assert!(spec("openssh-private-key") > spec("private-key"));
    assert!(spec("gcp-service-account-key") > spec("private-key"));
    assert!(spec("jwt") > spec("generic-secret-assignment"));
}

#[test]
fn aws_secret_keyword_before_and_after() {
    let secret = body(ALNUM, 37, 7) + "/A1";
    for text in [
        format!("export AWS_SECRET_ACCESS_KEY={secret}"),
        format!("aws_secret_access_key = {secret}"),
        format!("{secret}  # the aws one"),
        format!("aws creds: {secret}"),
    ] {
        assert_eq!(labels(&text), vec!["aws secret key"], "{text}");
    }
    // No keyword, or 'aws' inside a word → nothing.
    assert!(labels(&secret).is_empty());
    assert!(labels(&format!("laws: {secret}")).is_empty());
    // SHA-1 next to 'aws' is not an AWS secret.
    assert!(labels(&format!("aws s3 etag {}", body(HEX, 40, 1))).is_empty());
}

#[test]
fn mesh_token_heuristic_and_assignment() {
    let tok = body("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", 52, 3);
    assert_eq!(labels(&format!("{tok} is my MESH_GATEWAY_TOKEN")), vec!["possible mesh-gateway token"]);
    assert_eq!(labels(&format!("MESH_GATEWAY_TOKEN={tok}")), vec!["possible mesh-gateway token"]);
    assert_eq!(labels("MESH_GATEWAY_TOKEN=abcd1234"), vec!["possible mesh-gateway token"]);
    assert!(labels("MESH_GATEWAY_TOKEN=${MESH_GATEWAY_TOKEN}").is_empty());
    assert!(labels("MESH_GATEWAY_TOKEN=short").is_empty());
    assert!(labels("set MESH_GATEWAY_TOKEN in your env").is_empty());
}

#[test]
fn urls_with_passwords() {
    let pw = body(ALNUM, 14, 5);
    for scheme in ["postgres", "mysql", "mongodb+srv", "redis", "amqp", "https"] {
        let t = format!("DATABASE_URL={scheme}://app:{pw}@db.internal:5432/x");
        let f = scan(&t);
        assert_eq!(f.len(), 1, "{scheme}");
        assert_eq!(f[0].label(), "url with password");
        assert_eq!(&t[f[0].span.clone()], pw);
    }
    assert_eq!(labels(&format!("redis://:{pw}@cache:6379")), vec!["url with password"]);
    assert!(labels("ssh://git@github.com:22/org/repo.git").is_empty());
    assert!(labels("https://user@example.com/path").is_empty());
    assert!(labels("https://user:@example.com/path").is_empty());
    assert!(labels("postgres://user:password@localhost/db").is_empty());
    assert!(labels("http://[::1]:8080/x@y").is_empty());
}

#[test]
fn connection_strings_and_azure() {
    let pw = body(ALNUM, 12, 9);
    let t = format!("Server=tcp:db.example.net,1433;Database=app;User ID=svc;Password={pw};Encrypt=true");
    let f = scan(&t);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].label(), "connection string password");
    assert_eq!(&t[f[0].span.clone()], pw);
    let key = body(ALNUM, 86, 1) + "==";
    let t = format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};EndpointSuffix=core.windows.net");
    assert_eq!(labels(&t), vec!["azure storage account key"]);
}

#[test]
fn private_keys() {
    let b64 = body(ALNUM, 64, 4);
    for (hdr, label) in [
        ("RSA PRIVATE KEY", "private key block"),
        ("PRIVATE KEY", "private key block"),
        ("EC PRIVATE KEY", "private key block"),
        ("OPENSSH PRIVATE KEY", "openssh private key"),
        ("PGP PRIVATE KEY BLOCK", "pgp private key block"),
    ] {
        let t = format!("key:\n-----BEGIN {hdr}-----\n{b64}\n{b64}\n-----END {hdr}-----\nafter");
        let f = scan(&t);
        assert_eq!(f.iter().map(Finding::label).collect::<Vec<_>>(), vec![label], "{hdr}");
        assert!(t[f[0].span.clone()].ends_with("-----"), "span covers the block");
        assert_eq!(f[0].line, 2);
    }
    let sa = format!("{{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{b64}\\n-----END PRIVATE KEY-----\\n\"}}");
    assert_eq!(labels(&sa), vec!["google service account key"]);
}

#[test]
fn display_and_debug_never_echo_secret() {
    let secret = format!("ghp_{}", body(ALNUM, 36, 77));
    let text = format!("line one\nline two\n    {secret} trailing");
    let f = scan(&text);
    assert_eq!(f.len(), 1);
    let shown = format!("{} {:?} {:#?} {:?}", f[0], f[0], f, f[0].rule);
    assert!(!shown.contains(&secret));
    assert!(!shown.contains(&secret[4..20]));
    assert_eq!(f[0].to_string(), "github token at line 3, column 5");
}

#[test]
fn spans_lines_columns_unicode() {
    let secret = format!("glpat-{}", body(ALNUM, 20, 3));
    let text = format!("héllo wörld\n«ünïcode» {secret}\n");
    let f = scan(&text);
    assert_eq!(f.len(), 1);
    assert_eq!(&text[f[0].span.clone()], secret);
    assert_eq!((f[0].line, f[0].column), (2, 11));
    assert_eq!(redact(&text, &f), "héllo wörld\n«ünïcode» [REDACTED:gitlab token]\n");
}

#[test]
fn own_token_rules() {
    let t = "my token is abcdefgh1234 ok";
    assert_eq!(scan_with_token(t, Some("abcdefgh1234")).len(), 1);
    assert!(scan_with_token(t, Some("abcdefg")).is_empty(), "shorter than 8");
    assert!(scan_with_token(t, None).is_empty());
    assert!(scan_with_token(t, Some("   ")).is_empty());
}

#[test]
fn sorted_and_non_overlapping() {
    let text = format!(
        "a ghp_{} b AKIA{} c sk-{} d password = \"Zx8{}\"",
        body(ALNUM, 36, 1),
        body("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 16, 2),
        body(HEX, 32, 3),
        body(ALNUM, 12, 4)
    );
    let f = scan(&text);
    assert_eq!(f.len(), 4, "{f:?}");
    for w in f.windows(2) {
        assert!(w[0].span.end <= w[1].span.start);
    }
}

#[test]
fn every_rule_is_documented_and_unique() {
    let mut ids = std::collections::HashSet::new();
    for r in rules() {
        assert!(!r.source.trim().is_empty(), "{} has no source", r.id);
        assert!(!r.label.is_empty());
        assert!(ids.insert(r.id), "duplicate id {}", r.id);
    }
    assert!(rules().len() >= 80, "{} rules", rules().len());
    // Compiles.
    let _ = Scanner::new();
}

#[test]
fn clean_prose_is_clean() {
    for t in [
        "OpenAI keys start with sk- and GitHub tokens use the ghp_ prefix.",
        "the sk-learn-model-selection-helper module",
        "password = get_password_from_vault()",
        "token = request.headers['Authorization']",
        "see https://docs.example.com/a/b?x=1&y=2 and git@github.com:org/repo.git",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)",
        "MESH_GATEWAY_TOKEN must be set in the environment",
        "Authorization: Bearer $TOKEN",
    ] {
        assert!(labels(t).is_empty(), "{t}: {:?}", scan(t));
    }
}

#[test]
fn repeated_pem_blocks_each_get_their_own_span() {
    // Every block is found with its full extent (header to end line), also
    // when a whole file of blocks forms one run of body characters.
    let block = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        body("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 64, 9)
    );
    let text = block.repeat(50);
    let f = scan(&text);
    assert_eq!(f.len(), 50);
    for (i, x) in f.iter().enumerate() {
        assert_eq!(x.label(), "private key block");
        assert_eq!(x.span, i * block.len()..(i + 1) * block.len() - 1);
    }
    // Headers without end lines: each header alone.
    let headers = "-----BEGIN RSA PRIVATE KEY-----\n".repeat(1000);
    assert_eq!(scan(&headers).len(), 1000);
}

#[test]
fn gates_repeated_on_one_long_line() {
    // The same gate many times on one line: matches are still found after an
    // anchored attempt failed on that line.
    let v = body(ALNUM, 16, 21) + "9";
    let text = format!("{} token = {v} and api_key = {v}", "token token ".repeat(2000));
    let f = scan(&text);
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f.iter().all(|x| x.label() == "generic secret assignment"));
    // JWT after many failed eyJ candidates on the same line.
    let jwt = format!("eyJ{}.eyJ{}.{}", body(ALNUM, 20, 1), body(ALNUM, 30, 2), body(ALNUM, 40, 3));
    let text = format!("{} {jwt}", "eyJhbGciOi-".repeat(3000));
    assert_eq!(labels(&text), vec!["jwt"]);
}

#[test]
fn adversarial_inputs_scale_linearly() {
    // Coarse guard against quadratic blow-ups (the benchmark measures precisely):
    // 8x the input must not cost more than ~30x the time.
    let units = ["password=", "eyJhbGciOi-", "-----BEGIN RSA PRIVATE KEY-----\n", "passwordtoken", "sk-", "a://b:c"];
    let scanner = Scanner::global();
    for u in units {
        let t = |n: usize| {
            let text = u.repeat(n / u.len());
            let mut best = std::time::Duration::MAX;
            for _ in 0..3 {
                let s = std::time::Instant::now();
                std::hint::black_box(scanner.scan(&text));
                best = best.min(s.elapsed());
            }
            best
        };
        let (small, large) = (t(25_000), t(200_000));
        assert!(large < small * 30 + std::time::Duration::from_millis(20), "{u:?}: {small:?} -> {large:?}");
    }
}
