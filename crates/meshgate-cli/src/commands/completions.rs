//! `meshgate completions SHELL`

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::exit::OK;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Shell to generate for.
    pub shell: Shell,
}

/// Prints the completion script on stdout.
pub fn run(args: Args) -> Result<u8> {
    let mut command = crate::Cli::command();
    clap_complete::generate(args.shell, &mut command, "meshgate", &mut std::io::stdout());
    Ok(OK)
}
