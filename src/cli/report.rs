//! `campaign report`: the summary of a run, from its journal.

use std::path::Path;

use super::error::Failure;
use super::output::print_stdout;
use super::render::render_journal_summary;

pub(super) fn report(journal: &Path) -> Result<(), Failure> {
    let summary = campaign::deliver::journal::summary(journal)?;
    print_stdout(&render_journal_summary(&summary))?;
    Ok(())
}
