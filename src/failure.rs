//! Why a contact's run failed, and where in the script: the one type both
//! drivers (the dry run and a real run) report failures with, so their
//! outputs point at the step the same way.
//!
//! A failure carries the span of the step or merge at fault: a VM runtime
//! error the span of its instruction (the program's pc-to-span table), a
//! delivery failure the span of its webhook step. A record that could not
//! be read fails before any step, so it has none. Drivers print a location
//! with every failure (`line` and `column` in JSON, `file:line:col` for
//! people), and count them by code and place ([`FirstFailures`]) so that a
//! failure repeated for thousands of contacts is shown in full once.

use std::collections::HashMap;

use crate::compile::instructions::{Instruction, Program};
use crate::diagnostics::{Diagnostic, SourceFile};
use crate::span::Span;
use crate::vm::RuntimeError;

/// A contact's run failed: its code, message and place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Stable code, e.g. `campaign::run::filter`.
    pub code: &'static str,
    /// What went wrong, for this contact.
    pub message: String,
    /// The step or merge at fault; `None` when no step ran (a record that
    /// could not be read, a journal that could not be).
    pub span: Option<Span>,
}

impl Failure {
    /// A failure at `span`.
    pub fn new(code: &'static str, message: impl Into<String>, span: Option<Span>) -> Failure {
        Failure {
            code,
            message: message.into(),
            span,
        }
    }

    /// 1-based line and column (in characters) where it happened.
    pub fn location(&self, source: &SourceFile) -> Option<Location> {
        self.span.map(|span| {
            let (line, column) = source.line_col(span.start);
            Location { line, column }
        })
    }

    /// As a diagnostic for the renderer, if it has a place: the message,
    /// the span labelled, and `help` saying for whom it failed.
    pub fn diagnostic(&self, help: Option<String>) -> Option<Diagnostic> {
        let span = self.span?;
        let mut d = Diagnostic::error(self.code, span, self.message.clone()).label("failed here");
        d.help = help;
        Some(d)
    }
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Failure {
        Failure {
            code: e.code,
            message: e.message,
            span: Some(e.span),
        }
    }
}

/// A place in the source: 1-based line and column (characters), as
/// `campaign check --format json` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// The first occurrence of one distinct failure (same code, same place),
/// with how many contacts met it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstFailure {
    /// The first occurrence.
    pub failure: Failure,
    /// The contact it happened to first.
    pub contact: String,
    /// How many contacts failed this way.
    pub contacts: u64,
}

impl FirstFailure {
    /// The failure as a diagnostic, its help saying for whom it happened.
    pub fn diagnostic(&self) -> Option<Diagnostic> {
        let others = match self.contacts {
            0 | 1 => String::new(),
            2 => "; 1 other contact failed the same way".to_string(),
            n => format!("; {} other contacts failed the same way", n - 1),
        };
        self.failure.diagnostic(Some(format!(
            "first for contact {}{others}",
            crate::terminal::escape(&self.contact)
        )))
    }
}

/// Counts failures by code and place, keeping the first of each. Memory is
/// bounded by the script, not by the contacts: a place is a span of the
/// program.
#[derive(Debug, Default)]
pub struct FirstFailures {
    index: HashMap<(&'static str, Option<Span>), usize>,
    list: Vec<FirstFailure>,
}

impl FirstFailures {
    /// Counts `failure` of `contact`; true if it is the first of its kind.
    pub fn note(&mut self, contact: &str, failure: &Failure) -> bool {
        match self.index.get(&(failure.code, failure.span)) {
            Some(&i) => {
                self.list[i].contacts += 1;
                false
            }
            None => {
                self.index
                    .insert((failure.code, failure.span), self.list.len());
                self.list.push(FirstFailure {
                    failure: failure.clone(),
                    contact: contact.to_string(),
                    contacts: 1,
                });
                true
            }
        }
    }

    /// The failures, each with its count, in the order first met.
    pub fn into_vec(self) -> Vec<FirstFailure> {
        self.list
    }
}

/// Where a delivery failure of each webhook step points (by webhook
/// index): the first line of the step (`webhook "Sync" {`), as a whole
/// step of many lines would bury the name. Each webhook is sent by exactly
/// one `Webhook` instruction, whose span is the step's; `source` is the
/// text the program was compiled from.
pub fn webhook_spans(program: &Program, source: &str) -> Vec<Span> {
    let mut spans = vec![Span::default(); program.webhooks.len()];
    for (pc, ins) in program.code.iter().enumerate() {
        if let Instruction::Webhook(id) = ins {
            if let Some(slot) = spans.get_mut(*id as usize) {
                *slot = first_line(program.span_at(pc), source);
            }
        }
    }
    spans
}

/// `span` cut at the end of its first line, trailing spaces dropped.
fn first_line(span: Span, source: &str) -> Span {
    let (start, end) = (span.start as usize, span.end as usize);
    let Some(text) = source.get(start..end) else {
        return span;
    };
    let line = text.split('\n').next().unwrap_or(text).trim_end();
    if line.is_empty() {
        return span;
    }
    Span::new(start, start + line.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_each_code_and_place_is_kept_and_the_rest_counted() {
        let at = |start| Some(Span::new(start, start + 3));
        let mut first = FirstFailures::default();
        assert!(first.note("a", &Failure::new("campaign::run::filter", "one", at(10))));
        assert!(!first.note("b", &Failure::new("campaign::run::filter", "two", at(10))));
        assert!(first.note("c", &Failure::new("campaign::run::filter", "three", at(20))));
        assert!(first.note("d", &Failure::new("campaign::run::date", "four", at(10))));
        assert!(first.note(
            "e",
            &Failure::new("campaign::contacts::invalid_record", "x", None)
        ));
        assert!(!first.note(
            "f",
            &Failure::new("campaign::contacts::invalid_record", "y", None)
        ));
        let list = first.into_vec();
        let summary: Vec<_> = list
            .iter()
            .map(|f| (f.failure.message.as_str(), f.contact.as_str(), f.contacts))
            .collect();
        assert_eq!(
            summary,
            [
                ("one", "a", 2),
                ("three", "c", 1),
                ("four", "d", 1),
                ("x", "e", 2)
            ]
        );
        let d = list[0].diagnostic().unwrap();
        assert_eq!(d.span, Span::new(10, 13));
        assert_eq!(d.code, "campaign::run::filter");
        assert_eq!(
            d.help.as_deref(),
            Some("first for contact a; 1 other contact failed the same way")
        );
        assert!(
            list[3].diagnostic().is_none(),
            "a record error has no place"
        );
    }

    #[test]
    fn every_webhook_has_the_span_of_its_step() {
        let source = "campaign \"A\" {\n    webhook \"One\" {\n        url \"https://x.example.com\"\n    }\n    note \"n\"\n    webhook \"Two\" {\n        url \"https://y.example.com/[Id]\"\n    }\n}\n";
        let program = crate::compile(source, None).unwrap().program;
        let spans = webhook_spans(&program, source);
        let heads: Vec<&str> = spans
            .iter()
            .map(|s| &source[s.start as usize..s.end as usize])
            .collect();
        assert_eq!(heads, ["webhook \"One\" {", "webhook \"Two\" {"]);
    }
}
