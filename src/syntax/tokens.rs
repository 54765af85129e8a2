//! The lossless view of a file: every token in order, comments included,
//! each with the line breaks before it. The formatter (and anything else
//! that must keep what the AST drops) reads it beside the AST.
//!
//! It is not a second lexer. pest says where every token of its own rule
//! lies ([`super::parser::parse_lossless`]); between two of them the
//! grammar allows only literal punctuation, the words of a compound rule
//! (`tag_added`, `webhook_received`) and what `WHITESPACE` skips: spaces,
//! tabs, line breaks, a byte-order mark and `//` comments to the end of the
//! line. So the text between two tokens reads one way only, and anything
//! else found there is reported as a bug in the parser, never guessed at.

use crate::diagnostics::{codes, Diagnostic};
use crate::span::Span;

/// What a token is, as far as layout cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Code: a keyword, word, string, merge, number, operator or punctuation.
    Code,
    /// A `//` comment, from the slashes to the end of its line (the line
    /// break and, on a CRLF line, the `\r` before it excluded).
    Comment,
}

/// One token of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Code or comment.
    pub kind: TokenKind,
    /// Where it is.
    pub span: Span,
    /// Line breaks between the previous token (code or comment) and this
    /// one: 0 on the same line, 1 on the next, 2 or more after blank lines.
    /// The first token counts the breaks from the start of the file.
    pub newlines_before: u32,
}

impl Token {
    /// Its text in `source`.
    pub fn text<'s>(&self, source: &'s str) -> &'s str {
        &source[self.span.start as usize..self.span.end as usize]
    }
}

/// Every token of `source`, given the spans of the tokens pest matched as
/// rules (sorted, not overlapping): those, and the punctuation, words and
/// comments between them. A character the grammar cannot have put between
/// two tokens is an internal error.
pub fn tokens(source: &str, leaves: &[Span]) -> Result<Vec<Token>, Diagnostic> {
    let mut out = Vec::with_capacity(leaves.len() * 3 / 2 + 8);
    let mut newlines = 0u32;
    let mut at = 0usize;
    for leaf in leaves
        .iter()
        .copied()
        .chain(std::iter::once(Span::new(source.len(), source.len())))
    {
        let (start, end) = (leaf.start as usize, leaf.end as usize);
        if start < at || end > source.len() {
            return Err(bug(Span::new(start, end), "token spans overlap"));
        }
        gap(source, at, start, &mut newlines, &mut out)?;
        if end > start {
            out.push(Token {
                kind: TokenKind::Code,
                span: leaf,
                newlines_before: std::mem::take(&mut newlines),
            });
        }
        at = end;
    }
    Ok(out)
}

/// The tokens in `source[from..to]`, text between two rule tokens.
fn gap(
    source: &str,
    from: usize,
    to: usize,
    newlines: &mut u32,
    out: &mut Vec<Token>,
) -> Result<(), Diagnostic> {
    let bytes = source.as_bytes();
    let mut i = from;
    while i < to {
        let b = bytes[i];
        let start = i;
        let kind = match b {
            b'\n' => {
                *newlines += 1;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            // U+FEFF, the byte-order mark, is whitespace to the grammar.
            0xEF if source[i..to].starts_with('\u{FEFF}') => {
                i += 3;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let line_end = memchr_newline(&bytes[i..to]).map_or(to, |n| i + n);
                i = line_end;
                let mut end = line_end;
                while end > start && matches!(bytes[end - 1], b'\r' | b' ' | b'\t') {
                    end -= 1;
                }
                out.push(Token {
                    kind: TokenKind::Comment,
                    span: Span::new(start, end),
                    newlines_before: std::mem::take(newlines),
                });
                continue;
            }
            b'{' | b'}' | b'(' | b')' | b'[' | b']' | b',' | b':' | b'=' | b'+' | b'/' | b'%' => {
                i += 1;
                TokenKind::Code
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                while i < to && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                TokenKind::Code
            }
            _ => {
                let len = source[i..].chars().next().map_or(1, char::len_utf8);
                return Err(bug(
                    Span::new(i, i + len),
                    "the parser left a character it does not know between two tokens",
                ));
            }
        };
        out.push(Token {
            kind,
            span: Span::new(start, i),
            newlines_before: std::mem::take(newlines),
        });
    }
    Ok(())
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

fn bug(at: Span, message: &str) -> Diagnostic {
    Diagnostic::error(codes::INTERNAL_PARSER, at, message.to_string())
        .label("the parser cannot account for this")
        .help("this is a bug in campaign, not in the script; please report it with the file")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parser::parse_lossless;

    fn texts(source: &str) -> Vec<(TokenKind, String, u32)> {
        let (_, leaves) = parse_lossless(source).unwrap();
        tokens(source, &leaves)
            .unwrap()
            .iter()
            .map(|t| (t.kind, t.text(source).to_string(), t.newlines_before))
            .collect()
    }

    #[test]
    fn every_token_and_comment_in_order() {
        let source = "// head\r\ncampaign \"a\" { // c1\n\n  trigger tag_added // odd\n \"T\"\n  webhook \"w\" { url \"https://a//b\" rate 5/s json { \"k\": [1, [X]] } }\n  wait 2  days\n  if not ([A] == 1) { stop } // end\n}\n";
        let got = texts(source);
        let code: Vec<&str> = got
            .iter()
            .filter(|t| t.0 == TokenKind::Code)
            .map(|t| t.1.as_str())
            .collect();
        assert_eq!(
            code,
            [
                "campaign",
                "\"a\"",
                "{",
                "trigger",
                "tag_added",
                "\"T\"",
                "webhook",
                "\"w\"",
                "{",
                "url",
                "\"https://a//b\"",
                "rate",
                "5",
                "/",
                "s",
                "json",
                "{",
                "\"k\"",
                ":",
                "[",
                "1",
                ",",
                "[X]",
                "]",
                "}",
                "}",
                "wait",
                "2",
                "days",
                "if",
                "not",
                "(",
                "[A]",
                "==",
                "1",
                ")",
                "{",
                "stop",
                "}",
                "}"
            ]
        );
        let comments: Vec<(&str, u32)> = got
            .iter()
            .filter(|t| t.0 == TokenKind::Comment)
            .map(|t| (t.1.as_str(), t.2))
            .collect();
        assert_eq!(
            comments,
            [("// head", 0), ("// c1", 0), ("// odd", 0), ("// end", 0)]
        );
        // Blank lines before `trigger`, a line break before `"T"`.
        let trigger = got.iter().find(|t| t.1 == "trigger").unwrap();
        assert_eq!(trigger.2, 2);
        let name = got.iter().find(|t| t.1 == "\"T\"").unwrap();
        assert_eq!(name.2, 1);
    }

    #[test]
    fn a_stray_character_is_a_bug_not_a_guess() {
        let err = tokens("campaign @", &[Span::new(0, 8)]).unwrap_err();
        assert_eq!(err.code, codes::INTERNAL_PARSER);
        assert_eq!(err.span, Span::new(9, 10));
    }
}
