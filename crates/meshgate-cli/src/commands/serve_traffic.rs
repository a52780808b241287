//! `meshgate serve`'s traffic-control, metrics and retention flags: the
//! per-sender send rate, the conversation-loop breaker, Prometheus metrics,
//! `--retain-days` (kept apart from `serve.rs`'s other flags).

use anyhow::Result;
use meshgate_server::traffic::{parse_loop_limit, parse_send_rate, LoopLimit, SendRate};
use meshgate_server::Config;

/// Traffic-control options of `meshgate serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrafficArgs {
    /// DMs per second one sender may send, sustained (a token bucket per sending peer), then 429 `rate_limited`
    /// with Retry-After; `off` disables.
    #[arg(long, value_name = "N|off", env = "MESHGATE_SEND_RATE", default_value = "20",
          value_parser = |s: &str| parse_send_rate(s).map(OrOff))]
    pub send_rate: OrOff<f64>,

    /// DMs a sender may send at once after a quiet spell (the bucket's size).
    #[arg(long, value_name = "B", env = "MESHGATE_SEND_BURST", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub send_burst: u32,

    /// At most COUNT DMs exchanged between two peers within SECONDS (twice the quieter direction: one-way
    /// floods never trip it), then 429 `conversation_loop`;
    /// `off` disables.
    #[arg(long, value_name = "COUNT/SECONDS|off", env = "MESHGATE_LOOP_LIMIT", default_value = "60/600",
          value_parser = |s: &str| parse_loop_limit(s).map(OrOff))]
    pub loop_limit: OrOff<LoopLimit>,

    /// Prometheus metrics: `on` counts requests, sends and commits for `GET /metrics` (operator token); `off` does
    /// no bookkeeping.
    #[arg(long, value_name = "on|off", env = "MESHGATE_METRICS", default_value = "on",
          value_parser = ["on", "off"])]
    pub metrics: String,

    /// Also serve `GET /metrics` WITHOUT auth, over plain HTTP, on this address (for a scraper); an address that is
    /// not loopback needs --allow-plaintext.
    #[arg(long, value_name = "ADDR", env = "MESHGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Retention, run every 5 minutes in the background.
    #[command(flatten)]
    pub retain: super::gc::RetainArgs,
}

/// A setting that `off` disables (`None`); a type of its own so clap does
/// not read the `Option` as "flag not given".
#[derive(Debug, Clone, Copy)]
pub struct OrOff<T>(pub Option<T>);

impl TrafficArgs {
    /// Puts these settings into `config`.
    pub fn apply(&self, config: &mut Config) -> Result<()> {
        config.send_rate = self.send_rate.0.map(|per_second| SendRate { per_second, burst: self.send_burst });
        config.loop_limit = self.loop_limit.0;
        config.metrics = self.metrics == "on";
        if self.metrics_listen.is_some() && !config.metrics {
            anyhow::bail!("--metrics-listen needs --metrics on");
        }
        config.metrics_listen = self.metrics_listen;
        config.retain = self.retain.days();
        Ok(())
    }
}
