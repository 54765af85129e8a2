//! The lexer for what is inside string literals: literal text, escapes and
//! `[Field | filter: 'arg']` merges. pest hands over the raw characters and
//! their offset, so every span here points into the original file.

use logos::Logos;

use crate::diagnostics::{codes, Diagnostic};
use crate::span::{Span, Spanned};
use crate::syntax::ast::{fitted_slice, Filter, FilterArg, Merge, Part, Template};

/// Tokens of template text.
#[derive(Logos, Debug, Clone, Copy, PartialEq)]
enum TextToken {
    /// A run of ordinary characters.
    #[regex(r"[^\\\[]+")]
    Text,
    /// A backslash escape such as `\n` or `\[`.
    #[regex(r"\\[^u]")]
    Escape,
    /// `\u{1F600}`
    #[regex(r"\\u\{[0-9a-fA-F]{1,6}\}")]
    Unicode,
    /// A lone `\u` that is not a valid unicode escape.
    #[token("\\u")]
    BadUnicode,
    /// The `[` that opens a merge.
    #[token("[")]
    Open,
}

/// Tokens after the field name inside a merge.
#[derive(Logos, Debug, Clone, Copy, PartialEq)]
#[logos(skip r"[ \t]+")]
enum FilterToken {
    #[token("|")]
    Pipe,
    #[token(":")]
    Colon,
    #[token(",")]
    Comma,
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Name,
    #[regex(r"'([^'\\]|\\.)*'")]
    Str,
    #[regex(r"-?[0-9]+(\.[0-9]+)?")]
    Number,
}

/// Lexes a string literal's raw contents into a template.
///
/// `raw` starts at byte `offset` of the file; `span` is the whole literal with
/// its quotes. Every problem is returned, not only the first.
pub fn parse_template(raw: &str, offset: usize, span: Span) -> Result<Template, Vec<Diagnostic>> {
    let mut parts: Vec<Part> = Vec::new();
    let mut errors = Vec::new();
    let mut lexer = TextToken::lexer(raw);
    while let Some(token) = lexer.next() {
        let range = lexer.span();
        let at = Span::new(offset + range.start, offset + range.end);
        match token {
            Ok(TextToken::Text) => {
                // Control characters are cut out as parts of their own.
                let slice = lexer.slice();
                let base = offset + range.start;
                let mut from = 0;
                for (i, c) in slice.char_indices().filter(|(_, c)| c.is_control()) {
                    let end = i + c.len_utf8();
                    push_text(
                        &mut parts,
                        &slice[from..i],
                        Span::new(base + from, base + i),
                    );
                    push_text(&mut parts, &slice[i..end], Span::new(base + i, base + end));
                    from = end;
                }
                push_text(
                    &mut parts,
                    &slice[from..],
                    Span::new(base + from, base + slice.len()),
                );
            }
            Ok(TextToken::Escape) => {
                match unescape_char(lexer.slice().as_bytes()[1] as char, lexer.slice()) {
                    Some(c) => push_text(&mut parts, c.encode_utf8(&mut [0; 4]), at),
                    None => errors.push(bad_escape(lexer.slice(), at)),
                }
            }
            Ok(TextToken::Unicode) => {
                let hex = &lexer.slice()[3..lexer.slice().len() - 1];
                match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                    Some(c) => push_text(&mut parts, c.encode_utf8(&mut [0; 4]), at),
                    None => errors.push(
                        Diagnostic::error(codes::SYNTAX_ESCAPE, at, "this is not a unicode character")
                            .label("no such code point")
                            .help("`\\u{...}` takes 1 to 6 hex digits of a Unicode scalar value, e.g. `\\u{E9}`"),
                    ),
                }
            }
            Ok(TextToken::BadUnicode) | Err(()) => errors.push(bad_escape(lexer.slice(), at)),
            Ok(TextToken::Open) if raw[range.end..].starts_with(']') => {
                // `tags[]=a` in post data: empty brackets are text, never a merge.
                push_text(
                    &mut parts,
                    "[]",
                    Span::new(at.start as usize, at.end as usize + 1),
                );
                lexer.bump(1);
            }
            Ok(TextToken::Open) => {
                let start = range.start;
                match find_merge_end(raw, start + 1) {
                    Some(close) if runs_on(&raw[start + 1..close]) => {
                        // The text up to a later merge's `]` was taken for
                        // this name: report the `[` and lex on after it, so
                        // the later merge is read (and checked) as written.
                        errors.push(unclosed(at).help(
                            "a field name cannot hold `[`, `&`, `=` or `\"`, so this merge runs on \
                             into the text after it: close it with `]` after the name, e.g. \
                             `[First Name]&Email=[Email]`, or write `\\[` for a literal bracket",
                        ));
                    }
                    Some(close) => {
                        let merge_span = Span::new(offset + start, offset + close + 1);
                        match parse_merge(&raw[start + 1..close], offset + start + 1, merge_span) {
                            Ok(merge) => parts.push(Part::Merge(merge)),
                            Err(e) => errors.push(e),
                        }
                        lexer.bump(close + 1 - range.end);
                    }
                    None => {
                        errors.push(
                            unclosed(at)
                                .help("close it with `]`, or write `\\[` for a literal bracket"),
                        );
                        break;
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(Template::new(parts, span))
    } else {
        Err(errors)
    }
}

/// The error for a `[` whose merge is never closed.
fn unclosed(at: Span) -> Diagnostic {
    Diagnostic::error(
        codes::MERGE_UNCLOSED,
        at,
        "this `[` starts a merge field that is never closed",
    )
    .label("merge field opened here")
}

/// Whether a merge's contents (between `[` and the `]` found for it) show
/// that its own `]` is missing: a field name holding `[` (another merge
/// began) or `&`, `=` or `"` (post data or JSON went on after the name).
fn runs_on(inner: &str) -> bool {
    let name = &inner[..inner.find('|').unwrap_or(inner.len())];
    name.contains(['[', '&', '=', '"'])
}

/// The index of the `]` closing a merge whose contents start at `from`,
/// skipping quoted filter arguments and escapes.
fn find_merge_end(raw: &str, from: usize) -> Option<usize> {
    let bytes = raw.as_bytes();
    let mut quoted = false;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'\'' => quoted = !quoted,
            b']' if !quoted => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses the inside of `[...]`: a field name, then `| filter: args` parts.
/// `inner` starts at byte `offset` of the file; `span` covers the brackets.
pub fn parse_merge(inner: &str, offset: usize, span: Span) -> Result<Merge, Diagnostic> {
    let name_end = inner.find('|').unwrap_or(inner.len());
    let raw_name = &inner[..name_end];
    let lead = raw_name.len() - raw_name.trim_start().len();
    let name = raw_name.trim();
    let name_span = Span::new(offset + lead, offset + lead + name.len());
    if name.is_empty() {
        return Err(Diagnostic::error(
            codes::MERGE_EMPTY_FIELD,
            span,
            "this merge field names no field",
        )
        .label("empty merge field")
        .help("write the field's name inside the brackets, e.g. `[First Name]`, or `\\[` for a literal bracket"));
    }
    let mut filters = Vec::new();
    let rest = &inner[name_end..];
    let rest_offset = offset + name_end;
    let mut lexer = FilterToken::lexer(rest).spanned().peekable();
    let at = |r: std::ops::Range<usize>| Span::new(rest_offset + r.start, rest_offset + r.end);
    while let Some((token, range)) = lexer.next() {
        if token != Ok(FilterToken::Pipe) {
            return Err(merge_syntax(
                at(range),
                "expected `|` before the next filter",
            ));
        }
        let (name, name_range) = match lexer.next() {
            Some((Ok(FilterToken::Name), r)) => (&rest[r.clone()], r),
            Some((_, r)) => return Err(merge_syntax(at(r), "expected a filter name after `|`")),
            None => return Err(merge_syntax(at(range), "expected a filter name after `|`")),
        };
        let mut args = Vec::new();
        if matches!(lexer.peek(), Some((Ok(FilterToken::Colon), _))) {
            let colon = lexer.next().map(|(_, r)| r).unwrap_or(name_range.clone());
            let mut after = colon;
            loop {
                match lexer.next() {
                    Some((Ok(FilterToken::Str), r)) => {
                        let quoted = &rest[r.start + 1..r.end - 1];
                        let value = unescape_arg(quoted)
                            .ok_or_else(|| bad_escape(quoted, at(r.clone())))?;
                        args.push(Spanned::new(FilterArg::Str(value.into()), at(r.clone())));
                    }
                    Some((Ok(FilterToken::Number), r)) => {
                        let n: f64 = rest[r.clone()].parse().unwrap_or(0.0);
                        args.push(Spanned::new(FilterArg::Number(n), at(r.clone())));
                    }
                    Some((_, r)) if rest[r.clone()].starts_with('\'') => {
                        return Err(merge_syntax(at(r), "this argument's quote is never closed"))
                    }
                    Some((_, r)) => {
                        return Err(merge_syntax(
                            at(r),
                            "expected an argument: a 'quoted text' or a number",
                        ))
                    }
                    None => {
                        return Err(merge_syntax(
                            at(after),
                            "expected an argument: a 'quoted text' or a number",
                        ))
                    }
                }
                match lexer.peek() {
                    Some((Ok(FilterToken::Comma), _)) => {
                        after = lexer.next().map(|(_, r)| r).unwrap_or(after);
                    }
                    _ => break,
                }
            }
        }
        filters.push(Filter {
            name: Spanned::new(name.into(), at(name_range.clone())),
            args: fitted_slice(args),
        });
    }
    Ok(Merge::new(
        Spanned::new(name.into(), name_span),
        fitted_slice(filters),
        span,
    ))
}

/// Appends literal text, joined to the text just before it, except that a
/// control character (written as is or as an escape) stays a part of its
/// own: checks that refuse one in a URL or header then point at exactly it.
fn push_text(parts: &mut Vec<Part>, text: &str, at: Span) {
    if text.is_empty() {
        return;
    }
    let alone = |t: &str| {
        let mut chars = t.chars();
        chars.next().is_some_and(char::is_control) && chars.next().is_none()
    };
    if let Some(Part::Text(last)) = parts.last_mut() {
        if last.span.end == at.start && !alone(text) && !alone(&last.node) {
            last.node.push_str(text);
            last.span = last.span.to(at);
            return;
        }
    }
    parts.push(Part::Text(Spanned::new(text.into(), at)));
}

/// What `\c` stands for; `None` for an unknown escape.
fn unescape_char(c: char, _whole: &str) -> Option<char> {
    Some(match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        '0' => '\0',
        '"' | '\\' | '[' | ']' | '\'' | '/' | '|' => c,
        _ => return None,
    })
}

/// Resolves escapes inside a single-quoted filter argument.
fn unescape_arg(quoted: &str) -> Option<String> {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let next = chars.next()?;
            out.push(unescape_char(next, quoted)?);
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn bad_escape(text: &str, at: Span) -> Diagnostic {
    Diagnostic::error(codes::SYNTAX_ESCAPE, at, format!("unknown escape `{text}`"))
        .label("not an escape")
        .help(
            r#"escapes are \n \t \r \0 \" \\ \[ \] \' \/ \| and \u{HEX}; write \\ for a backslash"#,
        )
}

fn merge_syntax(at: Span, message: &str) -> Diagnostic {
    Diagnostic::error(codes::MERGE_SYNTAX, at, message.to_string())
        .label("here")
        .help("a merge is `[Field Name]` or `[Field Name | filter | filter: 'arg', 2]`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(raw: &str) -> Result<Template, Vec<Diagnostic>> {
        parse_template(raw, 1, Span::new(0, raw.len() + 2))
    }

    #[test]
    fn splits_text_and_merges_with_exact_spans() {
        let t = template("Hi [First Name | default: 'friend'], \\[x]").unwrap();
        let parts = t.parts();
        assert_eq!(parts.len(), 3);
        let Part::Merge(m) = &parts[1] else { panic!() };
        assert_eq!(m.field.node, "First Name");
        assert_eq!(m.field.span, Span::new(5, 15));
        assert_eq!(m.filters()[0].name.node, "default");
        assert_eq!(m.filters()[0].args[0].node, FilterArg::Str("friend".into()));
        let Part::Text(tail) = &parts[2] else {
            panic!()
        };
        assert_eq!(tail.node, ", [x]");
    }

    /// A merge keeps its span apart only when the name does not give it:
    /// each spelling must still report its own brackets and filters.
    #[test]
    fn merge_spans_are_exact_however_the_merge_is_kept() {
        for (raw, field, span, filters) in [
            ("[A]", Span::new(2, 3), Span::new(1, 4), 0),
            ("[ A ]", Span::new(3, 4), Span::new(1, 6), 0),
            ("[A ]", Span::new(2, 3), Span::new(1, 5), 0),
            ("[A|upper]", Span::new(2, 3), Span::new(1, 10), 1),
            (
                "x [Bc | truncate: 3 | lower]",
                Span::new(4, 6),
                Span::new(3, 29),
                2,
            ),
        ] {
            let t = template(raw).unwrap();
            let m = t.merges().next().unwrap();
            assert_eq!(
                (m.field.span, m.span(), m.filters().len()),
                (field, span, filters),
                "{raw}"
            );
            assert_eq!(
                m,
                &Merge::new(m.field.clone(), m.filters().into(), m.span()),
                "{raw}"
            );
        }
        let t = template("[A | truncate: 3, 'x']").unwrap();
        let f = &t.merges().next().unwrap().filters()[0];
        assert_eq!(f.span(), Span::new(6, 22));
    }

    #[test]
    fn quoted_arguments_may_hold_brackets_and_pipes() {
        let t = template("[A | replace: ']', '|']").unwrap();
        let parts = t.parts();
        let Part::Merge(m) = &parts[0] else { panic!() };
        assert_eq!(m.filters()[0].args.len(), 2);
        assert_eq!(m.filters()[0].args[0].node, FilterArg::Str("]".into()));
    }

    #[test]
    fn reports_unclosed_and_empty_merges_and_bad_escapes() {
        let errs = template("a \\q [ ] [] [x").unwrap_err();
        let codes: Vec<_> = errs.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                "campaign::syntax::escape",
                "campaign::merge::empty_field",
                "campaign::merge::unclosed"
            ]
        );
    }

    #[test]
    fn filter_syntax_errors() {
        assert!(template("[A |]").is_err());
        assert!(template("[A | truncate: ]").is_err());
        assert!(template("[A | x y]").is_err());
        let t = template("[A|upper|truncate:3]").unwrap();
        let parts = t.parts();
        let Part::Merge(m) = &parts[0] else { panic!() };
        assert_eq!(m.filters().len(), 2);
        assert_eq!(m.filters()[1].args[0].node, FilterArg::Number(3.0));
    }
}
