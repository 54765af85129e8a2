//! `campaign graph`: the campaign as a flow chart. [`model`] builds the
//! nodes and edges from the typed AST (one node per step, each with its
//! span); [`counts`] puts a dry run's contacts on them through the VM's
//! [`Trace`](crate::vm::Trace) hook; [`view`] cuts a large picture down
//! (`--collapse`, `--block`); [`dot`], [`mermaid`], [`json`] and [`svg`]
//! (laid out by [`layout`]) write it. The server's live map draws the same
//! graph with its own counts.

pub mod counts;
pub mod dot;
pub mod json;
pub mod layout;
pub mod mermaid;
pub mod model;
pub mod svg;
pub mod view;

use std::io::{Read, Write};

use crate::compile::instructions::Program;
use crate::contacts::ContactsFormat;
use crate::diagnostics::SourceFile;
use crate::run::dry_run::{DryRun, DryRunError, Summary};
use crate::syntax::ast::Campaign;
use counts::Counter;

pub use model::{Edge, EdgeKind, Graph, Kind, Location, Node, NodeCounts, Totals};
pub use view::{View, ViewError};

/// More nodes than this are not drawn in one picture unless asked
/// (`--max-nodes`): past about two hundred boxes a flow chart stops being
/// something a person reads. Documented in docs/graph.md.
pub const MAX_NODES: usize = 200;

/// The graph of a campaign, without counts.
pub fn build(campaign: &Campaign, source: &SourceFile) -> Graph {
    model::build(campaign, source).0
}

/// Why a counted graph could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    /// The dry run stopped.
    #[error(transparent)]
    DryRun(#[from] DryRunError),
    /// The program does not match the campaign's steps (a bug).
    #[error(transparent)]
    Shape(#[from] counts::ShapeError),
}

/// The graph of a campaign with the counts of `dry_run` over `contacts`
/// (whose effects are written to `out`, as `campaign run --dry-run` would
/// print them). `program` must be `campaign` compiled.
pub fn build_counted<R: Read, W: Write>(
    campaign: &Campaign,
    source: &SourceFile,
    program: &Program,
    dry_run: &DryRun<'_>,
    contacts: R,
    format: ContactsFormat,
    out: W,
) -> Result<(Graph, Summary), CountError> {
    let (mut graph, steps) = model::build(campaign, source);
    let (summary, counter) =
        dry_run.run_traced(contacts, format, out, counts::Counter::new(program))?;
    let unreadable = summary.contacts - Counter::contacts(&counter);
    let totals = Totals {
        records: summary.contacts,
        unreadable,
    };
    counts::attribute(&mut graph, &steps, program, &counter, totals)?;
    Ok((graph, summary))
}
