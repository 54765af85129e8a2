//! `campaign fmt`: one canonical layout for every campaign, comments kept.
//!
//! The formatter reads two views of one parse ([`parse_lossless`]): the AST,
//! which says where each trigger, step, setting, block and JSON value lies,
//! and the lossless token list ([`crate::syntax::tokens`]), which holds
//! every code token and comment in order with the line breaks before it.
//! It walks the AST and takes the tokens in the order they were written,
//! choosing only line breaks, indentation, spaces and a few canonical
//! spellings; `printer` writes each comment next to the token it was
//! next to. The style, and why, is docs/fmt.md.
//!
//! What it must never do is change what the file means, lose a comment, or
//! give a different answer the second time: tests/fmt.rs and
//! fuzz/fuzz_targets/fmt.rs hold it to that (the same program, the same
//! comments, formatting twice the same as once).

mod printer;

use std::borrow::Cow;

use printer::Printer;

use crate::diagnostics::Diagnostic;
use crate::span::Span;
use crate::syntax::ast::{
    literal_values, literal_values_in, Block, Campaign, Json, JsonKind, Member, Setting, Step,
    StepKind,
};
use crate::syntax::parser::parse_lossless;
use crate::syntax::template::parse_merge;
use crate::syntax::tokens::tokens;
use crate::syntax::units::unit_millis;

/// `source` in the canonical style, or the syntax diagnostics (as `check`
/// reports them) when it does not parse: a file with syntax errors is
/// never formatted.
pub fn format_source(source: &str) -> Result<String, Vec<Diagnostic>> {
    let (campaign, leaves) = parse_lossless(source).map_err(|mut errors| {
        // In the order `check` reports them.
        errors.sort_by_key(|d| (d.span.start, d.span.end));
        errors
    })?;
    let tokens = tokens(source, &leaves).map_err(|d| vec![d])?;
    let mut p = Printer::new(source, &tokens);
    file(&mut p, source, &campaign);
    p.finish().map_err(|d| vec![d])
}

/// Whether formatting would change `source`; `Err` as [`format_source`].
pub fn is_formatted(source: &str) -> Result<bool, Vec<Diagnostic>> {
    Ok(format_source(source)? == source)
}

fn file(p: &mut Printer<'_>, source: &str, campaign: &Campaign) {
    p.expect("campaign");
    p.write_as(&string(p, source));
    p.structural();
    p.expect("{");
    p.indent();
    // Triggers and steps in the order written: moving one would move its
    // comments away from their neighbours.
    let mut items: Vec<(Span, Option<&Step>)> = campaign
        .triggers
        .iter()
        .map(|t| (t.span, None))
        .chain(campaign.steps.iter().map(|s| (s.span, Some(s))))
        .collect();
    items.sort_by_key(|(span, _)| span.start);
    let close = campaign.span.end - 1;
    for (i, (_, step)) in items.iter().enumerate() {
        let next = items.get(i + 1).map_or(close, |(s, _)| s.start);
        p.line();
        match step {
            Some(step) => self::step(p, source, step, next),
            None => run(p, source, next),
        }
    }
    close_brace(p);
}

/// The next token if it is a string: kept byte for byte. A string's escapes
/// are how its author chose to write its value (`tags[]`, `\u{A0}`), and
/// the value is what must not change.
fn string(p: &Printer<'_>, _source: &str) -> String {
    p.peek_text().to_string()
}

/// Closes the block the printer is in: the comments before the brace stay
/// inside it.
fn close_brace(p: &mut Printer<'_>) {
    p.line();
    p.comments();
    p.dedent();
    p.line();
    p.expect("}");
}

/// A step, from its keyword up to `next`, where whatever follows it begins.
fn step(p: &mut Printer<'_>, source: &str, step: &Step, next: u32) {
    match &step.kind {
        StepKind::Webhook(webhook) => {
            p.expect("webhook");
            p.write_as(&string(p, source));
            p.structural();
            let open = p.peek().map_or(step.span.end, |t| t.span.start);
            p.expect("{");
            let close = step.span.end - 1;
            if webhook.settings.is_empty()
                && !p.has_comment_in(Span::new(open as usize, close as usize))
            {
                p.glued("}", true);
                return;
            }
            p.indent();
            for (i, setting) in webhook.settings.iter().enumerate() {
                let until = webhook.settings.get(i + 1).map_or(close, |s| s.span.start);
                p.line();
                match &setting.node {
                    Setting::Json(json) => {
                        p.expect("json");
                        self::json(p, source, json);
                    }
                    _ => run(p, source, until),
                }
            }
            close_brace(p);
        }
        StepKind::If(chain) => {
            for (i, branch) in chain.branches.iter().enumerate() {
                if i > 0 {
                    p.structural();
                }
                run(p, source, branch.body.span.start);
                block(p, source, &branch.body);
            }
            if let Some(otherwise) = &chain.otherwise {
                p.structural();
                run(p, source, otherwise.span.start);
                block(p, source, otherwise);
            }
        }
        StepKind::Split(split) => {
            run(p, source, split.first.span.start);
            block(p, source, &split.first);
            p.structural();
            run(p, source, split.otherwise.span.start);
            block(p, source, &split.otherwise);
        }
        StepKind::Tag { .. }
        | StepKind::FieldSet(_)
        | StepKind::Note(_)
        | StepKind::Wait(_)
        | StepKind::Stop
        | StepKind::Goal(_) => run(p, source, next),
    }
}

/// `{ steps }`, the printer at its opening brace.
fn block(p: &mut Printer<'_>, source: &str, block: &Block) {
    p.structural();
    p.expect("{");
    let close = block.span.end - 1;
    if block.steps.is_empty() && !p.has_comment_in(block.span) {
        p.glued("}", true);
        return;
    }
    p.indent();
    for (i, step) in block.steps.iter().enumerate() {
        let next = block.steps.get(i + 1).map_or(close, |s| s.span.start);
        p.line();
        self::step(p, source, step, next);
    }
    close_brace(p);
}

/// A JSON value, the printer at its first token. Objects take a line per
/// member; arrays stay on one line when they hold only scalars and no
/// comment, else take a line per element.
fn json(p: &mut Printer<'_>, source: &str, json: &Json) {
    match &json.kind {
        JsonKind::Object(members) => {
            p.expect("{");
            if members.is_empty() && !p.has_comment_in(json.span) {
                p.glued("}", true);
                return;
            }
            p.indent();
            // A run of literal members stands for each of them.
            let mut values: Vec<Cow<'_, Json>> = Vec::with_capacity(members.len());
            for member in members {
                match member {
                    Member::One(_, value) => values.push(Cow::Borrowed(value)),
                    Member::Run(run) => values.extend(
                        literal_values_in(&run.node, run.span.start as usize, true)
                            .into_iter()
                            .map(Cow::Owned),
                    ),
                }
            }
            for (i, value) in values.iter().enumerate() {
                p.line();
                p.write_as(&string(p, source));
                p.glued(":", true);
                self::json(p, source, value);
                separator(p, i + 1 == values.len());
            }
            close_brace(p);
        }
        JsonKind::Array(items) => {
            p.expect("[");
            // A run of literal elements stands for each of them.
            let mut elements: Vec<Cow<'_, Json>> = Vec::with_capacity(items.len());
            for item in items {
                match &item.kind {
                    JsonKind::Run(text) => elements.extend(
                        literal_values(text, item.span.start as usize)
                            .into_iter()
                            .map(Cow::Owned),
                    ),
                    _ => elements.push(Cow::Borrowed(item)),
                }
            }
            let inline = !p.has_comment_in(json.span)
                && elements
                    .iter()
                    .all(|v| !matches!(v.kind, JsonKind::Object(_) | JsonKind::Array(_)));
            if !inline {
                p.indent();
            }
            for (i, element) in elements.iter().enumerate() {
                if !inline {
                    p.line();
                }
                self::json(p, source, element);
                separator(p, i + 1 == elements.len());
            }
            if inline {
                p.expect("]");
            } else {
                p.line();
                p.comments();
                p.dedent();
                p.line();
                p.expect("]");
            }
        }
        JsonKind::Literal(text) => {
            for value in literal_values(text, json.span.start as usize) {
                self::json(p, source, &value);
            }
        }
        JsonKind::Merge(_) => {
            let text = canonical_merge(p.peek_text());
            p.write_as(&text);
        }
        // A run of one scalar: longer runs stand only in an array, which
        // writes each element.
        JsonKind::Str(_)
        | JsonKind::Number(_)
        | JsonKind::Run(_)
        | JsonKind::Bool(_)
        | JsonKind::Null => {
            let text = p.peek_text().to_string();
            p.write_as(&text);
        }
    }
}

/// The `,` after a member or element: written unless it is the last, taken
/// from the source if it was written there.
fn separator(p: &mut Printer<'_>, last: bool) {
    if p.peek_text() == "," {
        p.glued(",", !last);
    } else if !last {
        // The grammar puts a comma between any two; this is a bug.
        p.expect(",");
    }
}

/// The tokens up to `end` (exclusive), on the current line, with the
/// canonical spellings: HTTP methods in capitals, durations as a number and
/// a unit spelt out, merges spaced as `[Field | filter: arg, arg]`.
fn run(p: &mut Printer<'_>, _source: &str, end: u32) {
    let mut prev = "";
    while let Some(t) = p.peek() {
        if t.span.start >= end {
            break;
        }
        let text = p.peek_text();
        if matches!(prev, "wait" | "timeout" | "backoff")
            && text.starts_with(|c: char| c.is_ascii_digit())
        {
            // `2 days`: the number and its unit are two tokens, written as
            // one (the grammar allows no comment between them).
            p.take();
            let word = long_unit(p.peek_text(), text == "1");
            if let Some(unit) = p.take() {
                p.write(unit, &format!("{text} {word}"));
            }
            prev = "";
            continue;
        }
        if prev == "method" {
            p.write_as(&text.to_ascii_uppercase());
        } else if text.starts_with('[') && text.len() > 1 {
            p.write_as(&canonical_merge(text));
        } else {
            p.write_as(text);
        }
        prev = text;
    }
}

/// A unit of time spelt out, singular for exactly one.
fn long_unit(unit: &str, one: bool) -> String {
    let word = match unit_millis(unit) {
        Some(1) => "millisecond",
        Some(1_000) => "second",
        Some(60_000) => "minute",
        Some(3_600_000) => "hour",
        Some(86_400_000) => "day",
        Some(604_800_000) => "week",
        _ => return unit.to_string(),
    };
    if one {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// `[ Field|filter:'a',2 ]` as `[Field | filter: 'a', 2]`: the field name,
/// filter names and arguments as written, only the spacing between them
/// chosen; kept as written unless the merge lexer reads the result as the
/// same merge.
fn canonical_merge(text: &str) -> String {
    let inner = &text[1..text.len() - 1];
    let Ok(merge) = parse_merge(inner, 1, Span::new(0, text.len())) else {
        return text.to_string();
    };
    let slice = |s: Span| &text[s.start as usize..s.end as usize];
    let mut out = String::with_capacity(text.len() + 4);
    out.push('[');
    out.push_str(slice(merge.field.span));
    for filter in merge.filters() {
        out.push_str(" | ");
        out.push_str(slice(filter.name.span));
        for (i, arg) in filter.args.iter().enumerate() {
            out.push_str(if i == 0 { ": " } else { ", " });
            out.push_str(slice(arg.span));
        }
    }
    out.push(']');
    if out == text {
        return out;
    }
    let same = parse_merge(&out[1..out.len() - 1], 1, Span::new(0, out.len())).is_ok_and(|m| {
        m.field.node == merge.field.node
            && m.filters().len() == merge.filters().len()
            && m.filters().iter().zip(merge.filters()).all(|(a, b)| {
                a.name.node == b.name.node
                    && a.args.len() == b.args.len()
                    && a.args.iter().zip(&b.args).all(|(x, y)| x.node == y.node)
            })
    });
    if same {
        out
    } else {
        text.to_string()
    }
}
