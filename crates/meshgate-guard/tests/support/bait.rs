//! Clean bait for the evaluation: text that carries long random-looking
//! strings but no credential, by category of real text.

use super::{expand, Rng};

/// Clean bait: (category, template), each written after a category of real
/// text that carries long random-looking strings but no credential — not
/// after the rules. Every template is also placed in each of [`NEAR_WORDS`],
/// sentences that put a credential word next to it: nearness alone must not
/// make a digest, slug or key ID a secret.
pub const BAIT: &[(&str, &str)] = &[
    ("commit digest", "commit {h40}\nAuthor: Dev <dev@example.com>\nDate: Mon May 6 10:00:00 2024\n\n    fix: handle retries"),
    ("commit digest", "{h7} Merge pull request #123 from org/feature-branch ({h40})"),
    ("commit digest", "see https://github.com/org/repo/commit/{h40} and https://github.com/org/repo/blob/{h40}/src/main.rs#L10"),
    ("docker digest", "image: registry.example.com/app@sha256:{h64}"),
    ("docker digest", "Digest: sha256:{h64}\nStatus: Downloaded newer image for app:latest"),
    ("docker digest", "\"config\":{\"digest\":\"sha256:{h64}\",\"size\":7023}"),
    ("go.sum", "golang.org/x/crypto v0.17.0 h1:{b43}=\ngolang.org/x/crypto v0.17.0/go.mod h1:{b43}="),
    ("npm integrity", "\"integrity\": \"sha512-{b86}==\",\n\"resolved\": \"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz\""),
    ("npm integrity", "left-pad@1.3.0:\n  resolved \"https://registry.yarnpkg.com/left-pad/-/left-pad-1.3.0.tgz#{h40}\"\n  integrity sha1-{b27}="),
    ("SRI", "<script src=\"https://cdn.example.com/lib.min.js\" integrity=\"sha384-{b64}\" crossorigin=\"anonymous\"></script>"),
    ("SRI", "<link rel=\"stylesheet\" href=\"/app.css\" integrity=\"sha256-{b43}=\">"),
    ("hash list", "md5 {h32}\nsha1 {h40}\nsha256 {h64}\nblake3 {h64}"),
    ("hash list", "{h64}  meshgate-x86_64-unknown-linux-gnu.tar.gz\n{h64}  meshgate-aarch64-apple-darwin.tar.gz"),
    ("hash list", "ETag: \"{h32}\"\nX-Request-Id: {h32}\nX-Amz-Cf-Id: {w56}=="),
    ("uuid", "request_id={h8}-{h4}-4{h3}-a{h3}-{h12} user={h8}-{h4}-4{h3}-b{h3}-{h12}"),
    ("uuid", "{\"id\":\"{H8}-{H4}-4{H3}-8{H3}-{H12}\",\"parent\":\"{h8}-{h4}-4{h3}-9{h3}-{h12}\"}"),
    ("base64 image", "<img src=\"data:image/png;base64,iVBORw0KGgo{b300}==\" alt=\"logo\">"),
    ("base64 image", "background: url(data:image/svg+xml;base64,PHN2ZyB4bWxucz0i{b200}=);"),
    ("url and slug", "https://news.example.com/2027/03/sk-hynix-{W6}-2027"),
    ("url and slug", "https://blog.example.org/posts/{W8}-{d4}/ and https://example.com/{W5}?utm_source={W1}"),
    ("url and slug", "https://www.example.com/xai-{W5} https://docs.example.com/pypi-{W6}"),
    ("url and slug", "https://example.com/search?q={W3}&page=2#{W2} http://[::1]:8080/{W2}"),
    ("file name", "attached {W7}-{d4}-{d2}-{d2}-final-v{d1}.md and {C5}_{d4}.pdf"),
    ("file name", "build/{W4}-{d1}.{d2}.{d1}-x86_64-unknown-linux-gnu.tar.gz"),
    ("file name", "Meshgate-{C2}-Notes-{d4}-Q{d1}-{W3}-v{d1}.docx"),
    ("path", "/home/agent/.cache/pip/wheels/{h2}/{h2}/{h56}/pkg-1.0-py3-none-any.whl"),
    ("path", "C:\\Users\\dev\\AppData\\Local\\Temp\\{h32}\\build.log"),
    ("path", "/var/lib/docker/overlay2/{h64}/diff/etc/{W2}.conf"),
    ("public key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{b43} agent@host"),
    ("public key", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ{b300} deploy@ci"),
    ("public key", "-----BEGIN PUBLIC KEY-----\n{b64}\n{b64}\n-----END PUBLIC KEY-----"),
    ("public key", "-----BEGIN CERTIFICATE-----\n{b64}\n{b64}\n-----END CERTIFICATE-----"),
    ("public key", "[Peer]\nPublicKey = {b43}=\nAllowedIPs = 10.0.0.2/32"),
    ("public key", "recipient: age1{l58}"),
    ("JWT-like non-secret", "{\"kty\":\"RSA\",\"kid\":\"{w43}\",\"use\":\"sig\",\"n\":\"{w342}\",\"e\":\"AQAB\"}"),
    ("JWT-like non-secret", "JWT header eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9 decodes to alg RS256"),
    ("JWT-like non-secret", "state=eyJ{w60}&code_challenge={w43}&code_challenge_method=S256"),
    ("identifier", "fn handle_incoming_request_with_retry_and_exponential_backoff_policy() {}"),
    ("identifier", "class {C6}Impl extends Base {} // {S5}"),
    ("identifier", "const {S4}_LEN: usize = 32; let secret_len = {S3}.len();"),
    ("identifier", "the sk-learn-model-selection-cross-validation-helper module and {W6}"),
    ("prose", "OpenAI keys start with sk- and GitHub tokens use the ghp_ prefix; AWS access keys begin with AKIA."),
    ("prose", "Set MESH_GATEWAY_TOKEN in your environment and never paste it; peers get mgp_ tokens, operators mgo_ ones."),
    ("prose", "The bearer token is required. Use the Authorization header with your token. Password must be 12+ chars."),
    ("code", "password = os.environ[\"DB_PASSWORD\"]\ntoken = get_token(user)\napi_key: ${API_KEY}"),
    ("code", "const secret = process.env.SECRET;\nif (password.length < 8) { return false; }"),
    ("code", "secret_name: my-app-db-credentials\npassword_policy: min_length=12\napi_key_header_name = X-API-Key"),
    ("code", "MESH_GATEWAY_TOKEN=${MESH_GATEWAY_TOKEN}\nAuthorization: Bearer $TOKEN\npassword: ********"),
    ("code", "DATABASE_URL=postgres://app:${PG_PASSWORD}@db:5432/app\nREDIS_URL=redis://:{{ redis_password }}@cache:6379"),
    ("code", "password: \"%(db_password)s\"\ntoken: <your-token-here>\nsecret: {{ .Values.secret }}"),
];

/// Sentences placing a credential word next to the bait (`{B}`).
pub const NEAR_WORDS: &[&str] = &[
    "{B}",
    "MESH_GATEWAY_TOKEN was rotated yesterday; reference: {B}",
    "{B} <- not the aws key, just the artifact",
    "token rotation notes:\n{B}\nend of notes",
    "password reset done, see {B} for the audit",
    "the secret manager logged {B}",
];

pub fn bait(seeds: u64) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (bi, (kind, t)) in BAIT.iter().enumerate() {
        for (wi, wrap) in NEAR_WORDS.iter().enumerate() {
            for seed in 0..seeds {
                let mut rng = Rng::new(0xBA17 ^ (bi as u64) << 20 ^ (wi as u64) << 12 ^ seed);
                out.push((*kind, wrap.replace("{B}", &expand(t, &mut rng))));
            }
        }
    }
    out
}
