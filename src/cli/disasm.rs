//! `campaign disasm`: the bytecode listing of a campaign.

use std::path::Path;

use super::error::Failure;
use super::inputs::{compile, read_campaign};
use super::output::print_stdout;
use super::render::render;

pub(super) fn disasm(file: &Path) -> Result<(), Failure> {
    let source = read_campaign(file)?;
    let compiled = compile(&source)?;
    render(&source, &compiled.warnings);
    let listing = compiled.program.listing();
    print_stdout(&campaign::terminal::escape_keep_lines(&listing))?;
    Ok(())
}
