//! `meshgate hooks install|uninstall HOST` and `meshgate hooks run
//! context|wake`: put DMs in front of an agent session (Claude Code, Codex,
//! Gemini CLI) through the host's own hook mechanism.
//!
//! What each host gets (from its documentation, see README "Connect your
//! agents"):
//! - Claude Code (`~/.claude/settings.json`, `--project`:
//!   `./.claude/settings.json`): the context hook on `SessionStart` and
//!   `UserPromptSubmit`, and the wake hook on `Stop` with `async` and
//!   `asyncRewake`, which wakes an idle session when it exits 2, and the end
//!   hook on `SessionEnd`, which stops a waiting wake hook.
//! - Codex (`~/.codex/hooks.json`, `--project`: `./.codex/hooks.json`): the
//!   context hook on `SessionStart` and `UserPromptSubmit`. Codex runs hooks
//!   synchronously and has no background wake, so there is no wake hook.
//! - Gemini CLI (`~/.gemini/settings.json`, `--project`:
//!   `./.gemini/settings.json`): the context hook on `SessionStart` and
//!   `BeforeAgent`; no wake hook for the same reason.
//!
//! The installed commands name this binary by its absolute path, the peer
//! and the gateway, never a token: the hook finds the peer's stored token
//! as every other command does.

mod json;
mod run;
mod settings;
mod state;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use self::json::Json;
use self::settings::{shell_quote, without_ours, Entry, SettingsFile};
use super::Global;
use crate::exit::{advised, usage, OK};

/// How long the wake hook waits for a DM by default (24 hours).
pub const DEFAULT_MAX_WAIT_SECS: u64 = 86_400;

/// The context hook's timeout as installed (seconds); it gives up on the
/// gateway itself after [`run::CONTEXT_BUDGET`].
const CONTEXT_TIMEOUT_SECS: u64 = 15;

/// `meshgate hooks ...`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add meshgate's hooks for --as NAME to a host's settings (idempotent; backs the file up first).
    Install(InstallArgs),
    /// Remove exactly the hooks `install` added (any NAME).
    Uninstall(TargetArgs),
    /// What the installed hooks run (reads the host's event JSON on stdin).
    #[command(subcommand)]
    Run(RunCommand),
}

/// Which host and which of its settings files.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// The agent host.
    #[arg(value_enum)]
    pub host: Host,

    /// This settings file instead of the host's user-wide one.
    #[arg(long, value_name = "FILE", conflicts_with = "project")]
    pub settings: Option<PathBuf>,

    /// The project's settings file in the current directory (e.g. ./.claude/settings.json).
    #[arg(long)]
    pub project: bool,
}

/// Arguments of `hooks install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Claude Code: how long an idle session's wake hook waits for a DM, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_MAX_WAIT_SECS)]
    pub max_wait: u64,

    /// Also add the `meshgate mcp --as NAME` server: written for Gemini CLI and for Claude Code with
    /// --project (./.mcp.json), printed for Codex and Claude Code's user scope.
    #[arg(long)]
    pub mcp: bool,
}

/// The hook commands.
#[derive(Debug, clap::Subcommand)]
pub enum RunCommand {
    /// Print the host's context JSON listing unread DMs not yet shown to this session (always exits 0).
    Context,
    /// End this session's waiting wake hook (the session is over); always exits 0.
    End,
    /// Wait for a DM not yet shown to this session; write it on stderr and exit 2 (0: superseded or --max-wait passed).
    Wake {
        /// Give up (exit 0) after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_MAX_WAIT_SECS)]
        max_wait: u64,
    },
}

/// The agent hosts meshgate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Host {
    /// Anthropic's Claude Code.
    ClaudeCode,
    /// OpenAI's Codex CLI.
    Codex,
    /// Google's Gemini CLI.
    Gemini,
}

impl Host {
    fn name(self) -> &'static str {
        match self {
            Host::ClaudeCode => "Claude Code",
            Host::Codex => "Codex",
            Host::Gemini => "Gemini CLI",
        }
    }

    /// (directory under home or the project, file name).
    fn file(self) -> (&'static str, &'static str) {
        match self {
            Host::ClaudeCode => (".claude", "settings.json"),
            Host::Codex => (".codex", "hooks.json"),
            Host::Gemini => (".gemini", "settings.json"),
        }
    }

    /// The entries to install for the commands `context`, `wake` and `end`.
    fn entries(self, context: &str, wake: &str, end: &str, max_wait: u64) -> Vec<Entry> {
        let command = |command: &str, timeout: u64| {
            Json::object(vec![
                ("type", Json::str("command")),
                ("command", Json::str(command)),
                ("timeout", Json::int(timeout)),
            ])
        };
        match self {
            Host::ClaudeCode => {
                let Json::Object(mut wake_handler) = command(wake, max_wait + 60) else { unreachable!() };
                wake_handler.push(("async".to_owned(), Json::Bool(true)));
                wake_handler.push(("asyncRewake".to_owned(), Json::Bool(true)));
                vec![
                    Entry { event: "SessionStart", handler: command(context, CONTEXT_TIMEOUT_SECS) },
                    Entry { event: "UserPromptSubmit", handler: command(context, CONTEXT_TIMEOUT_SECS) },
                    Entry { event: "Stop", handler: Json::Object(wake_handler) },
                    Entry { event: "SessionEnd", handler: command(end, CONTEXT_TIMEOUT_SECS) },
                ]
            }
            Host::Codex => vec![
                Entry { event: "SessionStart", handler: command(context, CONTEXT_TIMEOUT_SECS) },
                Entry { event: "UserPromptSubmit", handler: command(context, CONTEXT_TIMEOUT_SECS) },
            ],
            Host::Gemini => {
                // Gemini's timeout is in milliseconds; `name` shows in its logs.
                let handler = Json::object(vec![
                    ("name", Json::str("meshgate-context")),
                    ("type", Json::str("command")),
                    ("command", Json::str(context)),
                    ("timeout", Json::int(CONTEXT_TIMEOUT_SECS * 1000)),
                ]);
                vec![Entry { event: "SessionStart", handler: handler.clone() }, Entry { event: "BeforeAgent", handler }]
            }
        }
    }
}

impl TargetArgs {
    /// The settings file this invocation means.
    fn path(&self) -> Result<PathBuf> {
        let (dir, file) = self.host.file();
        if let Some(path) = &self.settings {
            return Ok(path.clone());
        }
        if self.project {
            return Ok(std::env::current_dir().context("reading the current directory")?.join(dir).join(file));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| advised("HOME is not set: pass --settings FILE or --project"))?;
        Ok(PathBuf::from(home).join(dir).join(file))
    }
}

/// Whether the process arguments are `meshgate [global options] hooks run
/// ...`: then even a usage error must not exit 2 (which a host reads as
/// "block" or "wake").
pub fn is_hook_run(args: &[std::ffi::OsString]) -> bool {
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        if word == "--as" || word == "--gateway" || word == "--timeout" {
            words.next();
        } else if !word.to_string_lossy().starts_with('-') {
            return word == "hooks" && words.next().is_some_and(|w| w == "run");
        }
    }
    false
}

/// Runs `meshgate hooks ...`.
pub async fn run(command: Command, global: &Global) -> Result<u8> {
    match command {
        Command::Install(args) => install(&args, global).await,
        Command::Uninstall(target) => uninstall(&target),
        Command::Run(RunCommand::Context) => Ok(run::context(global).await),
        Command::Run(RunCommand::End) => Ok(run::end(global).await),
        Command::Run(RunCommand::Wake { max_wait }) => Ok(run::wake(global, Duration::from_secs(max_wait)).await),
    }
}

/// This binary's absolute path (hosts run hooks without the user's shell
/// PATH), or `meshgate`.
fn this_binary() -> String {
    std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "meshgate".to_owned())
}

/// What a hook or MCP server started by the host needs from this shell's
/// environment to find what this command finds: the config directory
/// (per-peer tokens, hook state) when it is not the default one, and the
/// CA file of a TLS gateway. Hosts start hooks with their own environment.
/// Absolute paths; never a token.
fn host_env() -> Result<Vec<(&'static str, String)>> {
    let mut vars = Vec::new();
    let config = crate::tokens::config_dir()?;
    let default = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config/meshgate"));
    if default.as_deref() != Some(config.as_path()) {
        let config = std::path::absolute(&config).unwrap_or(config);
        vars.push(("MESHGATE_CONFIG_DIR", config.display().to_string()));
    }
    if let Some(ca) = std::env::var_os(meshgate_client::CA_FILE_ENV).filter(|c| !c.is_empty()) {
        let ca = std::path::absolute(&ca).unwrap_or_else(|_| ca.into());
        vars.push((meshgate_client::CA_FILE_ENV, ca.display().to_string()));
    }
    Ok(vars)
}

/// The command line a hook runs: `env` with [`host_env`] if any, this
/// binary, `hooks run WHAT`, the peer and the gateway, shell-quoted.
fn hook_command(global: &Global, env: &[(&str, String)], node: &str, what: &str) -> String {
    let mut line = String::new();
    if !env.is_empty() {
        line.push_str("env ");
        for (key, value) in env {
            line.push_str(&shell_quote(&format!("{key}={value}")));
            line.push(' ');
        }
    }
    line.push_str(&format!(
        "{} hooks run {what} --as {} --gateway {}",
        shell_quote(&this_binary()),
        shell_quote(node),
        shell_quote(&global.gateway)
    ));
    line
}

/// The `mcpServers` entry for `meshgate mcp --as NODE`, with [`host_env`]
/// as its `env` object if any.
fn mcp_entry(global: &Global, env: &[(&str, String)], node: &str) -> Json {
    let args = ["mcp", "--as", node, "--gateway", &global.gateway].map(Json::str).to_vec();
    let mut fields = vec![("command", Json::str(this_binary())), ("args", Json::Array(args))];
    if !env.is_empty() {
        fields.push(("env", Json::object(env.iter().map(|(k, v)| (*k, Json::str(v.as_str()))).collect())));
    }
    Json::object(fields)
}

/// Whether [`apply`] installs or removes (for what it says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Install,
    Remove,
}

/// Applies `change` to the settings file at `path` and writes it when that
/// changed anything; says what happened (`what`: "hooks", "MCP server").
fn apply(path: &Path, what: &str, kind: Change, change: impl Fn(&Json, &Path) -> Result<Json>) -> Result<bool> {
    let file = SettingsFile::read(path)?;
    let doc = change(&file.doc, &file.path).map_err(|e| advised(e.to_string()))?;
    let (done, unchanged) = match kind {
        Change::Install => ("installed", "already installed"),
        Change::Remove => ("removed", "not installed"),
    };
    if doc == file.doc && (file.existed || doc == Json::Object(Vec::new())) {
        println!("{}: meshgate's {what} {unchanged}; nothing changed", file.path.display());
        return Ok(false);
    }
    let backup = file.write(&doc)?;
    println!("{}: meshgate's {what} {done}", file.path.display());
    if let Some(backup) = backup {
        println!("  the previous file is in {}", backup.display());
    }
    Ok(true)
}

async fn install(args: &InstallArgs, global: &Global) -> Result<u8> {
    let node = global.identity()?;
    meshgate_proto::validate_peer_name(node).map_err(|e| usage(format!("--as {node}: {e}")))?;
    let authority = global.gateway.split_once("://").map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    if authority.contains('@') {
        return Err(advised(
            "the --gateway URL carries credentials (user@ or user:password@), which would be written into the \
             host's settings file; give the gateway without them (tokens stay in meshgate's token store)",
        ));
    }
    let host = args.target.host;
    let path = args.target.path()?;
    let env = host_env()?;
    let context = hook_command(global, &env, node, "context");
    let wake = format!("{} --max-wait {}", hook_command(global, &env, node, "wake"), args.max_wait);
    let end = hook_command(global, &env, node, "end");
    let entries = host.entries(&context, &wake, &end, args.max_wait);
    let events: Vec<&str> = entries.iter().map(|e| e.event).collect();
    let mcp = args.mcp.then(|| mcp_entry(global, &env, node));
    let what = format!("{} hooks for {node} ({})", host.name(), events.join(", "));
    apply(&path, &what, Change::Install, |doc, file| {
        let doc = settings::with_entries(doc, &entries, file)?;
        match (&mcp, host) {
            (Some(entry), Host::Gemini) => settings::with_mcp(&doc, entry.clone(), file),
            _ => Ok(doc),
        }
    })?;
    if let Some(entry) = &mcp {
        install_mcp(args, host, entry, &env)?;
    }
    let stored = crate::tokens::TokenStore::locate()?.load(&global.gateway, node).await?;
    if stored.is_none() {
        eprintln!(
            "warning: no per-peer token of {node} is stored for {}: the hooks will use MESH_GATEWAY_TOKEN \
             from the host's environment, or fail; store one with `meshgate register --as {node}` (operator \
             token) or `meshgate token set --as {node}`",
            global.gateway
        );
    }
    match host {
        Host::ClaudeCode => println!("start a new Claude Code session (hooks load at start; review them with /hooks)"),
        Host::Codex => println!(
            "Codex asks you to review and trust new hooks before they run; it has no background wake, \
             so an idle Codex session sees DMs at its next prompt (or use `meshgate mcp`'s wait_for_message)"
        ),
        Host::Gemini => println!(
            "Gemini CLI runs hooks only when they are enabled in its settings (see its hooks docs); \
             it has no background wake, so an idle session sees DMs at its next prompt"
        ),
    }
    Ok(OK)
}

/// `--mcp` where the MCP server is not in the hooks file: Claude Code's
/// project `.mcp.json` is written; its user scope lives in Claude Code's own
/// state file, and Codex's in TOML, so for those the entry is printed.
fn install_mcp(args: &InstallArgs, host: Host, entry: &Json, env: &[(&str, String)]) -> Result<()> {
    let command = entry.get("command").and_then(Json::as_str).unwrap_or("meshgate");
    let words: Vec<String> = match entry.get("args") {
        Some(Json::Array(a)) => a.iter().filter_map(Json::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    match host {
        Host::Gemini => {}
        Host::ClaudeCode if args.target.project => {
            let path = std::env::current_dir().context("reading the current directory")?.join(".mcp.json");
            apply(&path, "MCP server", Change::Install, |doc, file| settings::with_mcp(doc, entry.clone(), file))?;
        }
        Host::ClaudeCode => {
            let line: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
            let vars: String = env.iter().map(|(k, v)| format!("-e {} ", shell_quote(&format!("{k}={v}")))).collect();
            println!(
                "to add the MCP server, run: claude mcp add --scope user {vars}meshgate -- {} {}",
                shell_quote(command),
                line.join(" ")
            );
        }
        Host::Codex => {
            let quoted: Vec<String> = words.iter().map(|w| serde_json::to_string(w).unwrap_or_default()).collect();
            let vars: Vec<String> =
                env.iter().map(|(k, v)| format!("{k} = {}", serde_json::to_string(v).unwrap_or_default())).collect();
            let vars = if vars.is_empty() { String::new() } else { format!("\nenv = {{ {} }}", vars.join(", ")) };
            println!(
                "to add the MCP server, put this in ~/.codex/config.toml:\n[mcp_servers.meshgate]\ncommand = {}\nargs = [{}]{vars}",
                serde_json::to_string(command).unwrap_or_default(),
                quoted.join(", ")
            );
        }
    }
    Ok(())
}

fn uninstall(target: &TargetArgs) -> Result<u8> {
    let path = target.path()?;
    let what = format!("{} hooks", target.host.name());
    apply(&path, &what, Change::Remove, |doc, file| Ok(settings::without_mcp(&without_ours(doc, file)?)))?;
    if target.host == Host::ClaudeCode && target.project {
        let mcp = std::env::current_dir().context("reading the current directory")?.join(".mcp.json");
        if mcp.exists() {
            apply(&mcp, "MCP server", Change::Remove, |doc, _| Ok(settings::without_mcp(doc)))?;
        }
    }
    Ok(OK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_hook_commands_count_as_hook_runs() {
        let args = |line: &str| line.split(' ').map(Into::into).collect::<Vec<std::ffi::OsString>>();
        assert!(super::is_hook_run(&args("meshgate hooks run wake --bogus")));
        assert!(super::is_hook_run(&args("meshgate --as a -v --gateway g hooks run context")));
        assert!(!super::is_hook_run(&args("meshgate send hooks run")));
        assert!(!super::is_hook_run(&args("meshgate hooks install")));
        assert!(!super::is_hook_run(&args("meshgate")));
    }
}
