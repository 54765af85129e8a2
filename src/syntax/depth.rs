//! A linear pre-scan that runs before pest. pest recurses once per nesting
//! level (pest issue #1129 overflows the stack near 300 parentheses), so the
//! depth of `{ [ (` is bounded here; and an unterminated string is reported at
//! its opening quote instead of after pest has tried every alternative on a
//! possibly huge tail. On the way it notes seams: places between top-level
//! steps where a large file can be cut, so its pieces parse in parallel.

use crate::diagnostics::{codes, Diagnostic};
use crate::span::Span;
use crate::syntax::parser::STEP_KEYWORDS;

/// Deepest nesting of braces, brackets and parentheses a file may use.
/// Real campaigns stay far below; the bound keeps every recursive stage
/// (parser, checks, compiler) within a small stack.
pub const MAX_DEPTH: usize = 64;

/// Seams are at least this far apart: a piece smaller than this parses
/// faster than a thread starts.
pub const SEAM_SPACING: usize = 32 * 1024;

/// What the pre-scan learnt about a file that is nested within bounds.
#[derive(Debug, Default)]
pub struct Layout {
    /// Offsets of line starts directly inside the campaign's braces (outside
    /// any string, comment or inner block) whose first word begins a step,
    /// in order, about [`SEAM_SPACING`] apart. They are only likely seams: a
    /// condition may continue on a line starting with `tag` (`has` /
    /// `tag "X"`), so the parser checks each one before relying on it.
    pub seams: Vec<usize>,
}

/// The `{` a file never closes, as the pre-scan saw its braces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unclosed {
    /// The innermost `{` still open at the end of the file.
    pub innermost: usize,
    /// The first `{` closed by a `}` indented differently from it, and that
    /// `}`: its own `}` is likely the missing one, and a later one closed
    /// it instead (rustc guesses the same way).
    pub mismatched: Option<(usize, usize)>,
}

/// Checks nesting depth and string termination in one pass.
pub fn prescan(source: &str) -> Result<Layout, Diagnostic> {
    scan(source, |_, _| {})
}

/// The `{` a file never closes, with [`prescan`]'s reading of strings,
/// comments and brackets; `None` if every `{` is closed or the file fails
/// the pre-scan. Only for the message of a syntax error at the end of the
/// file, so the fast path does not pay for it.
pub fn unclosed(source: &str) -> Option<Unclosed> {
    let bytes = source.as_bytes();
    let mut open: Vec<(u8, usize)> = Vec::new();
    let mut mismatched = None;
    scan(source, |at, b| match b {
        b'{' | b'[' | b'(' => open.push((b, at)),
        _ => {
            if let Some((b'{', from)) = open.pop() {
                if b == b'}' && mismatched.is_none() && indent(bytes, from) != indent(bytes, at) {
                    mismatched = Some((from, at));
                }
            }
        }
    })
    .ok()?;
    let innermost = open.iter().rev().find(|(b, _)| *b == b'{')?.1;
    Some(Unclosed {
        innermost,
        mismatched,
    })
}

/// The pre-scan, telling `on_bracket` where each bracket opens or closes.
fn scan(source: &str, mut on_bracket: impl FnMut(usize, u8)) -> Result<Layout, Diagnostic> {
    let bytes = source.as_bytes();
    let mut layout = Layout::default();
    // The open brackets, innermost last: inside `[`, a single-quoted filter
    // argument may hold brackets that do not count.
    let mut open = [0u8; MAX_DEPTH];
    let mut depth = 0usize;
    let mut next_seam = SEAM_SPACING;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i += memchr::memchr(b'\n', &bytes[i..]).unwrap_or(bytes.len() - i);
                continue;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match memchr::memchr3(b'"', b'\\', b'\n', &bytes[i..]).map(|n| i + n) {
                        None => return Err(unterminated(start, bytes.len())),
                        Some(at) if bytes[at] == b'\n' => return Err(unterminated(start, at)),
                        Some(at) if bytes[at] == b'\\' => {
                            i = at + 1;
                            if bytes.get(i).is_some_and(|&b| b != b'\n') {
                                i += 1;
                            }
                        }
                        Some(at) => {
                            i = at;
                            break;
                        }
                    }
                }
            }
            b'\'' if depth > 0 && open[depth - 1] == b'[' => {
                if let Some(close) = quoted_end(bytes, i) {
                    i = close;
                }
            }
            b'{' | b'[' | b'(' => {
                if depth == MAX_DEPTH {
                    return Err(Diagnostic::error(
                        codes::SYNTAX_TOO_DEEP,
                        Span::new(i, i + 1),
                        format!("nesting is deeper than {MAX_DEPTH} levels"),
                    )
                    .label(format!("level {} opens here", depth + 1))
                    .help(
                        "flatten the blocks: `else if` chains and `and`/`or` lists do not nest",
                    ));
                }
                open[depth] = bytes[i];
                depth += 1;
                on_bracket(i, bytes[i]);
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                on_bracket(i, bytes[i]);
            }
            b'\n' if depth == 1 && i + 1 >= next_seam && starts_item(&bytes[i + 1..]) => {
                layout.seams.push(i + 1);
                next_seam = i + 1 + SEAM_SPACING;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(layout)
}

/// The indentation (spaces and tabs) of the line holding `at`.
fn indent(bytes: &[u8], at: usize) -> usize {
    let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |n| n + 1);
    bytes[start..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()
}

/// Where a single-quoted filter argument opened at `start` closes, if it
/// does on this line (the grammar reads an unclosed `'` as a character).
fn quoted_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\'' => return Some(i),
            b'\n' | b'"' => return None,
            b'\\' if bytes.get(i + 1).is_some_and(|&b| b != b'\n') => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Whether a line's first word (after indentation) begins a step.
fn starts_item(line: &[u8]) -> bool {
    let word = line.trim_ascii_start();
    STEP_KEYWORDS.iter().map(|k| k.as_bytes()).any(|k| {
        word.starts_with(k)
            && !word
                .get(k.len())
                .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

fn unterminated(start: usize, end: usize) -> Diagnostic {
    Diagnostic::error(
        codes::SYNTAX_UNTERMINATED_STRING,
        Span::new(start, start + 1),
        "this string is never closed",
    )
    .label(if end > start {
        "the string opened here runs to the end of the line"
    } else {
        "opened here"
    })
    .help("close it with `\"` on the same line; write a line break inside a string as `\\n`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_depth_at_the_first_bracket_too_many() {
        let src = "(".repeat(10_000);
        let err = prescan(&src).unwrap_err();
        assert_eq!(err.code, "campaign::syntax::too_deep");
        assert_eq!(err.span, Span::new(MAX_DEPTH, MAX_DEPTH + 1));
        assert!(prescan(&"(".repeat(MAX_DEPTH)).is_ok());
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let src = format!("\"{}\" // {}\n", "[".repeat(500), "{".repeat(500));
        assert!(prescan(&src).is_ok());
    }

    #[test]
    fn brackets_in_quoted_filter_arguments_do_not_count() {
        let src = format!("[A | replace: '{}', 'x'] ", "[".repeat(100));
        assert!(prescan(&src).is_ok());
        // Outside a merge, or unclosed on its line, a quote is a character.
        assert!(prescan(&format!("'{}'", "(".repeat(100))).is_err());
        assert!(prescan(&format!("[A '\n{}']", "[".repeat(100))).is_err());
    }

    #[test]
    fn an_unclosed_brace_is_found_and_a_misindented_close_named() {
        let src = "campaign \"T\" {\n    if [A] == \"1\" {\n        stop\n}\n";
        let found = unclosed(src).unwrap();
        assert_eq!(found.innermost, src.find('{').unwrap());
        let if_open = src.rfind('{').unwrap();
        assert_eq!(found.mismatched, Some((if_open, src.rfind('}').unwrap())));
        // Braces in strings do not count; a closed file has none unclosed.
        let closed = "campaign \"T\" {\n    note \"{\"\n}\n";
        assert_eq!(unclosed(closed), None);
    }

    #[test]
    fn unterminated_string_points_at_its_quote() {
        let err = prescan("note \"abc\nstop").unwrap_err();
        assert_eq!(err.code, "campaign::syntax::unterminated_string");
        assert_eq!(err.span, Span::new(5, 6));
        let err = prescan("x \"a\\\"").unwrap_err();
        assert_eq!(err.span, Span::new(2, 3));
    }
}
