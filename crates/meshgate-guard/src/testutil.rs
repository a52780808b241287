//! Deterministic test data shared by the engine's unit tests.

/// xorshift64 — deterministic test data.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Lines mixing the gated rules' keywords and separators with values.
pub(crate) fn lines(seed: u64, n: usize) -> Vec<String> {
    const PARTS: &[&str] = &[
        "password",
        "Password",
        "pwd",
        "token",
        "secret_access_key",
        "api_key",
        "AccountKey",
        "SharedAccessKey",
        "cohere_key",
        "cf_api_token",
        "heroku_key",
        "dd_api_key",
        "authorization",
        "Bearer ",
        "bearer ",
        "MESH_GATEWAY_TOKEN",
        "://",
        "user:",
        "@host",
        "&sig=",
        "?sig=",
        "-us1",
        "8Q~",
        ":AA",
        ":APA91b",
        ".atlasv1.",
        " = ",
        "=",
        ": ",
        ":=",
        "=>",
        "\"",
        "'",
        ";",
        " ",
        "  ",
        "\\",
        "]",
        "$",
        "é",
        "\u{3000}",
        "{",
        "<",
        "%",
    ];
    const VALUE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-.=~";
    let mut r = Rng(seed | 1);
    (0..n)
        .map(|_| {
            let mut s = String::new();
            for _ in 0..1 + r.below(12) {
                if r.below(2) == 0 {
                    s.push_str(PARTS[r.below(PARTS.len())]);
                } else {
                    let len = 1 + r.below(50);
                    s.extend((0..len).map(|_| VALUE[r.below(VALUE.len())] as char));
                }
            }
            s
        })
        .collect()
}
