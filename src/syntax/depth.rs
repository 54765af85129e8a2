//! A linear pre-scan that runs before pest. pest recurses once per nesting
//! level (pest issue #1129 overflows the stack near 300 parentheses), so the
//! depth of `{ [ (` is bounded here; and an unterminated string is reported at
//! its opening quote instead of after pest has tried every alternative on a
//! possibly huge tail.

use crate::diagnostics::Diagnostic;
use crate::syntax::span::Span;

/// Deepest nesting of braces, brackets and parentheses a file may use.
/// Real campaigns stay far below; the bound keeps every recursive stage
/// (parser, checks, compiler) within a small stack.
pub const MAX_DEPTH: usize = 64;

/// Checks nesting depth and string termination in one pass.
pub fn prescan(source: &str) -> Result<(), Diagnostic> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') => return Err(unterminated(start, i)),
                        Some(b'\\') if bytes.get(i + 1).is_some_and(|&b| b != b'\n') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Diagnostic::error(
                        "campaign::syntax::too_deep",
                        Span::new(i, i + 1),
                        format!("nesting is deeper than {MAX_DEPTH} levels"),
                    )
                    .label(format!("level {depth} opens here"))
                    .help(
                        "flatten the blocks: `else if` chains and `and`/`or` lists do not nest",
                    ));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn unterminated(start: usize, end: usize) -> Diagnostic {
    Diagnostic::error(
        "campaign::syntax::unterminated_string",
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
    fn unterminated_string_points_at_its_quote() {
        let err = prescan("note \"abc\nstop").unwrap_err();
        assert_eq!(err.code, "campaign::syntax::unterminated_string");
        assert_eq!(err.span, Span::new(5, 6));
        let err = prescan("x \"a\\\"").unwrap_err();
        assert_eq!(err.span, Span::new(2, 3));
    }
}
