//! Writing to stdout and stderr without panicking on a closed or full stream.

use std::io::{self, Write};
use std::process::ExitCode;

/// Writes to stdout; false if that failed for another reason than a
/// reader that went away (see [`stdout_went_away`]).
pub(super) fn print_stdout(text: &str) -> bool {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) => stdout_went_away(&e),
    }
}

/// What a failed write to stdout means. A reader that went away
/// (`| head`: a broken pipe) ends the output quietly, and the command keeps
/// the exit status it had; true then. Any other error (a full disk, a
/// closed descriptor) is reported, and false: the command fails.
pub(super) fn stdout_went_away(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return true;
    }
    eprintln!("error: writing output: {e}");
    false
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

pub(super) fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
