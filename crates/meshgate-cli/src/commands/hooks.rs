//! `meshgate hooks install|uninstall HOST` and `meshgate hooks run
//! context|wake`: put DMs in front of an agent session (Claude Code, Codex,
//! Gemini CLI) through the host's own hook mechanism.
//!
//! What each host gets (from its documentation, see README "Connect your
//! agents"):
//! - Claude Code (`~/.claude/settings.json`, `--project`:
//!   `./.claude/settings.json`): the context hook on `SessionStart` and
//!   `UserPromptSubmit`, and the wake hook on `Stop` with `async` and
//!   `asyncRewake`, which wakes an idle session when it exits 2.
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

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use self::json::Json;
use self::settings::{shell_quote, without_ours, Entry, SettingsFile};
use super::Global;
use crate::exit::{usage, OK};

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
}

/// The hook commands.
#[derive(Debug, clap::Subcommand)]
pub enum RunCommand {
    /// Print the host's context JSON listing unread DMs not yet shown to this session (always exits 0).
    Context,
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

    /// The entries to install for the commands `context` and `wake`.
    fn entries(self, context: &str, wake: &str, max_wait: u64) -> Vec<Entry> {
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
            .ok_or_else(|| usage("HOME is not set: pass --settings FILE or --project"))?;
        Ok(PathBuf::from(home).join(dir).join(file))
    }
}

/// Whether the process arguments are `meshgate [global options] hooks run
/// ...`: then even a usage error must not exit 2 (which a host reads as
/// "block" or "wake").
pub fn is_hook_run(args: &[std::ffi::OsString]) -> bool {
    args.windows(2).any(|w| w[0] == "hooks" && w[1] == "run")
}

/// Runs `meshgate hooks ...`.
pub async fn run(command: Command, global: &Global) -> Result<u8> {
    match command {
        Command::Install(args) => install(&args, global),
        Command::Uninstall(target) => uninstall(&target),
        Command::Run(RunCommand::Context) => Ok(run::context(global).await),
        Command::Run(RunCommand::Wake { max_wait }) => Ok(run::wake(global, Duration::from_secs(max_wait)).await),
    }
}

/// The command line a hook runs: this binary, `hooks run WHAT`, the peer
/// and the gateway, shell-quoted.
fn hook_command(global: &Global, node: &str, what: &str) -> String {
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "meshgate".to_owned());
    format!(
        "{} hooks run {what} --as {} --gateway {}",
        shell_quote(&exe),
        shell_quote(node),
        shell_quote(&global.gateway)
    )
}

fn install(args: &InstallArgs, global: &Global) -> Result<u8> {
    let node = global.identity()?;
    meshgate_proto::validate_peer_name(node).map_err(|e| usage(format!("--as {node}: {e}")))?;
    let host = args.target.host;
    let path = args.target.path()?;
    let file = SettingsFile::read(&path)?;
    let context = hook_command(global, node, "context");
    let wake = format!("{} --max-wait {}", hook_command(global, node, "wake"), args.max_wait);
    let entries = host.entries(&context, &wake, args.max_wait);
    let doc = settings::with_entries(&file.doc, &entries, &file.path).map_err(|e| usage(e.to_string()))?;
    if doc == file.doc && file.existed {
        println!("meshgate's {} hooks for {node} are already in {}; nothing changed", host.name(), file.path.display());
        return Ok(OK);
    }
    let backup = file.write(&doc)?;
    let events: Vec<&str> = entries.iter().map(|e| e.event).collect();
    println!(
        "installed meshgate's {} hooks for {node} in {} ({})",
        host.name(),
        file.path.display(),
        events.join(", ")
    );
    if let Some(backup) = backup {
        println!("the previous file is in {}", backup.display());
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

fn uninstall(target: &TargetArgs) -> Result<u8> {
    let path = target.path()?;
    let file = SettingsFile::read(&path)?;
    let doc = without_ours(&file.doc, &file.path).map_err(|e| usage(e.to_string()))?;
    if doc == file.doc {
        println!("no meshgate hooks in {}; nothing changed", file.path.display());
        return Ok(OK);
    }
    let backup = file.write(&doc)?;
    println!("removed meshgate's {} hooks from {}", target.host.name(), file.path.display());
    if let Some(backup) = backup {
        println!("the previous file is in {}", backup.display());
    }
    Ok(OK)
}
