//! `meshgate`: the command-line face of the mesh gateway.
//!
//! One module per subcommand under `commands/`; each owns its `Args` and an
//! async (or, for offline commands, plain) `run` returning an exit code.
//! Failures travel as `anyhow::Error` and are turned into the documented exit
//! codes by [`exit::exit_code`], the one place that contract lives.

mod commands;
mod exit;
mod output;
mod tokens;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{
    alias, completions, inbox, loops, mcp, peers, read, register, scan, send, serve, thread, token, wait, watch, Global,
};

/// jemalloc instead of glibc's malloc: the gateway allocates on its tokio
/// workers and frees on the SQLite writer (and back), where glibc's arenas
/// took locks and consolidated (~9% of a send's instructions). mimalloc saved
/// as much but doubled RSS under hostile load. See `bench/RESULTS.md`,
/// "Session 9".
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Send, read and manage direct messages between AI peers through a mesh
/// gateway.
#[derive(Debug, Parser)]
#[command(name = "meshgate", version, after_long_help = exit::EXIT_CODES_HELP)]
pub struct Cli {
    /// More diagnostics on stderr (-vv for debug). Never prints tokens or message bodies.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// A command that talks to the gateway: the gateway options (`--as`,
/// `--gateway`, `--timeout`) followed by its own. Only these commands take
/// them; `serve`, `import`, `export`, `scan`, `completions`, `backup` and
/// `gc` refuse them as unknown flags.
#[derive(Debug, clap::Args)]
pub struct Online<T: clap::Args> {
    #[command(flatten)]
    global: Global,
    #[command(flatten)]
    args: T,
}

/// [`Online`] for a command with subcommands (the options are accepted
/// after the subcommand too).
#[derive(Debug, clap::Args)]
pub struct OnlineGroup<T: clap::Subcommand> {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: T,
}

/// Every subcommand. `scan` and `completions` run without an async runtime
/// and `serve` builds its own; the client commands get a `Global` to build
/// their client from; `import` and `export` open a store, not the gateway.
#[derive(Debug, Subcommand)]
enum Command {
    /// Send a direct message (refused locally if the recipient is unknown or the content carries a credential).
    Send(Online<send::Args>),
    /// List this peer's inbox, newest first.
    Inbox(Online<inbox::Args>),
    /// Mark messages read.
    Read(Online<read::Args>),
    /// Reply to a message (to its other party, in its thread; an answer to a question by default).
    Reply(Online<commands::reply::Args>),
    /// Show what became of a message: delivered, read, answered, due.
    Status(Online<commands::status::Args>),
    /// List open questions: owed by this peer and awaiting an answer, overdue first.
    Todo(Online<commands::todo::Args>),
    /// Search the DMs this identity may read (the operator: all), best match first.
    Search(Online<commands::search::Args>),
    /// List registered peers; operator: rm, revoke, rotate, enable, disable, guard one (no --as needed).
    Peers(Online<peers::Args>),
    /// List, add or remove aliases (changes: operator; no --as needed).
    Alias(OnlineGroup<alias::Command>),
    /// Register (or update) this peer; saves a newly minted per-peer token.
    Register(Online<register::Args>),
    /// Show, forget or set (from stdin) the stored per-peer token of --as NAME for this gateway.
    Token(OnlineGroup<token::Command>),
    /// List the peer pairs the conversation-loop breaker refuses, or reset one (operator).
    Loops(Online<loops::Args>),
    /// Mint, list or show threads.
    Thread(OnlineGroup<thread::Command>),
    /// Follow the inbox live: print each new DM, or run a command per DM; resumes where it stopped.
    Watch(Online<watch::Args>),
    /// Block until the next DM arrives and print it (exit 1 if --timeout passes first).
    Wait(Online<wait::Args>),
    /// Serve MCP on stdio as --as NAME (tools: send, inbox, wait, reply, thread, ...), for agent hosts.
    Mcp(Online<mcp::Args>),
    /// Scan text for credentials without sending anything (exit 1 if one is found).
    Scan(scan::Args),
    /// Print a shell completion script.
    Completions(completions::Args),
    /// Run the gateway (SQLite by default; no flags needed).
    Serve(Box<serve::Args>),
    /// Load a `meshgate export` file or a swarph gateway's mesh.db into a store (idempotent).
    Import(commands::import::Args),
    /// Write all data of a store as JSON lines (tokens as hashes only).
    Export(commands::export::Args),
    /// Put DMs in front of Claude Code, Codex or Gemini CLI sessions: install, uninstall, and the hook commands.
    Hooks(OnlineGroup<commands::hooks::Command>),
    /// Copy a SQLite store consistently while the gateway serves it (PostgreSQL: pg_dump).
    Backup(commands::backup::Args),
    /// Delete old read DMs (and, if asked, old unread ones) once, and print the counts.
    Gc(commands::gc::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A hook's exit 2 means "block" or "wake" to its host: a usage
        // error there is reported and exits 0 instead.
        Err(err)
            if !matches!(err.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion)
                && commands::hooks::is_hook_run(&std::env::args_os().collect::<Vec<_>>()) =>
        {
            eprintln!("meshgate hook: {err}");
            return ExitCode::SUCCESS;
        }
        Err(err) => err.exit(),
    };
    restore_sigpipe(&cli.command);
    // The gateway logs at info by default; client commands only warn.
    let serving = matches!(cli.command, Command::Serve(_));
    let json = matches!(&cli.command, Command::Serve(args) if args.log_format == "json");
    init_tracing(cli.verbose + u8::from(serving), json);
    let global = cli.command.global().cloned().unwrap_or_else(Global::offline);
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Scan(args) => scan::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Backup(args) => commands::backup::run(args),
        online => run_online(online),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("meshgate: {err:#}");
            if let Some(hint) = exit::hint(&err, &global) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(exit::exit_code(&err))
        }
    }
}

impl Command {
    /// The gateway options of a command that talks to the gateway.
    fn global(&self) -> Option<&Global> {
        Some(match self {
            Command::Send(o) => &o.global,
            Command::Inbox(o) => &o.global,
            Command::Read(o) => &o.global,
            Command::Reply(o) => &o.global,
            Command::Status(o) => &o.global,
            Command::Todo(o) => &o.global,
            Command::Search(o) => &o.global,
            Command::Peers(o) => &o.global,
            Command::Register(o) => &o.global,
            Command::Loops(o) => &o.global,
            Command::Watch(o) => &o.global,
            Command::Wait(o) => &o.global,
            Command::Mcp(o) => &o.global,
            Command::Thread(o) => &o.global,
            Command::Token(o) => &o.global,
            Command::Alias(o) => &o.global,
            Command::Hooks(o) => &o.global,
            Command::Serve(_)
            | Command::Scan(_)
            | Command::Completions(_)
            | Command::Import(_)
            | Command::Export(_)
            | Command::Backup(_)
            | Command::Gc(_) => return None,
        })
    }
}

/// `meshgate peers --json | head -1`: a reader that stops early ends the
/// command quietly, as it does `ls` (Rust ignores SIGPIPE, so each print
/// would otherwise panic). `serve`, `watch` and `mcp` keep it ignored: they
/// write to sockets and `--exec` children's stdin, where a closed pipe is an
/// error to handle, not a reason to die (`watch` reports a closed stdout;
/// `mcp` ends its session when the host closes its pipes).
fn restore_sigpipe(command: &Command) {
    #[cfg(unix)]
    if !matches!(command, Command::Serve(_) | Command::Watch(_) | Command::Mcp(_)) {
        sigpipe::reset();
    }
    #[cfg(not(unix))]
    let _ = command;
}

/// Runs a client command (or `import`/`export`, which open a store
/// directly) on a fresh tokio runtime.
fn run_online(command: Command) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        match command {
            Command::Send(o) => send::run(o.args, &o.global).await,
            Command::Inbox(o) => inbox::run(o.args, &o.global).await,
            Command::Read(o) => read::run(o.args, &o.global).await,
            Command::Reply(o) => commands::reply::run(o.args, &o.global).await,
            Command::Status(o) => commands::status::run(o.args, &o.global).await,
            Command::Todo(o) => commands::todo::run(o.args, &o.global).await,
            Command::Search(o) => commands::search::run(o.args, &o.global).await,
            Command::Peers(o) => peers::run(o.args, &o.global).await,
            Command::Register(o) => register::run(o.args, &o.global).await,
            Command::Thread(o) => thread::run(o.command, &o.global).await,
            Command::Loops(o) => loops::run(o.args, &o.global).await,
            Command::Token(o) => token::run(o.command, &o.global).await,
            Command::Alias(o) => alias::run(o.command, &o.global).await,
            Command::Watch(o) => watch::run(o.args, &o.global).await,
            Command::Wait(o) => wait::run(o.args, &o.global).await,
            Command::Mcp(o) => mcp::run(o.args, &o.global).await,
            Command::Import(args) => commands::import::run(args).await,
            Command::Export(args) => commands::export::run(args).await,
            Command::Hooks(o) => commands::hooks::run(o.command, &o.global).await,
            Command::Gc(args) => commands::gc::run(args).await,
            Command::Serve(_) | Command::Scan(_) | Command::Completions(_) | Command::Backup(_) => {
                unreachable!("these commands run in main")
            }
        }
    })
}

/// Diagnostics go to stderr: warnings by default (a stale registry, an
/// alias resolved), more with `-v`/`-vv`; `RUST_LOG` overrides. `json`
/// (`serve --log-format json`): one JSON object per line, with a timestamp
/// and the current span (a request's id, method and path).
fn init_tracing(verbose: u8, json: bool) {
    // rmcp (MCP) logs each session's life at info, a client that leaves
    // mid-handshake at ERROR from its HTTP service, and a tool call with
    // badly typed arguments at WARN quoting the caller's values (a body,
    // a token); the gateway logs what matters of that itself
    // (`meshgate_server::mcp`), so below -vv rmcp says only errors and
    // that service nothing.
    let filter = log_filter(verbose, std::env::var("RUST_LOG").ok().as_deref());
    if json {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return;
    }
    // Colour only for a person at a terminal: not in a log file or pipe,
    // and not when NO_COLOR is set (https://no-color.org).
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .without_time()
        .init();
}

/// The log filter of `-v` count `verbose`, or of `RUST_LOG` when set and
/// valid. The PostgreSQL driver logs every statement's parameters at debug
/// (search words, token hashes), so `tokio_postgres` stays at info unless
/// `RUST_LOG` names it.
fn log_filter(verbose: u8, rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let default = match verbose {
        0 => "warn,rmcp=error,rmcp::transport::streamable_http_server::tower=off",
        1 => "info,rmcp=error,rmcp::transport::streamable_http_server::tower=off",
        _ => "debug",
    };
    let quiet_pg =
        |f: &str| if f.contains("tokio_postgres") { f.to_owned() } else { format!("{f},tokio_postgres=info") };
    rust_log
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(quiet_pg(v)).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(quiet_pg(default)))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What a filter lets through of a driver's and the gateway's debug line.
    fn logged(filter: tracing_subscriber::EnvFilter) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt().with_env_filter(filter).with_writer(move || writer.clone()).finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "tokio_postgres::query", "executing statement s1 with parameters: [secretword]");
            tracing::debug!(target: "meshgate_server::console", "gateway debug line");
        });
        let text = out.0.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn debug_logging_never_shows_the_postgres_drivers_statement_parameters() {
        for (verbose, rust_log) in [(2, None), (0, Some("debug")), (0, Some("trace")), (3, Some(" "))] {
            let text = logged(super::log_filter(verbose, rust_log));
            assert!(text.contains("gateway debug line"), "{verbose} {rust_log:?}: {text}");
            assert!(!text.contains("secretword"), "{verbose} {rust_log:?}: {text}");
        }
        let asked = logged(super::log_filter(0, Some("debug,tokio_postgres=debug")));
        assert!(asked.contains("secretword"), "RUST_LOG naming the driver is obeyed");
    }
}
