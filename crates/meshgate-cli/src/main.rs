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

/// Send, read and manage direct messages between AI peers through a mesh
/// gateway.
#[derive(Debug, Parser)]
#[command(name = "meshgate", version, after_long_help = exit::EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand. `scan` and `completions` run without an async runtime
/// and `serve` builds its own; the client commands get a `Global` to build
/// their client from; `import` and `export` open a store, not the gateway.
#[derive(Debug, Subcommand)]
enum Command {
    /// Send a direct message (refused locally if the recipient is unknown or the content carries a credential).
    Send(send::Args),
    /// List this peer's inbox, newest first.
    Inbox(inbox::Args),
    /// Mark messages read.
    Read(read::Args),
    /// Reply to a message (to its other party, in its thread; an answer to a question by default).
    Reply(commands::reply::Args),
    /// Show what became of a message: delivered, read, answered, due.
    Status(commands::status::Args),
    /// List open questions: owed by this peer and awaiting an answer, overdue first.
    Todo(commands::todo::Args),
    /// Search the DMs this identity may read (the operator: all), best match first.
    Search(commands::search::Args),
    /// List registered peers; operator: rm, revoke, rotate, enable, disable, guard one (no --as needed).
    Peers(peers::Args),
    /// List, add or remove aliases (changes: operator; no --as needed).
    #[command(subcommand)]
    Alias(alias::Command),
    /// Register (or update) this peer; saves a newly minted per-peer token.
    Register(register::Args),
    /// Show, forget or set (from stdin) the stored per-peer token of --as NAME for this gateway.
    #[command(subcommand)]
    Token(token::Command),
    /// List the peer pairs the conversation-loop breaker refuses, or reset one (operator).
    Loops(loops::Args),
    /// Mint, list or show threads.
    #[command(subcommand)]
    Thread(thread::Command),
    /// Follow the inbox live: print each new DM, or run a command per DM; resumes where it stopped.
    Watch(watch::Args),
    /// Block until the next DM arrives and print it (exit 1 if --timeout passes first).
    Wait(wait::Args),
    /// Serve MCP on stdio as --as NAME (tools: send, inbox, wait, reply, thread, ...), for agent hosts.
    Mcp(mcp::Args),
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
    #[command(subcommand)]
    Hooks(commands::hooks::Command),
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
    init_tracing(cli.global.verbose + u8::from(serving), json);
    let global = cli.global.clone();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Scan(args) => scan::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Backup(args) => commands::backup::run(args),
        online => run_online(online, cli.global),
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

/// `meshgate peers --json | head -1`: a reader that stops early ends the
/// command quietly, as it does `ls` (Rust ignores SIGPIPE, so each print
/// would otherwise panic). `serve` and `watch` keep it ignored: they write
/// to sockets and `--exec` children's stdin, where a closed pipe is an
/// error to handle, not a reason to die (`watch` reports a closed stdout).
fn restore_sigpipe(command: &Command) {
    #[cfg(unix)]
    if !matches!(command, Command::Serve(_) | Command::Watch(_)) {
        sigpipe::reset();
    }
    #[cfg(not(unix))]
    let _ = command;
}

/// Runs a client command (or `import`/`export`, which open a store
/// directly) on a fresh tokio runtime.
fn run_online(command: Command, global: Global) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        match command {
            Command::Send(args) => send::run(args, &global).await,
            Command::Inbox(args) => inbox::run(args, &global).await,
            Command::Read(args) => read::run(args, &global).await,
            Command::Reply(args) => commands::reply::run(args, &global).await,
            Command::Status(args) => commands::status::run(args, &global).await,
            Command::Todo(args) => commands::todo::run(args, &global).await,
            Command::Search(args) => commands::search::run(args, &global).await,
            Command::Peers(args) => peers::run(args, &global).await,
            Command::Register(args) => register::run(args, &global).await,
            Command::Thread(command) => thread::run(command, &global).await,
            Command::Loops(args) => loops::run(args, &global).await,
            Command::Token(command) => token::run(command, &global).await,
            Command::Alias(command) => alias::run(command, &global).await,
            Command::Watch(args) => watch::run(args, &global).await,
            Command::Wait(args) => wait::run(args, &global).await,
            Command::Mcp(args) => mcp::run(args, &global).await,
            Command::Import(args) => commands::import::run(args).await,
            Command::Export(args) => commands::export::run(args).await,
            Command::Hooks(command) => commands::hooks::run(command, &global).await,
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
    let default = match verbose {
        0 => "warn,rmcp=error,rmcp::transport::streamable_http_server::tower=off",
        1 => "info,rmcp=error,rmcp::transport::streamable_http_server::tower=off",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
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
