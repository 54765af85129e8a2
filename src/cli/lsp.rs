//! `campaign lsp`: the language server on stdin and stdout. All of it is
//! in the library (`campaign::lsp`); this only starts it.

use super::error::{CliError, Failure};

pub(super) fn lsp() -> Result<(), Failure> {
    campaign::lsp::server::run_stdio().map_err(|e| CliError::Lsp(e).into())
}
