//! `campaign` compiles `.campaign` scripts (ONTRAPORT-style campaign steps as text)
//! to bytecode and runs them per contact.
//!
//! The pipeline: [`syntax`] parses source (pest for the file, logos for merge
//! templates) into a typed AST with byte spans; [`check`] reports semantic
//! errors and lints; [`compile`](mod@compile) lowers the AST to a [`compile::Program`];
//! [`vm`] runs a program for one contact at a time and yields effects;
//! [`request`] turns a webhook effect into the exact request; [`run`] drives
//! the VM over a stream of [`contacts`] and records the effects (dry run);
//! [`deliver`] sends them over HTTP for real. Every stage reports
//! [`diagnostics::Diagnostic`]s; only the binary renders them.
//!
//! Stages only look down (`tests/layering.rs` holds the tree to it, and
//! this list to its table), lowest first:
//! - leaves: [`span`], `threads` (the stack-sized threads that parse, check
//!   and free a large campaign), [`terminal`], [`encode`], [`input`],
//!   [`frames`] (effects handed between threads without JSON); then
//!   [`diagnostics`] and the [`contacts`] reader;
//! - [`syntax`]; then [`filters`]' compile-time half and [`url_template`],
//!   which the checker and the compiler share, and [`fmt`], the formatter;
//! - [`check`] and [`compile`](mod@compile);
//! - [`vm`] (with the filters' `apply`) and [`schema`];
//! - [`request`], [`effect`] and [`failure`], which both drivers use;
//!   [`store`], the server's state behind one trait (beside them: it knows
//!   rows, not programs); and [`workspace`], the `campaign.toml` settings
//!   beside the scripts;
//! - [`run`] and [`deliver`], the two drivers;
//! - [`verify`], which checks inbound webhooks' signatures for the server;
//!   [`diff`], which compares two dry runs' effects for `campaign diff` and
//!   `campaign test`; and [`graph`], the campaign as a flow chart (counted
//!   by a dry run);
//! - [`serve`], the live engine and its HTTP side (its live map draws the
//!   graph), and [`expect`], the test files `campaign test` runs;
//! - [`lsp`], the language server's analyses over all of the above.
//!
//! Parsing, checking and compiling may run on several threads at once: the
//! parser guards the process-wide settings pest keeps. A [`compile::Program`]
//! and a [`vm::Run`] built or deserialized by hand cannot make the VM panic
//! or loop; what it cannot run ends that contact with
//! `campaign::run::invalid_program`.
#![warn(missing_docs, rust_2018_idioms)]

pub mod check;
pub mod compile;
pub mod contacts;
pub mod deliver;
pub mod diagnostics;
pub mod diff;
pub mod effect;
pub mod encode;
pub mod expect;
pub mod failure;
pub mod filters;
pub mod fmt;
pub mod frames;
pub mod graph;
pub mod input;
pub mod lsp;
pub mod request;
pub mod run;
pub mod schema;
pub mod serve;
pub mod span;
pub mod store;
pub mod syntax;
pub mod terminal;
mod threads;
pub mod url_template;
pub mod verify;
pub mod vm;
pub mod workspace;

use check::Schema;
use compile::Program;
use diagnostics::Diagnostic;

/// A program that compiled, with the warnings found on the way.
#[derive(Debug)]
pub struct Compiled {
    /// The bytecode.
    pub program: Program,
    /// Warnings (never errors).
    pub warnings: Vec<Diagnostic>,
}

/// Every diagnostic for a source: syntax errors, or else all semantic
/// errors and lints, in source order.
pub fn diagnose(source: &str, schema: Option<&Schema>) -> Vec<Diagnostic> {
    let (campaign, diagnostics) = diagnose_tree(source, schema);
    if let Some(campaign) = campaign {
        if campaign.span.len() >= check::PARALLEL_FROM {
            threads::drop_in_background(campaign);
        }
    }
    diagnostics
}

/// [`diagnose`], keeping the syntax tree it checked (what parsed of it,
/// when there are syntax errors), for tools that go on to answer questions
/// about the same text (the language server).
pub fn diagnose_tree(
    source: &str,
    schema: Option<&Schema>,
) -> (Option<syntax::ast::Campaign>, Vec<Diagnostic>) {
    let (campaign, mut errors) = syntax::parser::parse_partial(source);
    if let Some(campaign) = &campaign {
        // Parts that failed to build were left out of the AST; a check that
        // trips over the gap (an "empty URL" around a bad escape) would only
        // repeat the first error, so findings overlapping one are dropped.
        errors.sort_by_key(|e| e.span.start);
        let found: Vec<Diagnostic> = {
            let overlaps = overlap_test(&errors);
            check::check(campaign, schema)
                .into_iter()
                .filter(|d| !overlaps(d))
                .collect()
        };
        errors.extend(found);
        errors.sort_by_key(|d| (d.span.start, d.span.end));
    }
    (campaign, errors)
}

/// Whether a diagnostic overlaps one of `errors` (a zero-width span counts
/// as one byte), in O(log n) per question: thousands of syntax errors and
/// thousands of findings must not take their product. `errors` must be
/// sorted by where they start.
fn overlap_test(errors: &[Diagnostic]) -> impl Fn(&Diagnostic) -> bool + '_ {
    let end = |d: &Diagnostic| d.span.end.max(d.span.start + 1);
    // The furthest end among the errors up to each one.
    let mut furthest = Vec::with_capacity(errors.len());
    let mut max = 0;
    for e in errors.iter() {
        max = max.max(end(e));
        furthest.push(max);
    }
    move |d: &Diagnostic| {
        // Errors starting before `d` ends; one of them must end after it starts.
        let before = errors.partition_point(|e| e.span.start < end(d));
        before > 0 && furthest[before - 1] > d.span.start
    }
}

/// Compiles a source to a program. Fails with every diagnostic (errors and
/// warnings) if there is any error.
pub fn compile(source: &str, schema: Option<&Schema>) -> Result<Compiled, Vec<Diagnostic>> {
    compile_keeping_ast(source, schema).map(|(_, compiled)| compiled)
}

/// [`compile()`], also handing back the syntax tree, for tools that need
/// both (`campaign graph` draws the tree and counts with the program).
pub fn compile_keeping_ast(
    source: &str,
    schema: Option<&Schema>,
) -> Result<(syntax::ast::Campaign, Compiled), Vec<Diagnostic>> {
    let campaign = syntax::parser::parse(source)?;
    let diagnostics = check::check(&campaign, schema);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let program = compile::generate(&campaign);
    Ok((
        campaign,
        Compiled {
            program,
            warnings: diagnostics,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use span::Span;

    proptest! {
        /// The sorted, prefix-maximum overlap test answers as the plain
        /// pairwise one did, zero-width spans included.
        #[test]
        fn overlap_test_is_the_pairwise_test(
            errors in proptest::collection::vec((0u32..200, 0u32..20), 0..30),
            probes in proptest::collection::vec((0u32..220, 0u32..20), 1..30),
        ) {
            let diagnostic = |(start, len): (u32, u32)| {
                Diagnostic::error("campaign::test::x", Span::new(start as usize, (start + len) as usize), "x")
            };
            let mut errors: Vec<Diagnostic> = errors.into_iter().map(diagnostic).collect();
            errors.sort_by_key(|e| e.span.start);
            let fast = overlap_test(&errors);
            for d in probes.into_iter().map(diagnostic) {
                let pairwise = errors.iter().any(|e| {
                    e.span.start < d.span.end.max(d.span.start + 1)
                        && d.span.start < e.span.end.max(e.span.start + 1)
                });
                prop_assert_eq!(fast(&d), pairwise, "{:?}", d.span);
            }
        }
    }
}
