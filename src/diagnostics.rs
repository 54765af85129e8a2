//! Diagnostics as data: every stage returns these, and only the CLI renders
//! them. Each carries a stable code, the exact span, a label and a help line.

pub mod codes;
mod excerpt;
mod lines;

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use miette::{LabeledSpan, SourceCode};
use serde::Serialize;

use crate::span::Span;
use excerpt::Excerpt;
use lines::LineIndex;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; `--deny warnings` makes it fail.
    Warning,
    /// The campaign cannot run.
    Error,
}

/// One finding about a source file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable dotted code, e.g. `campaign::merge::unknown_field`.
    pub code: &'static str,
    /// One sentence saying what is wrong.
    pub message: String,
    /// The exact characters at fault.
    pub span: Span,
    /// Text shown under the span.
    pub label: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Related places and a fix, which few diagnostics have: boxed, so
    /// the many without them stay small.
    extra: Option<Box<Extra>>,
}

/// What only some diagnostics carry.
#[derive(Debug, Clone, PartialEq, Default)]
struct Extra {
    related: Vec<Related>,
    fix: Option<Fix>,
}

/// Another place a diagnostic points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    /// Where, in the same source.
    pub span: Span,
    /// What is there, e.g. "first named here".
    pub message: String,
}

/// A replacement that fixes a diagnostic, for editors' quick fixes.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// What the fix does, e.g. "use `https://`".
    pub title: String,
    /// The bytes to replace.
    pub span: Span,
    /// What to put there.
    pub replacement: String,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            extra: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// Sets the text under the span.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a related place.
    pub fn with_related(mut self, span: Span, message: impl Into<String>) -> Self {
        self.extra
            .get_or_insert_with(Box::default)
            .related
            .push(Related {
                span,
                message: message.into(),
            });
        self
    }

    /// Sets the fix: replace `span` with `replacement`.
    pub fn with_fix(
        mut self,
        title: impl Into<String>,
        span: Span,
        replacement: impl Into<String>,
    ) -> Self {
        self.extra.get_or_insert_with(Box::default).fix = Some(Fix {
            title: title.into(),
            span,
            replacement: replacement.into(),
        });
        self
    }

    /// Other places that explain this one (the step a duplicate repeats).
    pub fn related(&self) -> &[Related] {
        self.extra.as_deref().map_or(&[], |e| &e.related)
    }

    /// The edit that fixes it, when the check knows it for certain.
    pub fn fix(&self) -> Option<&Fix> {
        self.extra.as_deref()?.fix.as_ref()
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// "did you mean `x`?" for the closest candidate, if any is close enough,
/// ignoring case. Two kinds of evidence count: one word starts with the
/// other and the shorter has at least 3 letters (`uppercase` for `upper`,
/// `upp` for `upper`), or few edits (a third of the candidate's length, at
/// least 1) that change at most half of the shorter word (`tagg` for `tag`,
/// but not `C` for `A`: a single letter is no evidence). The closest wins:
/// an edit-distance match over a prefix one at the same distance, then the
/// nearer length, then the first candidate.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let len = lower.chars().count();
    candidates
        .into_iter()
        .filter_map(|c| {
            let c_lower = c.to_lowercase();
            let c_len = c_lower.chars().count();
            let shorter = len.min(c_len);
            let prefix = shorter >= 3
                && c_lower != lower
                && (c_lower.starts_with(&lower) || lower.starts_with(&c_lower));
            let limit = (c_len.max(3) / 3).max(1) + usize::from(c_lower == lower);
            // The distance is at least the difference in length: most
            // candidates are out of reach without computing it.
            let edits = (len.abs_diff(c_len) <= limit)
                .then(|| strsim::damerau_levenshtein(&lower, &c_lower))
                .filter(|&d| d <= limit && (d * 2 <= shorter || c_lower == lower));
            match (edits, prefix) {
                (Some(d), _) => Some(((d, 0), len.abs_diff(c_len), c)),
                (None, true) => Some(((len.abs_diff(c_len), 1), len.abs_diff(c_len), c)),
                (None, false) => None,
            }
        })
        .min_by_key(|(rank, gap, _)| (*rank, *gap))
        .map(|(_, _, c)| c)
}

#[cfg(test)]
mod did_you_mean_tests {
    use super::did_you_mean;

    #[test]
    fn prefixes_and_edits_both_count_and_one_letter_is_no_evidence() {
        let filters = ["upper", "lower", "trim", "default", "number", "date"];
        assert_eq!(did_you_mean("uppercase", filters), Some("upper"));
        assert_eq!(did_you_mean("LOWERCASE", filters), Some("lower"));
        assert_eq!(did_you_mean("upp", filters), Some("upper"));
        assert_eq!(did_you_mean("numbr", filters), Some("number"));
        assert_eq!(did_you_mean("up", filters), None);
        assert_eq!(did_you_mean("C", ["A", "B"]), None);
        assert_eq!(did_you_mean("Ab", ["AB", "Cd"]), Some("AB"));
        assert_eq!(did_you_mean("tagg", ["tag", "note"]), Some("tag"));
        assert_eq!(did_you_mean("Emial", ["Email", "Name"]), Some("Email"));
        assert_eq!(did_you_mean("zzz", ["upper"]), None);
        // `dates` is one edit from `date` and starts like `datestamp`:
        // the edit wins.
        assert_eq!(did_you_mean("dates", ["date", "datestamp"]), Some("date"));
    }
}

/// A source file: its display name and text, shared by rendered reports.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in reports (the path as given).
    pub name: String,
    /// The text; invalid UTF-8 was replaced before it got here.
    pub text: Arc<str>,
    /// Built on the first lookup, so a clean file never pays for it.
    lines: Arc<OnceLock<LineIndex>>,
}

impl SourceFile {
    /// A named source.
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
            lines: Arc::default(),
        }
    }

    fn index(&self) -> &LineIndex {
        self.lines.get_or_init(|| LineIndex::new(&self.text))
    }

    /// 1-based line and column (in characters) of a byte offset, in time
    /// independent of the offset and of the number of lookups.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let (text, index) = (&*self.text, self.index());
        let offset = (offset as usize).min(text.len());
        let line = index.line_of(text, offset);
        let start = index.line_start(text, line);
        let column = index.chars_before(text, offset) - index.chars_before(text, start);
        (line + 1, column + 1)
    }
}

/// Longest message or help line a rendered report shows, in bytes.
const MESSAGE_BYTES: usize = 512;
/// Longest label or file name a rendered report shows, in bytes.
const LABEL_BYTES: usize = 160;

/// `text` cut to at most `max` bytes, ending in `…` when cut: diagnostics
/// quote the script, and a quote must not make a report huge.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut cut = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}…", &text[..cut]))
}

/// [`clip`], with the characters a terminal would act on escaped first:
/// what a rendered report prints of a message.
pub fn clip_for_terminal(text: &str, max: usize) -> Cow<'_, str> {
    match crate::terminal::escape_keep_lines(text) {
        Cow::Borrowed(text) => clip(text, max),
        Cow::Owned(text) => Cow::Owned(clip(&text, max).into_owned()),
    }
}

/// A diagnostic bound to its source, ready for miette to render.
///
/// It carries only an `Excerpt` of the source: a few lines around the
/// span, long lines cut around it; and its texts are cut to a few hundred
/// bytes. So a rendered report is a few KiB at most, and takes the same
/// time anywhere in any file.
#[derive(Debug)]
pub struct Report {
    diagnostic: Diagnostic,
    excerpt: Excerpt,
    /// The related places, each with its own excerpt, shown as advice.
    related: Vec<Report>,
    /// Whether this is one of another report's related places.
    advice: bool,
}

impl Report {
    /// Binds a diagnostic to the file it is about.
    pub fn new(diagnostic: Diagnostic, file: &SourceFile) -> Self {
        let related = diagnostic
            .related()
            .iter()
            .map(|r| {
                let note = Diagnostic::warning(diagnostic.code, r.span, r.message.clone());
                let mut report = Report::new(note, file);
                report.advice = true;
                report
            })
            .collect();
        let excerpt = Excerpt::new(
            clip_for_terminal(&file.name, LABEL_BYTES).into_owned(),
            &file.text,
            file.index(),
            diagnostic.span.start as usize,
            diagnostic.span.end as usize,
        );
        Report {
            diagnostic,
            excerpt,
            related,
            advice: false,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&clip_for_terminal(&self.diagnostic.message, MESSAGE_BYTES))
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.advice).then(|| Box::new(self.diagnostic.code) as Box<dyn fmt::Display>)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        (!self.related.is_empty()).then(|| {
            Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic))
                as Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>
        })
    }

    fn severity(&self) -> Option<miette::Severity> {
        if self.advice {
            return Some(miette::Severity::Advice);
        }
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_deref()
            .map(|h| Box::new(clip_for_terminal(h, MESSAGE_BYTES)) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.excerpt)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let d = &self.diagnostic;
        let mut label = clip_for_terminal(&d.label, LABEL_BYTES).into_owned();
        if let Some(line) = self.excerpt.continues_to() {
            if !label.is_empty() {
                label.push(' ');
            }
            label.push_str(&format!("(to line {line})"));
        }
        let label = (!label.is_empty()).then_some(label);
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            label,
            self.excerpt.span(),
        ))))
    }
}
