//! `campaign report`: the summary of a run, from its journal.

use super::error::{CliError, Failure};
use super::output::print_stdout;
use super::render::render_journal_summary;
use super::{DataFormat, ReportArgs};

pub(super) fn report(args: &ReportArgs) -> Result<(), Failure> {
    let summary = campaign::deliver::journal::summary(&args.journal)?;
    let text = match args.format {
        DataFormat::Human => render_journal_summary(&summary),
        DataFormat::Json => {
            let mut text =
                serde_json::to_string_pretty(&summary).map_err(|e| CliError::Output(e.into()))?;
            text.push('\n');
            text
        }
    };
    print_stdout(&text)?;
    Ok(())
}
