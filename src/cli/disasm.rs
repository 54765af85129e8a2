//! `campaign disasm`: the bytecode listing of a campaign, or the program
//! as JSON (the same data a library user gets from `campaign::compile`).

use super::error::{CliError, Failure};
use super::inputs::{compile, read_campaign};
use super::output::print_stdout;
use super::render::render;
use super::{DataFormat, DisasmArgs};

pub(super) fn disasm(args: &DisasmArgs) -> Result<(), Failure> {
    let source = read_campaign(&args.file)?;
    let compiled = compile(&source)?;
    render(&source, &compiled.warnings);
    let text = match args.format {
        DataFormat::Human => {
            campaign::terminal::escape_keep_lines(&compiled.program.listing()).into_owned()
        }
        DataFormat::Json => {
            let mut text = serde_json::to_string_pretty(&compiled.program)
                .map_err(|e| CliError::Output(e.into()))?;
            text.push('\n');
            text
        }
    };
    print_stdout(&text)?;
    Ok(())
}
