//! The rule table: the single source of truth for what the guard detects.
//!
//! Patterns are written in `regex-automata` syntax. `\b` is rewritten to the
//! ASCII word boundary `(?-u:\b)` when compiled, which every DFA engine
//! supports.
//!
//! Three kinds of rules exist:
//!
//! * **prefixed** rules start with a literal anchor (`ghp_`, `AKIA`, `-----BEGIN`…).
//!   Their literal prefixes are extracted at build time and fed to the stage-1
//!   literal scan; the rules are compiled together into one multi-pattern
//!   regex that is only run *anchored* at the positions where an anchor
//!   occurs. PEM-style blocks ([`pem`]) match their header by regex and
//!   extend to the first matching end line inside the base64 body;
//! * **gated** rules have no literal prefix (e.g. `user:pass@host`, a Telegram
//!   token `123456789:AA…`, `password = …`); they are evaluated only around
//!   occurrences of one of their *gate* literals. A gate is ASCII
//!   case-insensitive unless written `!gate`, and `^gate` must not follow an
//!   ASCII letter. [`Scope::Local`] rules contain the gate at most `back`
//!   bytes after the start of the match, so the regex only runs from there
//!   (then resumes after its previous match on the line); [`Scope::Line`]
//!   rules look at the whole line (at most once per line). The reported value
//!   is the group `s` (the whole match without one); a top-level `s` is cut
//!   out with DFA searches of the parts before, in and after it, which finds
//!   the capture engine's answer whenever each part's preferred match lets the
//!   rest match. Prefer greedy values that end where the pattern needs them
//!   to (see `connection-string-password`): a lazy value is resolved by the
//!   slower capture engine;
//! * **run** rules are the "keyword on the same line" heuristics of the Python
//!   guard (40-char AWS secret, 48+-char mesh token): maximal runs of an
//!   alphabet are measured on lines that contain the keyword.

use crate::Rule;

/// Specificity of the caller's own bearer token (exact match, zero false positives).
pub const SPEC_OWN_TOKEN: u8 = 100;
/// A vendor shape nested inside a broader vendor shape (e.g. `sk-ant-admin01-`
/// inside `sk-ant-`, DeepSeek `sk-<32 hex>` inside OpenAI `sk-…`), or a
/// container that is more informative than what it contains (service-account
/// JSON around a PEM key).
pub const SPEC_NESTED: u8 = 90;
/// A vendor-specific format with a distinctive prefix or keyword.
pub const SPEC_VENDOR: u8 = 80;
/// A broad shape shared by several vendors (generic OpenAI-style `sk-…`,
/// generic PEM private key, JWT).
pub const SPEC_BROAD: u8 = 70;
/// A credential recognised from its key name (`AWS_SECRET_ACCESS_KEY=`,
/// `MESH_GATEWAY_TOKEN=`, `Password=…;`, `user:pass@host`, `Authorization:`).
pub const SPEC_ASSIGNMENT: u8 = 60;
/// A "keyword somewhere on the same line" heuristic (Python guard heritage).
pub const SPEC_LINE_HEURISTIC: u8 = 40;
/// A generic high-entropy assignment (`password = "…"`, `Bearer …`).
pub const SPEC_GENERIC: u8 = 20;

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Prefixed { pattern: &'static str, check: Check, block_end: Option<&'static str> },
    Gated { gates: &'static [&'static str], pattern: &'static str, check: Check, scope: Scope },
    Run { gates: &'static [&'static str], class: RunClass, min: usize, max: usize, check: Check },
    OwnToken,
}

/// Where a gated rule's regex is evaluated relative to a gate occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The gate lies inside the match, at most `back` bytes after its start:
    /// search from `gate - back` (within the line).
    Local { back: usize },
    /// The gate may be anywhere on the line: evaluate the whole line once.
    Line,
}

/// Post-match validation applied to the secret value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    None,
    NotWords,
    MixedAws,
    Generic,
    UrlPassword,
    ConnString,
    NotRef,
    /// The line heuristic's mesh-gateway token shape (see `checks::mesh_shape`).
    MeshShape,
    NotPlaceholder,
    HasPercent,
    AzureSas,
}

/// Alphabet of a line-heuristic token run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunClass {
    /// `[A-Za-z0-9/+]`
    AwsSecret,
    /// `[A-Za-z0-9_-]`
    UrlSafe,
}

impl RunClass {
    #[inline]
    pub(crate) fn contains(self, b: u8) -> bool {
        /// Membership tables: one load per byte instead of range tests.
        const fn table(extra: [u8; 2]) -> [bool; 256] {
            let mut t = [false; 256];
            let mut b = 0;
            while b < 256 {
                let c = b as u8;
                t[b] = c.is_ascii_alphanumeric() || c == extra[0] || c == extra[1];
                b += 1;
            }
            t
        }
        static AWS_SECRET: [bool; 256] = table([b'/', b'+']);
        static URL_SAFE: [bool; 256] = table([b'_', b'-']);
        match self {
            RunClass::AwsSecret => AWS_SECRET[b as usize],
            RunClass::UrlSafe => URL_SAFE[b as usize],
        }
    }
}

const fn p(
    id: &'static str,
    label: &'static str,
    source: &'static str,
    specificity: u8,
    pattern: &'static str,
    check: Check,
) -> Rule {
    Rule { id, label, source, specificity, kind: Kind::Prefixed { pattern, check, block_end: None } }
}

/// A PEM-style block: `header` (a prefixed pattern), then optionally a body of
/// `[A-Za-z0-9+/=\s:,.\\-]` up to the first `end` — the same language as
/// `header(?:[A-Za-z0-9+/=\s:,.\\-]*?end)?`, matched without rescanning the body
/// for every header of a long run of blocks.
const fn pem(
    id: &'static str,
    label: &'static str,
    source: &'static str,
    specificity: u8,
    header: &'static str,
    end: &'static str,
) -> Rule {
    Rule {
        id,
        label,
        source,
        specificity,
        kind: Kind::Prefixed { pattern: header, check: Check::None, block_end: Some(end) },
    }
}

#[allow(clippy::too_many_arguments)] // a table-row constructor: one argument per column
const fn g(
    id: &'static str,
    label: &'static str,
    source: &'static str,
    specificity: u8,
    gates: &'static [&'static str],
    pattern: &'static str,
    check: Check,
    scope: Scope,
) -> Rule {
    Rule { id, label, source, specificity, kind: Kind::Gated { gates, pattern, check, scope } }
}

use Check::{
    AzureSas, ConnString, Generic, HasPercent, MeshShape, MixedAws, NotPlaceholder, NotRef, NotWords, UrlPassword,
};
const NONE: Check = Check::None;
const LINE: Scope = Scope::Line;
const fn loc(back: usize) -> Scope {
    Scope::Local { back }
}
const N: u8 = SPEC_NESTED;
const V: u8 = SPEC_VENDOR;
const B: u8 = SPEC_BROAD;
const A: u8 = SPEC_ASSIGNMENT;

const GH: &str = "https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-authentication-to-github#githubs-token-formats";
const OPENAI: &str = "https://platform.openai.com/docs/api-reference/authentication; gitleaks: openai-api-key";

/// Label of the own-token rule.
pub const OWN_TOKEN_LABEL: &str = "own gateway token";

/// Whether rule `ri` is one of meshgate's own token formats (`mgp_…`,
/// `mgo_…`). Those are found wherever they sit, also glued to a word
/// (`MY_TOKEN_mgp_…`, `?token%3Dmgp_…`) or between `-`/`+`: 256 random bits
/// behind our own prefix are never a fragment of something else, and a live
/// token pasted into a URL or a variable name is still a live token.
pub(crate) fn is_meshgate_token(ri: usize) -> bool {
    matches!(RULES[ri].id, "meshgate-peer-token" | "meshgate-operator-token")
}

/// Index of the own-token rule in [`RULES`].
pub const OWN_TOKEN_INDEX: usize = 0;

/// All rules. Index 0 is the own-token rule (matched by exact search, not regex).
pub static RULES: &[Rule] = &[
    Rule {
        id: "own-gateway-token",
        label: OWN_TOKEN_LABEL,
        source: "meshgate: exact occurrence of the caller's own bearer token (>= 8 chars); Python swarph_mesh._check_no_secret live-token check",
        specificity: SPEC_OWN_TOKEN,
        kind: Kind::OwnToken,
    },
    // ---------------------------------------------------------------- LLM providers
    p("anthropic-admin-key", "anthropic admin key", "https://docs.anthropic.com/en/api/administration-api; gitleaks: anthropic-admin-api-key", N, r"\bsk-ant-admin01-[A-Za-z0-9_-]{20,}", NONE),
    p("anthropic-api-key", "anthropic api key", "https://docs.anthropic.com/en/api/getting-started; gitleaks: anthropic-api-key; Python guard", V, r"\bsk-ant-[A-Za-z0-9_-]{20,}", NotWords),
    p("openai-admin-key", "openai ADMIN key (org-level privilege)", "https://platform.openai.com/docs/api-reference/admin-api-keys; Python guard", N, r"\bsk-admin-[A-Za-z0-9_-]{20,}", NONE),
    p("openrouter-api-key", "openrouter api key", "https://openrouter.ai/docs/api-reference/authentication", N, r"\bsk-or-v1-[a-f0-9]{64}\b", NONE),
    p("langfuse-secret-key", "langfuse secret key", "https://langfuse.com/docs/api (sk-lf-<uuid>)", N, r"\bsk-lf-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}\b", NONE),
    p("deepseek-api-key", "deepseek api key", "https://api-docs.deepseek.com/ (sk-<32 hex>); Python guard", N, r"\bsk-[a-f0-9]{32}\b", NONE),
    p("openai-project-key", "openai api key", OPENAI, N, r"\bsk-proj-[A-Za-z0-9_-]{20,}", NONE),
    p("openai-svcacct-key", "openai api key", OPENAI, N, r"\bsk-svcacct-[A-Za-z0-9_-]{20,}", NONE),
    p("openai-api-key", "openai api key", OPENAI, B, r"\bsk-[A-Za-z0-9_-]{20,}", NotWords),
    p("xai-api-key", "xai api key", "https://docs.x.ai/docs/overview; gitleaks: xai-api-key; Python guard", V, r"\bxai-[A-Za-z0-9_-]{40,}", NotWords),
    p("google-api-key", "google api key", "https://cloud.google.com/docs/authentication/api-keys; gitleaks: gcp-api-key; Python guard", V, r"\bAIza[0-9A-Za-z_-]{35}", NONE),
    p("groq-api-key", "groq api key", "https://console.groq.com/docs/api-keys (gsk_)", V, r"\bgsk_[A-Za-z0-9]{40,}", NONE),
    p("huggingface-token", "hugging face token", "https://huggingface.co/docs/hub/security-tokens; gitleaks: huggingface-access-token", V, r"\bhf_[A-Za-z0-9]{30,}", NONE),
    p("huggingface-org-token", "hugging face token", "gitleaks: huggingface-organization-api-token", V, r"\bapi_org_[A-Za-z0-9]{30,}", NONE),
    p("replicate-api-token", "replicate api token", "https://replicate.com/docs/topics/security/api-tokens (r8_)", V, r"\br8_[A-Za-z0-9]{30,}", NONE),
    p("perplexity-api-key", "perplexity api key", "https://docs.perplexity.ai/guides/getting-started; gitleaks: perplexity-api-key", V, r"\bpplx-[A-Za-z0-9]{40,}", NONE),
    p("fireworks-api-key", "fireworks api key", "https://docs.fireworks.ai/api-reference/introduction (fw_)", V, r"\bfw_[A-Za-z0-9]{24,}", NONE),
    p("langsmith-api-key", "langsmith api key", "https://docs.smith.langchain.com/administration/how_to_guides/organization_management/create_account_api_key (lsv2_pt_/lsv2_sk_)", V, r"\blsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}\b", NONE),
    p("tavily-api-key", "tavily api key", "https://docs.tavily.com/ (tvly-)", V, r"\btvly-(?:dev-|prod-)?[A-Za-z0-9]{30,}", NONE),
    p("pinecone-api-key", "pinecone api key", "https://docs.pinecone.io/guides/projects/manage-api-keys (pcsk_)", V, r"\bpcsk_[A-Za-z0-9]{4,8}_[A-Za-z0-9]{40,}", NONE),
    g("cohere-api-key", "cohere api key", "gitleaks: cohere-api-token (keyword cohere + 40 alnum)", V, &["cohere"], r#"(?i)cohere[A-Za-z0-9_ .-]{0,20}(?:key|token)[\\"'\]]*\s*(?::=|=>|[:=])\s*\\?["']?(?P<s>[A-Za-z0-9]{40})(?:[^A-Za-z0-9]|$)"#, NONE, loc(0)),
    // ---------------------------------------------------------------- code hosting & package registries
    p("github-pat", "github token", GH, V, r"\bghp_[A-Za-z0-9]{30,}", NONE),
    p("github-oauth", "github token", GH, V, r"\bgho_[A-Za-z0-9]{30,}", NONE),
    p("github-user-to-server", "github token", GH, V, r"\bghu_[A-Za-z0-9]{30,}", NONE),
    p("github-server-to-server", "github token", GH, V, r"\bghs_[A-Za-z0-9]{30,}", NONE),
    p("github-refresh-token", "github token", GH, V, r"\bghr_[A-Za-z0-9]{30,}", NONE),
    p("github-fine-grained-pat", "github token", GH, V, r"\bgithub_pat_[A-Za-z0-9_]{22,}", NONE),
    p("gitlab-token", "gitlab token", "https://docs.gitlab.com/security/tokens/#token-prefixes; gitleaks: gitlab-pat, gitlab-*", V, r"\b(?:glpat|gldt|glrt|glptt|glcbt|glft|glimt|glagent|gloas|glsoat|glffct|glwt)-[A-Za-z0-9_-]{20,}", NotWords),
    p("npm-token", "npm token", "https://docs.npmjs.com/about-access-tokens; gitleaks: npm-access-token", V, r"\bnpm_[A-Za-z0-9]{36}\b", NONE),
    p("pypi-token", "pypi token", "https://pypi.org/help/#apitoken; gitleaks: pypi-upload-token; Python guard", V, r"\bpypi-[A-Za-z0-9_-]{20,}", NotWords),
    p("rubygems-api-key", "rubygems api key", "gitleaks: rubygems-api-token", V, r"\brubygems_[a-f0-9]{48}\b", NONE),
    p("clojars-api-token", "clojars api token", "gitleaks: clojars-api-token", V, r"\bCLOJARS_[a-z0-9]{60}\b", NONE),
    p("nuget-api-key", "nuget api key", "gitleaks: nuget-config-password / NuGet API key oy2 prefix", V, r"\boy2[a-z0-9]{43}\b", NONE),
    p("dockerhub-pat", "docker hub token", "https://docs.docker.com/security/for-developers/access-tokens/ (dckr_pat_)", V, r"\bdckr_pat_[A-Za-z0-9_-]{27,}", NONE),
    p("artifactory-api-key", "jfrog artifactory api key", "gitleaks: artifactory-api-key", V, r"\bAKCp[A-Za-z0-9]{69}\b", NONE),
    p("sourcegraph-token", "sourcegraph access token", "gitleaks: sourcegraph-access-token", V, r"\bsgp_(?:(?:[a-f0-9]{16}|local)_)?[a-f0-9]{40}\b", NONE),
    p("buildkite-token", "buildkite api token", "https://buildkite.com/docs/apis/managing-api-tokens (bkua_)", V, r"\bbkua_[a-f0-9]{40}\b", NONE),
    p("figma-token", "figma token", "https://www.figma.com/developers/api#access-tokens (figd_)", V, r"\bfigd_[A-Za-z0-9_-]{40,}", NONE),
    p("atlassian-api-token", "atlassian api token", "gitleaks: atlassian-api-token (ATATT3)", V, r"\bATATT3[A-Za-z0-9_=-]{150,}", NONE),
    p("linear-api-key", "linear api key", "https://linear.app/developers/graphql#personal-api-keys; gitleaks: linear-api-key", V, r"\blin_(?:api|oauth)_[A-Za-z0-9]{40}\b", NONE),
    p("postman-api-key", "postman api key", "gitleaks: postman-api-token", V, r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b", NONE),
    p("sentry-user-token", "sentry token", "https://docs.sentry.io/account/auth-tokens/; gitleaks: sentry-user-token", V, r"\bsntryu_[a-f0-9]{64}\b", NONE),
    p("sentry-org-token", "sentry token", "https://docs.sentry.io/account/auth-tokens/; gitleaks: sentry-org-token", N, r"\bsntrys_eyJ[A-Za-z0-9_=+/.-]{30,}", NONE),
    p("contentful-pat", "contentful token", "gitleaks: contentful-delivery-api-token (CFPAT-)", V, r"\bCFPAT-[A-Za-z0-9_-]{43}", NONE),
    p("typeform-token", "typeform api token", "gitleaks: typeform-api-token", V, r"\btfp_[A-Za-z0-9_.=-]{59}", NONE),
    p("readme-api-key", "readme api token", "gitleaks: readme-api-token", V, r"\brdme_[a-z0-9]{70}\b", NONE),
    p("prefect-api-key", "prefect api token", "gitleaks: prefect-api-token", V, r"\bpnu_[A-Za-z0-9]{36}\b", NONE),
    p("infracost-api-key", "infracost api token", "gitleaks: infracost-api-token", V, r"\bico-[A-Za-z0-9]{32}\b", NONE),
    p("octopus-deploy-api-key", "octopus deploy api key", "gitleaks: octopus-deploy-api-key", V, r"\bAPI-[A-Z0-9]{26}\b", NONE),
    p("adobe-client-secret", "adobe client secret", "gitleaks: adobe-client-secret", V, r"\bp8e-[A-Za-z0-9_-]{32}", NotWords),
    p("defined-networking-api-token", "defined networking api token", "gitleaks: defined-networking-api-token", V, r"\bdnkey-[a-z0-9=_-]{26}-[a-z0-9=_-]{52}", NONE),
    p("frameio-api-token", "frame.io api token", "gitleaks: frameio-api-token", V, r"\bfio-u-[A-Za-z0-9_=-]{64}", NONE),
    p("easypost-api-token", "easypost api token", "gitleaks: easypost-api-token", V, r"\bEZ[AT]K[A-Za-z0-9]{54}\b", NONE),
    p("flutterwave-secret-key", "flutterwave secret key", "gitleaks: flutterwave-secret-key", V, r"\bFLWSECK(?:_TEST)?-[a-hA-H0-9]{32}-X\b", NONE),
    p("shippo-api-token", "shippo api token", "gitleaks: shippo-api-token", V, r"\bshippo_(?:live|test)_[a-f0-9]{40}\b", NONE),
    p("brevo-api-key", "brevo (sendinblue) api key", "gitleaks: sendinblue-api-token", V, r"\bxkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}\b", NONE),
    p("scalingo-api-token", "scalingo api token", "gitleaks: scalingo-api-token", V, r"\btk-us-[A-Za-z0-9_-]{48}", NONE),
    p("duffel-api-token", "duffel api token", "gitleaks: duffel-api-token", V, r"\bduffel_(?:test|live)_[A-Za-z0-9_=-]{43}", NONE),
    p("harness-api-key", "harness api key", "gitleaks: harness-api-key", V, r"\bpat\.[A-Za-z0-9_-]{22}\.[0-9a-f]{24}\.[A-Za-z0-9]{20}\b", NONE),
    p("1password-service-account-token", "1password service account token", "gitleaks: 1password-service-account-token (ops_eyJ)", N, r"\bops_eyJ[A-Za-z0-9+/=]{100,}", NONE),
    p("openshift-user-token", "openshift user token", "gitleaks: openshift-user-token (sha256~)", V, r"\bsha256~[A-Za-z0-9_-]{43}", NONE),
    p("notion-token", "notion integration token", "https://developers.notion.com/docs/authorization (ntn_, legacy secret_)", V, r"\b(?:ntn_[0-9]{11}[A-Za-z0-9]{32,35}|secret_[A-Za-z0-9]{43})\b", NONE),
    p("supabase-key", "supabase key", "https://supabase.com/docs/guides/api/api-keys (sbp_, sb_secret_)", V, r"\b(?:sbp_[a-f0-9]{40}\b|sb_secret_[A-Za-z0-9_-]{20,})", NONE),
    p("flyio-token", "fly.io token", "https://fly.io/docs/security/tokens/ (fo1_)", V, r"\bfo1_[A-Za-z0-9_-]{40,}", NONE),
    p("render-api-key", "render api key", "https://render.com/docs/api#1-create-an-api-key (rnd_)", V, r"\brnd_[A-Za-z0-9]{32}\b", NONE),
    p("resend-api-key", "resend api key", "https://resend.com/docs/dashboard/api-keys/introduction (re_)", V, r"\bre_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}\b", NONE),
    // ---------------------------------------------------------------- cloud
    p("aws-access-key", "aws access key", "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids; gitleaks: aws-access-token; Python guard", V, r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b", NONE),
    g("aws-secret-access-key", "aws secret key", "https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html (AWS_SECRET_ACCESS_KEY); gitleaks: aws-secret-access-key", A, &["secret_access", "secretaccess", "secret-access", "aws_secret", "aws-secret", "awssecret"], r#"(?i)(?:secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key)[\\"'\]]*\s*(?::=|=>|[:=])\s*\\?["']?(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#, NONE, loc(0)),
    Rule {
        id: "aws-secret-key-heuristic",
        label: "aws secret key",
        source: "Python guard heuristic: 40-char [A-Za-z0-9/+] token with 'aws' on the same line (before or after); mixed case required",
        specificity: SPEC_LINE_HEURISTIC,
        kind: Kind::Run { gates: &["^aws"], class: RunClass::AwsSecret, min: 40, max: 40, check: MixedAws },
    },
    p("gcp-service-account-key", "google service account key", "https://cloud.google.com/iam/docs/keys-create-delete (JSON key file private_key field)", N, r#"private_key\\?"\s*:\s*\\?"-----BEGIN[ A-Z]*PRIVATE KEY-----"#, NONE),
    p("google-oauth-client-secret", "google oauth client secret", "https://developers.google.com/identity/protocols/oauth2 (GOCSPX-); gitleaks: gcp-oauth-client-secret", V, r"\bGOCSPX-[A-Za-z0-9_-]{28}", NONE),
    p("google-oauth-access-token", "google oauth access token", "https://developers.google.com/identity/protocols/oauth2 (ya29.)", V, r"\bya29\.[A-Za-z0-9_-]{30,}", NONE),
    p("google-oauth-refresh-token", "google oauth refresh token", "https://developers.google.com/identity/protocols/oauth2 (1//0)", V, r"\b1//0[A-Za-z0-9_-]{40,}", NONE),
    g("firebase-fcm-server-key", "firebase cloud messaging server key", "gitleaks: gcp-fcm-server-key / firebase (AAAA…:APA91b…)", V, &["!:APA91b"], r"(?P<s>AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{100,})", NONE, loc(11)),
    g("azure-storage-account-key", "azure storage account key", "https://learn.microsoft.com/azure/storage/common/storage-configure-connection-string (AccountKey=)", V, &["accountkey"], r"(?i)AccountKey\s*=\s*(?P<s>[A-Za-z0-9+/]{40,}={0,2})", NONE, loc(0)),
    g("azure-shared-access-key", "azure shared access key", "https://learn.microsoft.com/azure/service-bus-messaging/service-bus-sas (SharedAccessKey=)", V, &["sharedaccesskey"], r"(?i)SharedAccessKey\s*=\s*(?P<s>[A-Za-z0-9+/]{20,}={0,2})", NONE, loc(0)),
    g("azure-sas-token", "azure sas token", "https://learn.microsoft.com/azure/storage/common/storage-sas-overview (sv=…&sig=)", V, &["!sig="], r"[?&]sig=(?P<s>[A-Za-z0-9%+/=]{30,})", AzureSas, loc(1)),
    g("azure-ad-client-secret", "azure ad client secret", "gitleaks: azure-ad-client-secret (xxx8Q~…)", V, &["!0Q~", "!1Q~", "!2Q~", "!3Q~", "!4Q~", "!5Q~", "!6Q~", "!7Q~", "!8Q~", "!9Q~"], r"(?:^|[^A-Za-z0-9_~.-])(?P<s>[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)", NONE, loc(4)),
    p("digitalocean-token", "digitalocean token", "https://docs.digitalocean.com/reference/api/create-personal-access-token/ (dop_v1_/doo_v1_/dor_v1_); gitleaks: digitalocean-*", V, r"\bdo[opr]_v1_[a-f0-9]{64}\b", NONE),
    p("alibaba-access-key-id", "alibaba cloud access key", "gitleaks: alibaba-access-key-id (LTAI)", V, r"\bLTAI[A-Za-z0-9]{20}\b", NONE),
    p("cloudflare-origin-ca-key", "cloudflare origin ca key", "gitleaks: cloudflare-origin-ca-key (v1.0-)", V, r"\bv1\.0-[a-f0-9]{24}-[a-f0-9]{146}\b", NONE),
    g("cloudflare-api-token", "cloudflare api token", "gitleaks: cloudflare-api-key / cloudflare-global-api-key (keyword cloudflare)", V, &["cloudflare", "cf_api"], r#"(?i)(?:cloudflare|cf)[A-Za-z0-9_ .-]{0,20}(?:key|token|secret)[\\"'\]]*\s*(?::=|=>|[:=])\s*\\?["']?(?P<s>[A-Za-z0-9_-]{37,40})(?:[^A-Za-z0-9_-]|$)"#, NONE, loc(0)),
    p("heroku-api-key-v2", "heroku api key", "gitleaks: heroku-api-key-v2 (HRKU-AA)", V, r"\bHRKU-AA[0-9A-Za-z_-]{58}", NONE),
    g("heroku-api-key", "heroku api key", "gitleaks: heroku-api-key (keyword heroku + uuid)", V, &["heroku"], r#"(?i)heroku[A-Za-z0-9_ .-]{0,20}(?:key|token|secret)[\\"'\]]*\s*(?::=|=>|[:=])\s*\\?["']?(?P<s>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"#, NONE, loc(0)),
    p("vault-service-token", "hashicorp vault token", "https://developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes (hvs./hvb.); gitleaks: vault-service-token", V, r"\bhv[sb]\.[A-Za-z0-9_-]{24,}", NONE),
    g("terraform-cloud-token", "terraform cloud token", "gitleaks: hashicorp-tf-api-token (.atlasv1.)", V, &["!.atlasv1."], r"(?P<s>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})", NONE, loc(14)),
    p("doppler-token", "doppler token", "https://docs.doppler.com/reference/auth-token-formats (dp.pt./dp.st./…); gitleaks: doppler-api-token", V, r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}\b", NONE),
    p("databricks-token", "databricks token", "https://docs.databricks.com/dev-tools/auth/pat.html (dapi); gitleaks: databricks-api-token", V, r"\bdapi[a-f0-9]{32}(?:-[0-9])?\b", NONE),
    p("grafana-cloud-token", "grafana token", "https://grafana.com/docs/grafana-cloud/account-management/authentication-and-permissions/access-policies/ (glc_); gitleaks: grafana-cloud-api-token", V, r"\bglc_[A-Za-z0-9+/]{32,}={0,2}", NONE),
    p("grafana-service-account-token", "grafana token", "https://grafana.com/docs/grafana/latest/administration/service-accounts/ (glsa_); gitleaks: grafana-service-account-token", V, r"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b", NONE),
    p("new-relic-key", "new relic key", "https://docs.newrelic.com/docs/apis/intro-apis/new-relic-api-keys/ (NRAK-/NRJS-/NRII-); gitleaks: new-relic-*", V, r"\b(?:NRAK-[A-Z0-9]{27}\b|NRJS-[a-f0-9]{19}\b|NRII-[A-Za-z0-9_-]{32})", NONE),
    p("dynatrace-api-token", "dynatrace api token", "https://docs.dynatrace.com/docs/manage/access-control/access-tokens (dt0c01.); gitleaks: dynatrace-api-token", V, r"\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b", NONE),
    g("datadog-api-key", "datadog api key", "gitleaks: datadog-access-token (keyword datadog/dd + 32-40 hex)", V, &["datadog", "dd_api", "dd_app", "dd-api", "dd-app"], r#"(?i)(?:datadog|dd)[A-Za-z0-9_ .-]{0,20}(?:api|app)[_-]?key[\\"'\]]*\s*(?::=|=>|[:=])\s*\\?["']?(?P<s>[a-f0-9]{32,40})(?:[^a-f0-9]|$)"#, NONE, loc(0)),
    p("age-secret-key", "age secret key", "https://age-encryption.org/v1 (AGE-SECRET-KEY-1); gitleaks: age-secret-key", V, r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", NONE),
    // ---------------------------------------------------------------- messaging & webhooks
    p("slack-token", "slack token", "https://api.slack.com/authentication/token-types; gitleaks: slack-bot-token, slack-user-token, slack-legacy-*", V, r"\bxox[abposr]-[A-Za-z0-9-]{10,}", NONE),
    p("slack-app-token", "slack token", "https://api.slack.com/authentication/token-types#app-level; gitleaks: slack-app-token", V, r"\bxapp-[0-9]-[A-Z0-9]+-[0-9]+-[a-z0-9]+", NONE),
    p("slack-webhook-url", "slack webhook url", "https://api.slack.com/messaging/webhooks; gitleaks: slack-webhook-url", V, r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}", NONE),
    p("discord-webhook-url", "discord webhook url", "https://discord.com/developers/docs/resources/webhook; gitleaks: discord-webhook (generic)", V, r"https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/[0-9]{5,30}/[A-Za-z0-9_-]{30,}", NONE),
    g("discord-bot-token", "discord bot token", "https://discord.com/developers/docs/reference#authentication; gitleaks: discord-api-token (keyword discord)", V, &["discord"], r"(?:^|[^A-Za-z0-9_-])(?P<s>[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40})(?:[^A-Za-z0-9_-]|$)", NONE, LINE),
    g("telegram-bot-token", "telegram bot token", "https://core.telegram.org/bots/api#authorizing-your-bot; gitleaks: telegram-bot-api-token", V, &["!:AA"], r"(?:^|[^0-9])(?P<s>[0-9]{8,10}:AA[A-Za-z0-9_-]{33})(?:[^A-Za-z0-9_-]|$)", NONE, loc(11)),
    g("teams-webhook-url", "microsoft teams webhook url", "gitleaks: microsoft-teams-webhook", V, &["!webhook.office.com"], r#"(?P<s>https://[A-Za-z0-9.-]*webhook\.office\.com/webhookb2/[^\s"'<>]{40,})"#, NONE, LINE),
    p("google-chat-webhook-url", "google chat webhook url", "https://developers.google.com/workspace/chat/quickstart/webhooks", V, r"https://chat\.googleapis\.com/v1/spaces/[A-Za-z0-9_-]+/messages\?key=[A-Za-z0-9_-]+&token=[A-Za-z0-9_=%-]{20,}", NONE),
    p("twilio-api-key", "twilio api key", "https://www.twilio.com/docs/iam/api-keys (SK + 32 hex); gitleaks: twilio-api-key", V, r"\bSK[0-9a-fA-F]{32}\b", NONE),
    p("sendgrid-api-key", "sendgrid api key", "https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys (SG.); gitleaks: sendgrid-api-token", V, r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}", NONE),
    p("mailgun-api-key", "mailgun api key", "https://documentation.mailgun.com/docs/mailgun/api-reference/authentication/ (key-); gitleaks: mailgun-private-api-token", V, r"\bkey-[0-9A-Za-z]{32}\b", NONE),
    g("mailchimp-api-key", "mailchimp api key", "https://mailchimp.com/developer/marketing/guides/quick-start/ (<32 hex>-usN); gitleaks: mailchimp-api-key", V, &["!-us"], r"(?:^|[^0-9A-Za-z])(?P<s>[0-9a-f]{32}-us[0-9]{1,2})(?:[^0-9A-Za-z]|$)", NONE, loc(33)),
    // ---------------------------------------------------------------- payments & commerce
    p("stripe-secret-key", "stripe secret key", "https://docs.stripe.com/keys; gitleaks: stripe-access-token", V, r"\bsk_(?:live|test|prod)_[A-Za-z0-9]{10,}", NONE),
    p("stripe-restricted-key", "stripe restricted key", "https://docs.stripe.com/keys#limit-access; gitleaks: stripe-access-token", V, r"\brk_(?:live|test|prod)_[A-Za-z0-9]{10,}", NONE),
    p("stripe-webhook-secret", "stripe webhook secret", "https://docs.stripe.com/webhooks#verify-official-libraries (whsec_)", V, r"\bwhsec_[A-Za-z0-9]{32,}", NONE),
    p("square-token", "square token", "https://developer.squareup.com/docs/build-basics/access-tokens; gitleaks: square-access-token, square-secret", V, r"\bsq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}", NONE),
    p("shopify-token", "shopify token", "https://shopify.dev/docs/apps/auth; gitleaks: shopify-access-token, shopify-shared-secret, shopify-custom-access-token, shopify-private-app-access-token", V, r"\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\b", NONE),
    p("facebook-access-token", "facebook access token", "https://developers.facebook.com/docs/facebook-login/guides/access-tokens (EAA…); gitleaks: facebook-page-access-token", V, r"\bEAA[MC][A-Za-z0-9]{100,}", NONE),
    p("twitter-bearer-token", "twitter bearer token", "https://developer.x.com/en/docs/authentication/oauth-2-0/bearer-tokens; gitleaks: twitter-bearer-token", V, r"\bAAAAAAAAAAAAAAAAAAAAA[A-Za-z0-9%]{30,}", HasPercent),
    g("mapbox-secret-token", "mapbox secret token", "https://docs.mapbox.com/accounts/guides/tokens/ (sk.eyJ); gitleaks: mapbox-api-token", N, &["!sk.eyJ"], r"\bsk\.eyJ[A-Za-z0-9_-]{50,}\.[A-Za-z0-9_-]{20,}", NONE, loc(0)),
    // ---------------------------------------------------------------- keys & tokens
    pem("openssh-private-key", "openssh private key", "https://man.openbsd.org/ssh-keygen (OPENSSH PRIVATE KEY block); gitleaks: private-key", N, r"-----BEGIN OPENSSH PRIVATE KEY-----", r"-----END OPENSSH PRIVATE KEY-----"),
    pem("pgp-private-key", "pgp private key block", "https://www.rfc-editor.org/rfc/rfc4880#section-6.2 (PGP PRIVATE KEY BLOCK); gitleaks: private-key", N, r"-----BEGIN PGP PRIVATE KEY BLOCK-----", r"-----END PGP PRIVATE KEY BLOCK-----"),
    pem("private-key", "private key block", "https://www.rfc-editor.org/rfc/rfc7468 (PEM -----BEGIN … PRIVATE KEY-----); gitleaks: private-key", B, r"-----BEGIN[ A-Z0-9]*PRIVATE KEY-----", r"-----END[ A-Z0-9]*PRIVATE KEY-----"),
    p("putty-private-key", "putty private key", "https://the.earth.li/~sgtatham/putty/0.78/htmldoc/AppendixC.html (PuTTY-User-Key-File-N:)", V, r"PuTTY-User-Key-File-[0-9]+:", NONE),
    g("jwt", "jwt", "https://datatracker.ietf.org/doc/html/rfc7519; gitleaks: jwt; Python guard", B, &["!eyJ"], r"\beyJ[A-Za-z0-9_-]{7,}\.eyJ[A-Za-z0-9_-]{7,}\.[A-Za-z0-9_-]{10,}", NONE, loc(0)),
    // ---------------------------------------------------------------- mesh gateway
    p("meshgate-peer-token", "meshgate peer token", "meshgate: per-peer bearer token, mgp_ + 43 chars of URL-safe base64 without padding (256 random bits; crates/meshgate-server/src/tokens.rs)", N, r"mgp_[A-Za-z0-9_-]{43}", NONE),
    p("meshgate-operator-token", "meshgate operator token", "meshgate: generated operator token, mgo_ + 43 chars of URL-safe base64 without padding (crates/meshgate-server/src/bootstrap.rs)", N, r"mgo_[A-Za-z0-9_-]{43}", NONE),
    g("mesh-gateway-token-assignment", "possible mesh-gateway token", "meshgate: MESH_GATEWAY_TOKEN=<value> (any value of >= 8 chars that is not a variable reference)", A, &["mesh_gateway_token"], r#"(?i)MESH_GATEWAY_TOKEN[\\"'\]]*\s*(?::=|=>|[:=])\s*\\?["']?(?P<s>[^\s"'`,;\\=]{8,}={0,2})"#, NotRef, loc(0)),
    Rule {
        id: "mesh-gateway-token-heuristic",
        label: "possible mesh-gateway token",
        source: "Python guard heuristic: 48+ char [A-Za-z0-9_-] token with MESH_GATEWAY_TOKEN on the same line (before or after); meshgate: only the token's own shape (48 to 128 chars: upper, lower and digits; not a slug, digest, path, base64 fragment or another key's value)",
        specificity: SPEC_LINE_HEURISTIC,
        kind: Kind::Run { gates: &["mesh_gateway_token"], class: RunClass::UrlSafe, min: 48, max: 128, check: MeshShape },
    },
    // ---------------------------------------------------------------- structural / assignments
    g("url-with-password", "url with password", "RFC 3986 userinfo (scheme://user:password@host); covers postgres/mysql/mongodb/redis/amqp URLs; gitleaks: generic URL credentials", A, &["!://"], r#"://[^\s:/?#@"'<>\[\]\\]*:(?P<s>[^\s/?#@"'<>\[\]\\]+)@[A-Za-z0-9\[_-]"#, UrlPassword, loc(0)),
    // The value ends on its last non-space before the terminator: the same match as a lazy
    // `[^;"'\s=][^;"'=]*?` before `\s*`, written greedily so the value needs no capture engine.
    g("connection-string-password", "connection string password", "https://learn.microsoft.com/dotnet/framework/data/adonet/connection-string-syntax (Password=…;)", A, &["password", "pwd"], r#"(?i)(?:^|[;\s"'])(?:password|pwd)\s*=\s*(?P<s>[^;"'\s=](?:[^;"'=]*[^;"'\s=])?)\s*(?:;|"|'|$)"#, ConnString, loc(1)),
    g("authorization-header", "authorization header credential", "RFC 9110 §11.6.2 Authorization header (Bearer/Basic/Token)", A, &["authorization"], r#"(?i)authorization[\\"']*\s*[:=]\s*\\?["']?\s*(?:bearer|basic|token|bot|apikey)\s+(?P<s>[A-Za-z0-9._~+/=-]{16,})"#, NotPlaceholder, loc(0)),
    g("curl-basic-auth", "curl basic auth", "curl -u/--user user:password; gitleaks: curl-auth-user", A, &["curl"], r#"(?:^|\s)(?:-u|--user)\s*["']?[^\s:"']+:(?P<s>[^\s"']{4,})"#, NotPlaceholder, LINE),
    g("bearer-token", "bearer token", "RFC 6750 bearer token in free text", SPEC_GENERIC, &["bearer"], r"(?i)\bbearer\s+(?P<s>[A-Za-z0-9._~+/=-]{20,})", Generic, loc(0)),
    g("generic-secret-assignment", "generic secret assignment", "gitleaks: generic-api-key (keyword = high-entropy value)", SPEC_GENERIC,
        &["passw", "pwd", "passphrase", "secret", "token", "api_key", "api-key", "apikey", "access_key", "access-key", "accesskey", "private_key", "private-key", "privatekey", "auth_key", "auth-key", "authkey", "credential"],
        r#"(?i)(?:passw(?:or)?d|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?key|credentials?)[A-Za-z0-9_.-]{0,64}[\\"'\]]*\s*(?::=|=>|[:=])\s*\\?["']?(?P<s>[^\s"'`,;&\\=]{8,}={0,2})"#, Generic, loc(0)),
];
