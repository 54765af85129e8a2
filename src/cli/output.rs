//! Writing to stdout and stderr without panicking on a closed or full stream.

use std::io::{self, Write};
use std::sync::OnceLock;

use super::error::CliError;
use super::Verbosity;

/// Writes to stdout. A reader that went away (`| head`: a broken pipe)
/// ends the output quietly, and the command keeps the exit status it had;
/// any other error (a full disk, a closed descriptor) fails the command.
pub(super) fn print_stdout(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    reader_may_leave(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// The outcome of writing to stdout, as [`print_stdout`] judges it.
pub(super) fn reader_may_leave(written: io::Result<()>) -> Result<(), CliError> {
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
        _ => Ok(()),
    }
}

/// Writes to stderr, and says whether it could: a closed or full stderr
/// loses the text but never stops the command, whose exit status still
/// tells. std's `eprintln!` panics there instead.
pub(super) fn write_stderr(text: &str) -> bool {
    let mut err = io::stderr().lock();
    err.write_all(text.as_bytes())
        .and_then(|()| err.flush())
        .is_ok()
}

static VERBOSITY: OnceLock<Verbosity> = OnceLock::new();

pub(super) fn set_verbosity(v: Verbosity) {
    let _ = VERBOSITY.set(v);
}

/// `-q` or `-v`, if either was given.
pub(super) fn verbosity() -> Verbosity {
    VERBOSITY.get().copied().unwrap_or(Verbosity::Normal)
}

/// Whether summaries, notes and progress are wanted (not `-q`).
pub(super) fn chatty() -> bool {
    verbosity() != Verbosity::Quiet
}
