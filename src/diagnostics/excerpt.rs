//! The few lines of a source a rendered diagnostic shows, cut to a size a
//! terminal (and miette) can take.
//!
//! miette reads the lines around a span from the source it is given: from
//! the start of the file each time, echoing whole lines, and panicking past
//! column 65,535. So a report never hands it the file: it hands it an
//! [`Excerpt`], built from the [`LineIndex`] in time independent of where
//! the span is. The excerpt holds the span's lines (at most [`SPAN_LINES`])
//! and one line of context on either side. Lines longer than [`LINE_CHARS`]
//! are cut, as rustc does, to one window of columns around the span, shared
//! by every line shown, with `...` where text was left out. Characters a
//! terminal would act on are shown as visible symbols. Line and column
//! numbers stay those of the file.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use super::lines::LineIndex;

/// Lines shown before and after the span (miette's default).
const CONTEXT_LINES: usize = 1;
/// Lines of a long span shown; the label says where the rest ends.
pub(crate) const SPAN_LINES: usize = 3;
/// Lines up to this many characters (and [`LINE_BYTES`]) are shown whole.
const LINE_CHARS: usize = 120;
/// Characters of each line shown once a line is too long.
const WINDOW: usize = 100;
/// Bytes of each line shown, whatever the characters.
const LINE_BYTES: usize = 300;
/// Where text was left out of a line.
const MARKER: &str = "...";

/// A shown line: where it starts in the excerpt and how its columns map back.
#[derive(Debug)]
struct Shown {
    /// Byte offset of the line in the excerpt.
    at: usize,
    /// Characters of `MARKER` before the first shown character.
    marker: usize,
    /// Column (in the file's line) of the first shown character.
    first_column: usize,
}

/// Part of a source, ready for miette: see the module docs.
#[derive(Debug)]
pub(crate) struct Excerpt {
    name: String,
    text: String,
    /// 0-based line of the file the excerpt starts at.
    first_line: usize,
    lines: Vec<Shown>,
    /// The span, in excerpt offsets.
    span: SourceSpan,
    /// 1-based line the span ends on when it goes on past the lines shown.
    continues_to: Option<usize>,
    /// The file's 0-based line and column of the span's start, for the
    /// header (a start inside a `\r\n` has no place in the excerpt).
    start_position: (usize, usize),
}

impl Excerpt {
    /// The excerpt showing `start..end` of `text`.
    pub(crate) fn new(
        name: String,
        text: &str,
        index: &LineIndex,
        start: usize,
        end: usize,
    ) -> Excerpt {
        let start = start.min(text.len());
        let end = end.clamp(start, text.len());
        let start_line = index.line_of(text, start);
        // A span's last line is the one holding its last byte.
        let end_line = index.line_of(text, end.saturating_sub(1).max(start));
        let span_last = end_line.min(start_line + SPAN_LINES - 1);
        let last_line = index.line_of(text, text.len());
        let first = start_line.saturating_sub(CONTEXT_LINES);
        let last = (span_last + CONTEXT_LINES).min(last_line);

        let bounds: Vec<(usize, usize)> = (first..=last)
            .map(|n| (index.line_start(text, n), index.line_end(text, n)))
            .collect();
        let width =
            |(s, e): (usize, usize)| index.chars_before(text, e) - index.chars_before(text, s);
        let (s0, e0) = bounds[start_line - first];
        let start_column = index.chars_before(text, start) - index.chars_before(text, s0);
        let fits = |(s, e): (usize, usize)| width((s, e)) <= LINE_CHARS && e - s <= LINE_BYTES;
        let window = if bounds.iter().all(|&b| fits(b)) {
            (0, usize::MAX)
        } else {
            let end_column = if end_line == start_line {
                index.chars_before(text, end) - index.chars_before(text, s0)
            } else {
                width((s0, e0))
            };
            let span_width = end_column - start_column;
            let left = if span_width + 20 <= WINDOW {
                start_column.saturating_sub((WINDOW - span_width) / 2)
            } else {
                start_column.saturating_sub(20)
            };
            // No room is needed right of a line that ends sooner.
            let left = left.min(width((s0, e0)).saturating_sub(WINDOW));
            (left, left + WINDOW)
        };

        let mut excerpt = Excerpt {
            name,
            text: String::new(),
            first_line: first,
            lines: Vec::with_capacity(bounds.len()),
            span: (0, 0).into(),
            continues_to: (end_line > span_last).then_some(end_line + 1),
            start_position: (start_line, start_column),
        };
        let (mut span_start, mut span_end) = (None, None);
        for (i, &(s, e)) in bounds.iter().enumerate() {
            let n = first + i;
            let from = index.offset_of_column(text, s, e, window.0);
            let marker = if from > s { MARKER.len() } else { 0 };
            excerpt.lines.push(Shown {
                at: excerpt.text.len(),
                marker,
                first_column: window.0.min(width((s, e))),
            });
            excerpt.text.push_str(&MARKER[..marker]);
            // Offsets before the window map to its first character.
            let mut map = |at: usize, excerpt_at: usize| {
                if n == start_line && span_start.is_none() && start <= at {
                    span_start = Some(excerpt_at);
                }
                if n == span_last && span_end.is_none() && end <= at && n == end_line {
                    span_end = Some(excerpt_at);
                }
            };
            let (mut at, mut shown) = (from, 0);
            map(at, excerpt.text.len());
            for c in text[from..e].chars() {
                // A stand-in is at most 4 bytes, as is any character.
                if shown == window.1 - window.0
                    || excerpt.text.len() - excerpt.lines[i].at + 4 > LINE_BYTES
                {
                    break;
                }
                push_visible(&mut excerpt.text, c);
                at += c.len_utf8();
                shown += 1;
                map(at, excerpt.text.len());
            }
            if at < e {
                excerpt.text.push_str(MARKER);
            }
            if n == start_line && span_start.is_none() {
                span_start = Some(excerpt.text.len());
            }
            // Cut short by the lines or the window: it ends at what is shown.
            if n == span_last && span_end.is_none() && (end_line > span_last || end <= e) {
                span_end = Some(excerpt.text.len());
            }
            // Keep the file's line break, so the end of the file looks the same.
            if text
                .as_bytes()
                .get(e)
                .is_some_and(|&b| b == b'\r' || b == b'\n')
            {
                excerpt.text.push('\n');
            }
            // A span that takes in the line break takes in the shown one.
            if n == span_last && span_end.is_none() {
                span_end = Some(excerpt.text.len());
            }
        }
        let span_start = span_start.unwrap_or(0);
        let span_end = span_end.unwrap_or(span_start).max(span_start);
        excerpt.span = (span_start, span_end - span_start).into();
        excerpt
    }

    /// Where the span is, in the excerpt.
    pub(crate) fn span(&self) -> SourceSpan {
        self.span
    }

    /// The 1-based line a span cut short ends on.
    pub(crate) fn continues_to(&self) -> Option<usize> {
        self.continues_to
    }

    /// The file's 0-based line and column of an excerpt offset.
    fn position(&self, at: usize) -> (usize, usize) {
        let i = self.lines.partition_point(|l| l.at <= at).saturating_sub(1);
        let line = &self.lines[i];
        let bytes = &self.text.as_bytes()[line.at..at.clamp(line.at, self.text.len())];
        let column = bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count();
        (
            self.first_line + i,
            line.first_column + column.saturating_sub(line.marker),
        )
    }
}

/// Pushes `c`, or a visible stand-in for a character a terminal would act
/// on: the control pictures (U+2400 block) for C0 and DEL, U+FFFD for the
/// rest. Tabs stay: miette expands them.
fn push_visible(out: &mut String, c: char) {
    match c {
        '\t' => out.push(c),
        '\0'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
        '\u{7f}' => out.push('\u{2421}'),
        c if crate::terminal::is_unsafe(c) => out.push('\u{fffd}'),
        c => out.push(c),
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner =
            self.text
                .as_str()
                .read_span(span, context_lines_before, context_lines_after)?;
        // The header's `line:column` reads a zero-context span; context
        // reads start at a line start, where miette wants column 0.
        let (line, column) = if context_lines_before == 0 && span.offset() == self.span.offset() {
            self.start_position
        } else if context_lines_before == 0 {
            self.position(span.offset())
        } else {
            (self.position(inner.span().offset()).0, inner.column())
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            line,
            column,
            inner.line_count(),
        )))
    }
}
