//! The `kakari` binary: parse the command line and run it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    kakari::cli::run(kakari::cli::Cli::parse())
}
