//! The `campaign` command: a thin front over the library. [`cli`] parses
//! the arguments and runs the command; how it failed, if it did, becomes
//! the exit status (and any message not shown yet) in one place,
//! `Failure::report`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
