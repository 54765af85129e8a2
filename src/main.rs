//! The `campaign` command: a thin front over the library. [`cli`] parses
//! the arguments and runs the command; how it failed, if it did, becomes
//! the exit status (and any message not shown yet) in one place,
//! `Failure::report`.

mod cli;

use std::process::ExitCode;

/// A delivery run allocates and frees per request on one thread while the
/// reader and journal threads do the same; mimalloc's thread-local heaps
/// make that cheaper than the system allocator (docs/performance.md).
/// The binary's choice only: the library leaves it to its user.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
