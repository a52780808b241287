//! Synthetic evaluation corpus shared by `tests/eval.rs` and `examples/eval.rs`.
//!
//! Credentials are generated at run time from templates (`prefix` + random
//! body from a deterministic PRNG), so the repository never contains a literal
//! key-looking string. A template is a line snippet; the secret is enclosed
//! in `[[` … `]]` and `{X<n>}` expands to `n` random chars of class `X`:
//!
//! | X | alphabet |
//! |---|---|
//! | a | `[A-Za-z0-9]` | h | `[0-9a-f]` | H | `[0-9A-F]` | d | `[0-9]` |
//! | u | `[A-Z0-9]` | n | `[a-z0-9]` | b | `[A-Za-z0-9+/]` | w | `[A-Za-z0-9_-]` |
//! | z | age bech32 upper | s | password chars `[A-Za-z0-9!@#^_+-]` |
//! | p | password chars with reference characters `[A-Za-z0-9!$()*{}~._^-]` | l | `[a-z]` |
//!
//! `{W<n>}`, `{S<n>}`, `{C<n>}` expand to `n` ordinary words (kebab, snake,
//! Camel case) for slugs, file names and identifiers in the bait.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;

use meshgate_guard::{rules, Scanner};

mod bait;
#[allow(unused_imports)] // each test crate uses part of the support module
pub use bait::{bait, BAIT, NEAR_WORDS};

/// xorshift64* — deterministic, dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03 | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn chars(&mut self, alphabet: &str, n: usize) -> String {
        let a = alphabet.as_bytes();
        (0..n).map(|_| a[self.below(a.len())] as char).collect()
    }
}

/// Deterministic pseudo-random body over `alphabet` (xorshift64), for tests
/// that build key-looking strings at run time.
pub fn body(alphabet: &str, n: usize, seed: u64) -> String {
    let a = alphabet.as_bytes();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            a[(x % a.len() as u64) as usize] as char
        })
        .collect()
}

pub fn class(c: char) -> &'static str {
    match c {
        'a' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        'h' => "0123456789abcdef",
        'H' => "0123456789ABCDEF",
        'd' => "0123456789",
        'u' => "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        'n' => "abcdefghijklmnopqrstuvwxyz0123456789",
        'b' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        'w' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        'z' => "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
        's' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!@#^_+-",
        'l' => "abcdefghijklmnopqrstuvwxyz",
        'p' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!$()*{}~-_.^",
        'U' => "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        other => panic!("unknown class {other}"),
    }
}

/// Ordinary English and engineering words for slugs, file names and identifiers.
const WORDS: &[&str] = &[
    "memory",
    "bandwidth",
    "roadmap",
    "release",
    "notes",
    "final",
    "draft",
    "review",
    "market",
    "share",
    "quarterly",
    "earnings",
    "report",
    "token",
    "secret",
    "password",
    "rotation",
    "guide",
    "how",
    "to",
    "configure",
    "the",
    "gateway",
    "agent",
    "mesh",
    "deploy",
    "linux",
    "server",
    "client",
    "update",
    "security",
    "advisory",
    "fix",
    "handle",
    "incoming",
    "request",
    "retry",
    "policy",
    "cache",
    "layer",
    "storage",
    "backend",
    "migration",
    "plan",
    "meeting",
    "summary",
    "new",
    "chip",
    "launch",
    "price",
    "key",
    "access",
    "api",
    "auth",
    "login",
    "session",
    "user",
    "profile",
    "settings",
    "export",
];

/// `n` random words: `W` kebab-case, `S` snake_case, `C` CamelCase.
fn words(rng: &mut Rng, style: char, n: usize) -> String {
    let ws: Vec<&str> = (0..n).map(|_| *rng.pick(WORDS)).collect();
    match style {
        'W' => ws.join("-"),
        'S' => ws.join("_"),
        _ => ws.iter().map(|w| w[..1].to_uppercase() + &w[1..]).collect(),
    }
}

/// Expands `{X<n>}` placeholders (`{W<n>}`/`{S<n>}`/`{C<n>}`: `n` words);
/// keeps `[[`/`]]` markers.
pub fn expand(template: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else { break };
        let spec = &rest[i + 1..i + j];
        let mut cs = spec.chars();
        match (cs.next(), cs.as_str().parse::<usize>()) {
            (Some(c @ ('W' | 'C' | 'S')), Ok(n)) if spec.len() <= 3 => {
                out.push_str(&rest[..i]);
                out.push_str(&words(rng, c, n));
            }
            (Some(c), Ok(n)) if spec.len() <= 4 => {
                out.push_str(&rest[..i]);
                out.push_str(&rng.chars(class(c), n));
            }
            _ => out.push_str(&rest[..i + j + 1]),
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

/// Removes the `[[`/`]]` markers, returning the text and the marked span.
pub fn unmark(doc: &str) -> (String, Range<usize>) {
    let s = doc.find("[[").expect("start marker");
    let e = doc.find("]]").expect("end marker");
    let text = format!("{}{}{}", &doc[..s], &doc[s + 2..e], &doc[e + 2..]);
    (text, s..e - 2)
}

/// Positive templates per rule id (every rule except the own token).
pub const POSITIVES: &[(&str, &[&str])] = &[
    ("anthropic-admin-key", &["[[sk-ant-admin01-{w90}AA]]"]),
    ("anthropic-api-key", &["[[sk-ant-api03-{w93}AA]]", "ANTHROPIC_API_KEY=[[sk-ant-api03-{a40}]]"]),
    ("openai-admin-key", &["[[sk-admin-{w60}]]"]),
    ("openrouter-api-key", &["[[sk-or-v1-{h64}]]"]),
    ("langfuse-secret-key", &["[[sk-lf-{h8}-{h4}-{h4}-{h4}-{h12}]]"]),
    ("deepseek-api-key", &["[[sk-{h32}]]", "DEEPSEEK_API_KEY=\"[[sk-{h32}]]\""]),
    ("openai-project-key", &["[[sk-proj-{w120}]]", "OPENAI_API_KEY=[[sk-proj-{a48}T3BlbkFJ{a48}]]"]),
    ("openai-svcacct-key", &["[[sk-svcacct-{w120}]]"]),
    ("openai-api-key", &["[[sk-{a20}T3BlbkFJ{a20}]]", "[[sk-{a48}]]"]),
    ("xai-api-key", &["[[xai-{a80}]]"]),
    ("google-api-key", &["[[AIza{w35}]]", "GEMINI_API_KEY=[[AIza{w35}]]"]),
    ("groq-api-key", &["[[gsk_{a52}]]"]),
    ("huggingface-token", &["[[hf_{a34}]]"]),
    ("huggingface-org-token", &["[[api_org_{a34}]]"]),
    ("replicate-api-token", &["[[r8_{a37}]]"]),
    ("perplexity-api-key", &["[[pplx-{a48}]]"]),
    ("fireworks-api-key", &["[[fw_{a24}]]"]),
    ("langsmith-api-key", &["[[lsv2_pt_{h32}_{h10}]]", "[[lsv2_sk_{h32}_{h10}]]"]),
    ("tavily-api-key", &["[[tvly-{a32}]]", "[[tvly-dev-{a32}]]"]),
    ("pinecone-api-key", &["[[pcsk_{a5}_{a64}]]"]),
    ("cohere-api-key", &["COHERE_API_KEY=[[{a40}]]", "cohere_token: \"[[{a40}]]\""]),
    ("github-pat", &["[[ghp_{a36}]]", "git clone https://[[ghp_{a36}]]@github.com/o/r"]),
    ("github-oauth", &["[[gho_{a36}]]"]),
    ("github-user-to-server", &["[[ghu_{a36}]]"]),
    ("github-server-to-server", &["[[ghs_{a36}]]"]),
    ("github-refresh-token", &["[[ghr_{a76}]]"]),
    ("github-fine-grained-pat", &["[[github_pat_{a22}_{a59}]]"]),
    ("gitlab-token", &["[[glpat-{a20}]]", "[[gldt-{a20}]]", "[[glrt-{a20}]]", "[[glptt-{h40}]]"]),
    ("npm-token", &["[[npm_{a36}]]", "//registry.npmjs.org/:_authToken=[[npm_{a36}]]"]),
    ("pypi-token", &["[[pypi-AgEIcHlwaS5vcmc{w70}]]"]),
    ("rubygems-api-key", &["[[rubygems_{h48}]]"]),
    ("clojars-api-token", &["[[CLOJARS_{n60}]]"]),
    ("nuget-api-key", &["[[oy2{n43}]]"]),
    ("dockerhub-pat", &["[[dckr_pat_{w27}]]"]),
    ("artifactory-api-key", &["[[AKCp{a69}]]"]),
    ("sourcegraph-token", &["[[sgp_{h16}_{h40}]]", "[[sgp_{h40}]]"]),
    ("buildkite-token", &["[[bkua_{h40}]]"]),
    ("figma-token", &["[[figd_{w40}]]"]),
    ("atlassian-api-token", &["[[ATATT3xFfGF0{w170}={H8}]]"]),
    ("linear-api-key", &["[[lin_api_{a40}]]"]),
    ("postman-api-key", &["[[PMAK-{h24}-{h34}]]"]),
    ("sentry-user-token", &["[[sntryu_{h64}]]"]),
    ("sentry-org-token", &["[[sntrys_eyJ{w80}]]"]),
    ("contentful-pat", &["[[CFPAT-{w43}]]"]),
    ("typeform-token", &["[[tfp_{w59}]]"]),
    ("readme-api-key", &["[[rdme_{n70}]]"]),
    ("prefect-api-key", &["[[pnu_{a36}]]"]),
    ("infracost-api-key", &["[[ico-{a32}]]"]),
    ("octopus-deploy-api-key", &["[[API-{u26}]]"]),
    ("adobe-client-secret", &["[[p8e-{a32}]]"]),
    ("defined-networking-api-token", &["[[dnkey-{n26}-{n52}]]"]),
    ("frameio-api-token", &["[[fio-u-{w64}]]"]),
    ("easypost-api-token", &["[[EZAK{a54}]]"]),
    ("flutterwave-secret-key", &["[[FLWSECK_TEST-{h32}-X]]"]),
    ("shippo-api-token", &["[[shippo_live_{h40}]]"]),
    ("brevo-api-key", &["[[xkeysib-{h64}-{a16}]]"]),
    ("scalingo-api-token", &["[[tk-us-{w48}]]"]),
    ("duffel-api-token", &["[[duffel_test_{w43}]]"]),
    ("harness-api-key", &["[[pat.{w22}.{h24}.{a20}]]"]),
    ("1password-service-account-token", &["[[ops_eyJ{b200}]]"]),
    ("openshift-user-token", &["[[sha256~{w43}]]"]),
    ("notion-token", &["[[ntn_{d11}{a35}]]", "[[secret_{a43}]]"]),
    ("supabase-key", &["[[sbp_{h40}]]", "[[sb_secret_{w32}]]"]),
    ("flyio-token", &["[[fo1_{w43}]]"]),
    ("render-api-key", &["[[rnd_{a32}]]"]),
    ("resend-api-key", &["[[re_{a8}_{a24}]]"]),
    ("aws-access-key", &["[[AKIA{u16}]]", "[[ASIA{u16}]]", "[[ABIA{u16}]]", "[[ACCA{u16}]]"]),
    (
        "aws-secret-access-key",
        &["AWS_SECRET_ACCESS_KEY=[[{b40}]]", "aws_secret_access_key = [[{b40}]]", "\"SecretAccessKey\": \"[[{b40}]]\""],
    ),
    ("aws-secret-key-heuristic", &["[[{b40}]] # aws", "aws creds [[{b40}]]", "AWS key pair: AKIA and [[{b40}]]"]),
    ("gcp-service-account-key", &["\"private_key\": \"[[-----BEGIN PRIVATE KEY-----]]\\n{b64}\\n-----END PRIVATE KEY-----\\n\""]),
    ("google-oauth-client-secret", &["[[GOCSPX-{w28}]]"]),
    ("google-oauth-access-token", &["[[ya29.{w150}]]"]),
    ("google-oauth-refresh-token", &["[[1//0{w60}]]"]),
    ("firebase-fcm-server-key", &["[[AAAA{w7}:APA91b{w134}]]"]),
    (
        "azure-storage-account-key",
        &["DefaultEndpointsProtocol=https;AccountName=acct{n6};AccountKey=[[{b86}==]];EndpointSuffix=core.windows.net"],
    ),
    (
        "azure-shared-access-key",
        &["Endpoint=sb://ns{n6}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=[[{b43}=]]"],
    ),
    (
        "azure-sas-token",
        &["https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&sig=[[{a43}%3D]]"],
    ),
    ("azure-ad-client-secret", &["AZURE_CLIENT_SECRET=[[{a3}8Q~{w34}]]"]),
    ("digitalocean-token", &["[[dop_v1_{h64}]]", "[[doo_v1_{h64}]]"]),
    ("alibaba-access-key-id", &["[[LTAI{a20}]]"]),
    ("cloudflare-origin-ca-key", &["[[v1.0-{h24}-{h146}]]"]),
    ("cloudflare-api-token", &["CLOUDFLARE_API_TOKEN=[[{a40}]]", "cf_api_key: [[{h37}]]"]),
    ("heroku-api-key-v2", &["[[HRKU-AA{w58}]]"]),
    ("heroku-api-key", &["HEROKU_API_KEY=[[{h8}-{h4}-{h4}-{h4}-{h12}]]"]),
    ("vault-service-token", &["[[hvs.{w90}]]", "[[hvb.{w138}]]"]),
    ("terraform-cloud-token", &["[[{a14}.atlasv1.{w67}]]"]),
    ("doppler-token", &["[[dp.pt.{a43}]]", "[[dp.st.{a43}]]"]),
    ("databricks-token", &["[[dapi{h32}]]"]),
    ("grafana-cloud-token", &["[[glc_{a60}]]"]),
    ("grafana-service-account-token", &["[[glsa_{a32}_{h8}]]"]),
    ("new-relic-key", &["[[NRAK-{u27}]]", "[[NRJS-{h19}]]"]),
    ("dynatrace-api-token", &["[[dt0c01.{u24}.{u64}]]"]),
    ("datadog-api-key", &["DD_API_KEY=[[{h32}]]", "datadog_app_key: [[{h40}]]"]),
    ("age-secret-key", &["[[AGE-SECRET-KEY-1{z58}]]"]),
    ("slack-token", &["[[xoxb-{d12}-{d13}-{a24}]]", "[[xoxp-{d12}-{d12}-{d13}-{h32}]]"]),
    ("slack-app-token", &["[[xapp-1-A{u10}-{d13}-{h64}]]"]),
    ("slack-webhook-url", &["[[https://hooks.slack.com/services/T{u8}/B{u10}/{a24}]]"]),
    ("discord-webhook-url", &["[[https://discord.com/api/webhooks/{d18}/{w68}]]"]),
    ("discord-bot-token", &["DISCORD_BOT_TOKEN=[[MT{a24}.{w6}.{w38}]]"]),
    ("telegram-bot-token", &["TELEGRAM_BOT_TOKEN=[[{d10}:AA{w33}]]"]),
    (
        "teams-webhook-url",
        &["[[https://contoso.webhook.office.com/webhookb2/{h8}-{h4}-{h4}-{h4}-{h12}@{h8}-{h4}-{h4}-{h4}-{h12}/IncomingWebhook/{h32}/{h8}-{h4}-{h4}-{h4}-{h12}]]"],
    ),
    ("google-chat-webhook-url", &["[[https://chat.googleapis.com/v1/spaces/AAAA{w7}/messages?key=AIza{w35}&token={w43}%3D]]"]),
    ("twilio-api-key", &["[[SK{h32}]]"]),
    ("sendgrid-api-key", &["[[SG.{w22}.{w43}]]"]),
    ("mailgun-api-key", &["[[key-{h32}]]"]),
    ("mailchimp-api-key", &["[[{h32}-us{d2}]]"]),
    ("stripe-secret-key", &["[[sk_live_{a24}]]", "[[sk_test_{a99}]]"]),
    ("stripe-restricted-key", &["[[rk_live_{a24}]]"]),
    ("stripe-webhook-secret", &["[[whsec_{a32}]]"]),
    ("square-token", &["[[sq0atp-{w22}]]", "[[sq0csp-{w43}]]"]),
    ("shopify-token", &["[[shpat_{h32}]]", "[[shpss_{h32}]]", "[[shpca_{h32}]]", "[[shppa_{h32}]]"]),
    ("facebook-access-token", &["[[EAAC{a150}]]"]),
    ("twitter-bearer-token", &["[[AAAAAAAAAAAAAAAAAAAAA{a20}%2B{a20}%3D{a50}]]"]),
    ("mapbox-secret-token", &["[[sk.eyJ1Ijoi{a50}.{w22}]]"]),
    ("openssh-private-key", &["[[-----BEGIN OPENSSH PRIVATE KEY-----\n{b70}\n{b70}\n-----END OPENSSH PRIVATE KEY-----]]"]),
    ("pgp-private-key", &["[[-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{b64}\n{b64}\n-----END PGP PRIVATE KEY BLOCK-----]]"]),
    (
        "private-key",
        &[
            "[[-----BEGIN RSA PRIVATE KEY-----\n{b64}\n{b64}\n-----END RSA PRIVATE KEY-----]]",
            "[[-----BEGIN EC PRIVATE KEY-----\n{b64}\n-----END EC PRIVATE KEY-----]]",
            "[[-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----]]",
            "[[-----BEGIN ENCRYPTED PRIVATE KEY-----\n{b64}\n-----END ENCRYPTED PRIVATE KEY-----]]",
        ],
    ),
    ("putty-private-key", &["[[PuTTY-User-Key-File-3:]] ssh-ed25519\nEncryption: none\nPublic-Lines: 2\n{b64}\nPrivate-Lines: 1\n{b44}"]),
    (
        "jwt",
        &["[[eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{w40}.{w43}]]", "[[eyJ{w10}.eyJ{w10}.{w10}]]", "Authorization: Bearer [[eyJ{w30}.eyJ{w80}.{w43}]]"],
    ),
    ("meshgate-peer-token", &["[[mgp_{w43}]]", "MESH_GATEWAY_TOKEN=[[mgp_{w43}]]"]),
    ("meshgate-operator-token", &["[[mgo_{w43}]]", "MESHGATE_OPERATOR_TOKEN=[[mgo_{w43}]]"]),
    ("mesh-gateway-token-assignment", &["MESH_GATEWAY_TOKEN=[[{w32}]]", "export MESH_GATEWAY_TOKEN=\"[[{w64}]]\"", "MESH_GATEWAY_TOKEN: [[{a12}]]"]),
    ("mesh-gateway-token-heuristic", &["[[{w64}]] <- MESH_GATEWAY_TOKEN", "MESH_GATEWAY_TOKEN value is [[{w56}]]"]),
    (
        "url-with-password",
        &[
            "postgres://app:[[{a16}]]@db.internal:5432/app",
            "mongodb+srv://admin:[[{a20}]]@cluster0.{n5}.mongodb.net/",
            "redis://:[[{a24}]]@cache:6379/0",
            "https://deploy:[[{a20}]]@git.example.com/r.git",
            "amqp://worker:[[{a12}]]@mq:5672/",
            "mysql://root:[[{a10}-{a4}!]]@127.0.0.1:3306/db",
        ],
    ),
    (
        "url-with-password",
        &[
            "postgres://app:[[Pa$${p10}!(x]]@db:5432/main",
            "DATABASE_URL=mysql://root:[[{p16}]]@127.0.0.1:3306/db",
            "amqp://svc:[[{p8}$({p4}]]@mq.internal:5672/",
        ],
    ),
    (
        "generic-secret-assignment",
        &[
            "password: \"[[Ab$${p6}(ef{p6}]]\"",
            "\"db_password\": \"[[{p20}]]\"",
            "secret = '[[{p12}!{d2}]]'",
            "DB_PASSWORD=[[Pa$${p10}!(x{d2}]]",
        ],
    ),
    (
        "connection-string-password",
        &[
            "Server=tcp:db.example.net,1433;Initial Catalog=app;User ID=svc;Password=[[{s16}]];Encrypt=True;",
            "Data Source=db;Database=x;Uid=u;Pwd=[[{a14}]];",
        ],
    ),
    ("authorization-header", &["Authorization: Bearer [[{w40}]]", "-H 'Authorization: Basic [[{b24}]]'", "\"authorization\": \"token [[{a40}]]\""]),
    ("curl-basic-auth", &["curl -u admin:[[{a16}]] https://api.example.com/"]),
    ("bearer-token", &["use bearer [[{a40}]] for the call"]),
    (
        "generic-secret-assignment",
        &[
            "password = \"[[{s16}]]\"",
            "DB_PASSWORD=[[{a20}]]",
            "\"api_key\": \"[[{a32}]]\"",
            "client_secret: [[{a40}]]",
            "secret_token='[[{s24}]]'",
            "PRIVATE_KEY=0x[[{h64}]]",
        ],
    ),
];

/// Wrap a snippet into a realistic document. Returns the marked doc.
pub const CONTEXTS: &[(&str, &str)] = &[
    ("env", "# env dump\nHOME=/home/agent\nPATH=/usr/local/bin:/usr/bin:/bin\n{S}\nLANG=C.UTF-8\nTZ=UTC\n"),
    ("json", "{\"level\":\"info\",\"msg\":\"config loaded\",\"value\":\"{J}\",\"ts\":1700000000,\"pid\":4242}"),
    ("log", "2024-05-01T12:00:00.123Z INFO worker-3 req=7f3a9c loaded {S} status=200 dur=12ms\n"),
    ("yaml", "services:\n  api:\n    image: registry.example.com/api:1.4.2\n    environment:\n      - {S}\n    ports: [\"8080:8080\"]\n"),
    ("prose", "Hey, can you check why the deploy fails? I pasted {S} into the config yesterday, then restarted. Thanks!"),
    ("markdown", "Steps to reproduce:\n\n```bash\n{S}\n./run.sh --verbose\n```\n"),
];

fn json_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub struct Positive {
    pub rule_id: &'static str,
    /// The template (placeholders only, never a generated secret).
    pub template: &'static str,
    pub label: &'static str,
    pub context: &'static str,
    pub text: String,
    pub span: Range<usize>,
}

pub fn positives(seeds: u64) -> Vec<Positive> {
    let mut out = Vec::new();
    for (ti, (rule_id, templates)) in POSITIVES.iter().enumerate() {
        let label = rules().iter().find(|r| r.id == *rule_id).unwrap_or_else(|| panic!("unknown rule {rule_id}")).label;
        for (k, t) in templates.iter().enumerate() {
            for (ci, (cname, ctx)) in CONTEXTS.iter().enumerate() {
                for seed in 0..seeds {
                    let mut rng = Rng::new((ti as u64) << 32 ^ (k as u64) << 24 ^ (ci as u64) << 16 ^ seed);
                    let snippet = expand(t, &mut rng);
                    let doc = ctx.replace("{S}", &snippet).replace("{J}", &json_escape(&snippet));
                    let (text, span) = unmark(&doc);
                    out.push(Positive { rule_id, template: t, label, context: cname, text, span });
                }
            }
        }
    }
    out
}

#[derive(Default)]
pub struct LabelStats {
    pub total: usize,
    /// Found with the expected label.
    pub labelled: usize,
    /// Blocked (any finding overlapping the secret).
    pub blocked: usize,
}

pub struct Report {
    pub per_label: BTreeMap<&'static str, LabelStats>,
    pub misses: Vec<String>,
    pub bait_total: usize,
    pub bait_fp: usize,
    pub fp_examples: Vec<String>,
    pub bait_per_kind: BTreeMap<&'static str, (usize, usize)>,
}

impl Report {
    pub fn recall(&self) -> f64 {
        let (t, l) = self.per_label.values().fold((0, 0), |a, s| (a.0 + s.total, a.1 + s.labelled));
        l as f64 / t as f64
    }
    pub fn block_rate(&self) -> f64 {
        let (t, b) = self.per_label.values().fold((0, 0), |a, s| (a.0 + s.total, a.1 + s.blocked));
        b as f64 / t as f64
    }
    pub fn fp_rate(&self) -> f64 {
        self.bait_fp as f64 / self.bait_total as f64
    }
    pub fn positives(&self) -> usize {
        self.per_label.values().map(|s| s.total).sum()
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "| label | samples | recall (label) | blocked (any label) |\n|---|---:|---:|---:|");
        for (label, st) in &self.per_label {
            let _ = writeln!(
                s,
                "| {label} | {} | {:.1}% | {:.1}% |",
                st.total,
                100.0 * st.labelled as f64 / st.total as f64,
                100.0 * st.blocked as f64 / st.total as f64
            );
        }
        let _ = writeln!(
            s,
            "| **all ({} labels)** | **{}** | **{:.2}%** | **{:.2}%** |\n",
            self.per_label.len(),
            self.positives(),
            100.0 * self.recall(),
            100.0 * self.block_rate()
        );
        let _ = writeln!(s, "| bait kind | documents | flagged |\n|---|---:|---:|");
        for (kind, (n, fp)) in &self.bait_per_kind {
            let _ = writeln!(s, "| {kind} | {n} | {fp} |");
        }
        let _ = writeln!(
            s,
            "| **all bait** | **{}** | **{} ({:.2}%)** |",
            self.bait_total,
            self.bait_fp,
            100.0 * self.fp_rate()
        );
        s
    }
}

pub fn evaluate(scanner: &Scanner, seeds: u64) -> Report {
    let mut per_label: BTreeMap<&'static str, LabelStats> = BTreeMap::new();
    let mut misses = Vec::new();
    for p in positives(seeds) {
        let findings = scanner.scan(&p.text);
        let overlapping: Vec<_> =
            findings.iter().filter(|f| f.span.start < p.span.end && p.span.start < f.span.end).collect();
        let st = per_label.entry(p.label).or_default();
        st.total += 1;
        if !overlapping.is_empty() {
            st.blocked += 1;
        }
        if overlapping.iter().any(|f| f.label() == p.label) {
            st.labelled += 1;
        } else if misses.len() < 200 {
            // Rule ids and labels only: never print the generated secret.
            misses.push(format!(
                "{} (template `{}`) in {}: got {:?}",
                p.rule_id,
                p.template,
                p.context,
                overlapping.iter().map(|f| f.rule_id()).collect::<Vec<_>>()
            ));
        }
    }
    let mut bait_per_kind: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let (mut bait_total, mut bait_fp, mut fp_examples) = (0, 0, Vec::new());
    for (kind, text) in bait(seeds.max(4)) {
        let findings = scanner.scan(&text);
        bait_total += 1;
        let e = bait_per_kind.entry(kind).or_default();
        e.0 += 1;
        if !findings.is_empty() {
            bait_fp += 1;
            e.1 += 1;
            if fp_examples.len() < 50 {
                fp_examples.push(format!("{kind}: {:?}", findings.iter().map(|f| f.rule_id()).collect::<Vec<_>>()));
            }
        }
    }
    Report { per_label, misses, bait_total, bait_fp, fp_examples, bait_per_kind }
}
