//! Entry point: parse the command line, run the command, map the outcome to an exit code.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = blockops::cli::Cli::parse();
    blockops::error::exit(blockops::cli::run(cli))
}
