//! `campaign report`.

use std::path::Path;
use std::process::ExitCode;

use super::output::{fail, print_stdout};
use super::render::render_journal_summary;

pub(super) fn report(path: &Path) -> ExitCode {
    match campaign::deliver::journal::summary(path) {
        Ok(summary) => {
            if print_stdout(&render_journal_summary(&summary)) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(&e.to_string()),
    }
}
