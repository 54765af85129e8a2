//! The output side of the formatter: it hands out the file's code tokens in
//! order and writes each where the layout says, and it places the comments
//! met on the way. A comment is written when the token after it is: on the
//! line of the token before it when it was written there (a line-end
//! comment), else on a line of its own before the next token. So every
//! comment keeps its neighbours, whatever the layout does around them.

use crate::diagnostics::{codes, Diagnostic};
use crate::span::Span;
use crate::syntax::tokens::{Token, TokenKind};

/// Why a line break is due before the next thing written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Break {
    /// The layout starts a line here (a step, a setting, a closing brace).
    Line,
    /// A comment ended the line in the middle of a construct: the rest of
    /// it goes on, one level deeper, on the next line.
    Continue,
}

pub(super) struct Printer<'a> {
    source: &'a str,
    tokens: &'a [Token],
    /// The next token not yet written (code or comment).
    next: usize,
    out: String,
    /// Structural depth: lines start with `4 * indent` spaces.
    indent: usize,
    due: Option<Break>,
    /// Whether a blank line may be written before the next line: not
    /// after an opening brace or bracket, nor at the top of the file.
    blank_ok: bool,
    /// The last code text written, for the spacing rules.
    prev: &'a str,
    /// Whether the line being written ends in a comment: nothing more can
    /// go on it.
    commented: bool,
    /// Comments taken out of the stream ahead of a glued token, written
    /// before the next one.
    held: Vec<Token>,
    /// The first inconsistency between the walk and the tokens.
    pub(super) error: Option<Diagnostic>,
}

impl<'a> Printer<'a> {
    pub(super) fn new(source: &'a str, tokens: &'a [Token]) -> Printer<'a> {
        Printer {
            source,
            tokens,
            next: 0,
            out: String::with_capacity(source.len() + source.len() / 8 + 16),
            indent: 0,
            due: None,
            blank_ok: false,
            prev: "",
            held: Vec::new(),
            commented: false,
            error: None,
        }
    }

    /// Starts a new line at the current depth before the next token.
    pub(super) fn line(&mut self) {
        if !self.out.is_empty() {
            self.due = Some(Break::Line);
        }
    }

    /// Writes the comments before the next token and, if one of them
    /// ended a line, starts the token's line at the current depth rather
    /// than one deeper: for what continues a statement's structure (the
    /// `{` of a block, `else`), not its expression.
    pub(super) fn structural(&mut self) {
        self.comments();
        if self.due == Some(Break::Continue) {
            self.due = Some(Break::Line);
        }
    }

    pub(super) fn indent(&mut self) {
        self.indent += 1;
    }

    pub(super) fn dedent(&mut self) {
        self.indent = self.indent.saturating_sub(1);
    }

    /// The next code token, comments skipped, without taking it.
    pub(super) fn peek(&self) -> Option<&'a Token> {
        self.tokens[self.next..]
            .iter()
            .find(|t| t.kind == TokenKind::Code)
    }

    /// The text of the next code token, or "" at the end.
    pub(super) fn peek_text(&self) -> &'a str {
        self.peek().map_or("", |t| t.text(self.source))
    }

    /// Whether a comment lies inside `span`.
    pub(super) fn has_comment_in(&self, span: Span) -> bool {
        let from = self.tokens[self.next..].partition_point(|t| t.span.start < span.start);
        self.tokens[self.next + from..]
            .iter()
            .take_while(|t| t.span.start < span.end)
            .any(|t| t.kind == TokenKind::Comment)
    }

    /// Takes the next code token, writing the comments before it.
    pub(super) fn take(&mut self) -> Option<&'a Token> {
        self.comments();
        let token = self.tokens.get(self.next);
        match token {
            Some(t) if t.kind == TokenKind::Code => {
                self.next += 1;
                Some(t)
            }
            _ => {
                self.bug(
                    Span::new(self.source.len(), self.source.len()),
                    "the formatter expected another token",
                );
                None
            }
        }
    }

    /// Takes the next code token, which must read `text`, and writes it.
    pub(super) fn expect(&mut self, text: &str) {
        if let Some(t) = self.take() {
            if t.text(self.source) != text {
                self.bug(t.span, &format!("the formatter expected `{text}` here"));
            }
            self.write(t, t.text(self.source));
        }
    }

    /// Takes the next code token and writes `text` for it.
    pub(super) fn write_as(&mut self, text: &str) -> Option<&'a Token> {
        let t = self.take()?;
        self.write(t, text);
        Some(t)
    }

    /// Takes the next code token, which must read `text`, and writes it
    /// right after what was written last, before any comment that came
    /// between the two (a `,` after a value).
    pub(super) fn glued(&mut self, text: &str, emit: bool) {
        let Some(at) = self.tokens[self.next..]
            .iter()
            .position(|t| t.kind == TokenKind::Code)
        else {
            return;
        };
        let token = &self.tokens[self.next + at];
        if token.text(self.source) != text {
            self.bug(token.span, &format!("the formatter expected `{text}` here"));
            return;
        }
        if emit {
            self.out.push_str(text);
            self.blank_ok = true;
        }
        // The token is taken out of the stream; the comments before it are
        // written with what comes next, where the layout says.
        self.held
            .extend_from_slice(&self.tokens[self.next..self.next + at]);
        self.next += at + 1;
    }

    /// Writes `text` for token `t` (already taken) where the layout says.
    pub(super) fn write(&mut self, t: &Token, text: &str) {
        if self.out.is_empty() {
        } else if let Some(due) = self.due.take() {
            let blank = due == Break::Line
                && t.newlines_before >= 2
                && self.blank_ok
                && !matches!(text, "{" | "}" | "]" | "else");
            self.newline(blank, due);
        } else if space_between(self.prev, text) {
            self.out.push(' ');
        }
        self.out.push_str(text);
        self.prev = t.text(self.source);
        self.blank_ok = !matches!(text, "{" | "[");
    }

    /// Writes the comments before the next code token.
    pub(super) fn comments(&mut self) {
        if !self.held.is_empty() {
            for c in std::mem::take(&mut self.held) {
                self.comment(&c);
            }
        }
        while let Some(t) = self.tokens.get(self.next) {
            if t.kind != TokenKind::Comment {
                break;
            }
            self.next += 1;
            self.comment(t);
        }
    }

    fn comment(&mut self, c: &Token) {
        let text = c.text(self.source);
        if self.out.is_empty() {
            self.out.push_str(text);
            self.due = Some(Break::Line);
        } else if c.newlines_before == 0 && !self.commented {
            self.out.push(' ');
            self.out.push_str(text);
            self.due.get_or_insert(Break::Continue);
        } else {
            let due = *self.due.get_or_insert(Break::Continue);
            let blank = c.newlines_before >= 2 && self.blank_ok;
            self.newline(blank, due);
            self.out.push_str(text);
        }
        self.due.get_or_insert(Break::Continue);
        self.blank_ok = true;
        self.commented = true;
    }

    fn newline(&mut self, blank: bool, due: Break) {
        self.commented = false;
        self.out.push('\n');
        if blank {
            self.out.push('\n');
        }
        let depth = self.indent + usize::from(due == Break::Continue);
        for _ in 0..depth {
            self.out.push_str("    ");
        }
        if due == Break::Line {
            self.prev = "";
        }
    }

    fn bug(&mut self, at: Span, message: &str) {
        if self.error.is_none() {
            self.error = Some(
                Diagnostic::error(codes::INTERNAL_FORMAT, at, message.to_string())
                    .label("the formatter lost its place here")
                    .help("this is a bug in campaign, not in the script; please report it with the file"),
            );
        }
    }

    /// The output: the comments after the last token, and a final line
    /// break. Every token must have been taken.
    pub(super) fn finish(mut self) -> Result<String, Diagnostic> {
        self.line();
        self.comments();
        if let Some(t) = self.tokens.get(self.next) {
            self.bug(t.span, "the formatter left this token out");
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.push('\n');
        Ok(self.out)
    }
}

/// Whether one space goes between two tokens on a line: everywhere but
/// inside parentheses and brackets, before `,` `:` `%`, around the `/` of
/// a rate, and between `secret` and its `(`.
fn space_between(prev: &str, next: &str) -> bool {
    if prev.is_empty() || matches!(prev, "(" | "[" | "/") {
        return false;
    }
    if matches!(next, ")" | "]" | "," | ":" | "%" | "/") {
        return false;
    }
    !(next == "(" && prev == "secret")
}
