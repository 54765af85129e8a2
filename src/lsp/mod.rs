//! The language server's analyses: what `campaign lsp` answers, computed
//! from the library's parser, checks and spans, so the editor and
//! `campaign check` never disagree.
//!
//! Everything here works in byte offsets ([`crate::span::Span`]); only
//! [`server`] speaks LSP, translating UTF-16 positions ([`lines`]) and
//! calling the functions below. Completion and hover read the text around
//! the cursor lexically ([`context`]), so they answer at once on a
//! half-typed line of a large file; the outline, navigation and quick fixes
//! use the syntax tree that the diagnostics came from ([`Analysis`]);
//! formatting is `campaign fmt`'s ([`crate::fmt`]), as one whole-document
//! edit.

pub mod actions;
pub mod complete;
pub mod context;
pub mod docs;
pub mod hover;
pub mod knowledge;
pub mod lines;
pub mod navigate;
pub mod server;
pub mod symbols;

use std::cell::OnceCell;

use crate::check::Schema;
use crate::diagnostics::Diagnostic;
use crate::syntax::ast::Campaign;
use lines::{LineIndex, Position};

/// `text` as `campaign fmt` writes it: `None` when it already is, the
/// syntax errors when it does not parse (then it is not formatted).
pub fn format(text: &str) -> Result<Option<String>, Vec<Diagnostic>> {
    let formatted = crate::fmt::format_source(text)?;
    Ok((formatted != text).then_some(formatted))
}

/// The syntax tree and diagnostics of one version of a document.
#[derive(Debug)]
pub struct Analysis {
    /// What parsed (all of it, unless there are syntax errors).
    pub campaign: Option<Campaign>,
    /// Exactly what `campaign check` reports for the same text and schema.
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    /// Parses and checks `text`.
    pub fn new(text: &str, schema: Option<&Schema>) -> Analysis {
        let (campaign, diagnostics) = crate::diagnose_tree(text, schema);
        Analysis {
            campaign,
            diagnostics,
        }
    }
}

/// An open document: its text, line index and (computed when first asked
/// for) analysis.
#[derive(Debug)]
pub struct Document {
    text: String,
    lines: LineIndex,
    /// The editor's version number.
    pub version: i32,
    analysis: OnceCell<Analysis>,
}

impl Document {
    /// A document as opened.
    pub fn new(text: String, version: i32) -> Document {
        Document {
            lines: LineIndex::new(&text),
            text,
            version,
            analysis: OnceCell::new(),
        }
    }

    /// The current text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its line index.
    pub fn lines(&self) -> &LineIndex {
        &self.lines
    }

    /// The byte offset of an LSP position.
    pub fn offset(&self, position: Position) -> usize {
        self.lines.offset(&self.text, position)
    }

    /// The LSP position of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        self.lines.position(&self.text, offset)
    }

    /// Replaces `range` (the whole text for `None`) with `new`.
    pub fn edit(&mut self, range: Option<(Position, Position)>, new: &str) {
        match range {
            None => self.text = new.to_string(),
            Some((start, end)) => {
                let start = self.offset(start);
                let end = self.offset(end).max(start);
                self.text.replace_range(start..end, new);
            }
        }
        self.lines = LineIndex::new(&self.text);
        self.analysis = OnceCell::new();
    }

    /// Forgets the analysis (the schema changed).
    pub fn invalidate(&mut self) {
        self.analysis = OnceCell::new();
    }

    /// Whether the current text has been analysed.
    pub fn is_analysed(&self) -> bool {
        self.analysis.get().is_some()
    }

    /// The analysis of the current text, computed now if needed.
    pub fn analysis(&self, schema: Option<&Schema>) -> &Analysis {
        self.analysis
            .get_or_init(|| Analysis::new(&self.text, schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_use_utf16_positions() {
        let mut doc = Document::new("a😀b\nc".into(), 1);
        let at = |line, character| Position { line, character };
        // Replace `b` (after the two-unit emoji).
        doc.edit(Some((at(0, 3), at(0, 4))), "é");
        assert_eq!(doc.text(), "a😀é\nc");
        doc.edit(Some((at(1, 1), at(1, 1))), "d");
        assert_eq!(doc.text(), "a😀é\ncd");
        assert_eq!(doc.position(doc.text().len()), at(1, 2));
    }
}
