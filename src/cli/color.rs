//! Whether to colour: `--color`, then the conventions of NO_COLOR
//! (no-color.org) and CLICOLOR_FORCE (bixense.com/clicolors), then whether
//! the stream is a terminal.

use std::io::{self, IsTerminal};
use std::sync::OnceLock;

use clap::ValueEnum;

/// The `--color` choice.
#[derive(Clone, Copy, PartialEq, Debug, ValueEnum)]
pub(crate) enum When {
    Auto,
    Always,
    Never,
}

static CHOICE: OnceLock<When> = OnceLock::new();

pub(super) fn set(when: When) {
    let _ = CHOICE.set(when);
}

/// Whether output to stderr gets colour.
pub(super) fn stderr() -> bool {
    decide(io::stderr().is_terminal())
}

/// Whether output to stdout gets colour.
pub(super) fn stdout() -> bool {
    decide(io::stdout().is_terminal())
}

fn decide(terminal: bool) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let force = std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0");
    choose(
        CHOICE.get().copied().unwrap_or(When::Auto),
        set("NO_COLOR"),
        force,
        terminal,
    )
}

/// An explicit `--color` wins; then NO_COLOR turns colour off (it is the
/// user's standing wish), then CLICOLOR_FORCE turns it on where there is no
/// terminal; otherwise a terminal gets colour.
fn choose(when: When, no_color: bool, force: bool, terminal: bool) -> bool {
    match when {
        When::Always => true,
        When::Never => false,
        When::Auto => !no_color && (force || terminal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_no_color_then_force_then_the_terminal() {
        assert!(choose(When::Always, true, false, false));
        assert!(!choose(When::Never, false, true, true));
        assert!(!choose(When::Auto, true, true, true));
        assert!(choose(When::Auto, false, true, false));
        assert!(choose(When::Auto, false, false, true));
        assert!(!choose(When::Auto, false, false, false));
    }
}
