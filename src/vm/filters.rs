//! Merge filters: `[Field | filter: arg | filter]`.
//!
//! [`compile_filter`] checks a parsed filter once, at compile time, so
//! [`apply`] only fails on values it cannot read (`| number`, `| date`).

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::diagnostics::{did_you_mean, Diagnostic};
use crate::encode::write_number;
use crate::syntax::ast::{Filter, FilterArg};
use crate::span::{Span, Spanned};
use crate::vm::value::{parse_number, Value};

/// The most bytes a merge may produce, after every filter: larger values
/// fail the contact with `campaign::run::too_large` instead of growing
/// (`replace: 'a', 'aa'` sixty times would want an exabyte). The VM holds
/// each merged text (a URL, header, body, note, tag or field value) to the
/// same limit.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Why a filter gave no value.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterError {
    /// The value cannot be read as the filter needs (`| number`,
    /// `| date`); the message says why.
    Unreadable(String),
    /// The result would be this many bytes, past [`MAX_VALUE_BYTES`];
    /// nothing that large was allocated.
    TooLarge(usize),
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilterError::Unreadable(message) => f.write_str(message),
            FilterError::TooLarge(bytes) => write!(
                f,
                "the value would be {bytes} bytes, over the limit of {MAX_VALUE_BYTES} (1 MiB)"
            ),
        }
    }
}

/// Every filter name, in the order the docs list them.
pub const FILTER_NAMES: &[&str] = &[
    "default", "upper", "lower", "trim", "title", "truncate", "replace", "number", "date", "raw",
];

/// A checked filter, ready to run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FilterOp {
    /// `| default: 'x'`: replaces an empty value.
    Default(String),
    /// `| upper`
    Upper,
    /// `| lower`
    Lower,
    /// `| trim`
    Trim,
    /// `| title`
    Title,
    /// `| truncate: N`, in characters.
    Truncate(usize),
    /// `| replace: 'from', 'to'`
    Replace(String, String),
    /// `| number`
    Number,
    /// `| date: 'FORMAT'`, a validated strftime format.
    Date(String),
    /// `| raw`: no escaping; the caller handles that, so it is identity here.
    Raw,
}

/// Checks a parsed filter's name and arguments.
///
/// Errors: `campaign::filter::unknown` for a name not in [`FILTER_NAMES`],
/// `campaign::filter::arguments` for a wrong number or kind of arguments,
/// and `campaign::filter::date_format` for a `date` format chrono rejects.
pub fn compile_filter(filter: &Filter) -> Result<FilterOp, Diagnostic> {
    let name = filter.name.node.as_str();
    match name {
        "default" => {
            let arg = one_arg(filter, DEFAULT_USAGE)?;
            Ok(FilterOp::Default(match &arg.node {
                FilterArg::Str(s) => s.clone(),
                // `| default: 0` is natural for counts; show it as merges do.
                FilterArg::Number(n) => {
                    let mut text = String::new();
                    write_number(&mut text, *n);
                    text
                }
            }))
        }
        "upper" | "lower" | "trim" | "title" | "number" | "raw" => {
            no_args(filter)?;
            Ok(match name {
                "upper" => FilterOp::Upper,
                "lower" => FilterOp::Lower,
                "trim" => FilterOp::Trim,
                "title" => FilterOp::Title,
                "number" => FilterOp::Number,
                _ => FilterOp::Raw,
            })
        }
        "truncate" => {
            let arg = one_arg(filter, TRUNCATE_USAGE)?;
            match arg.node {
                FilterArg::Number(n) if n >= 0.0 && n.fract() == 0.0 => {
                    // Saturating: anything past usize::MAX keeps everything.
                    Ok(FilterOp::Truncate(n as usize))
                }
                FilterArg::Number(_) => Err(arguments(
                    arg.span,
                    "`truncate` needs a whole number of characters, 0 or more",
                    "expected a whole number",
                    TRUNCATE_USAGE.example,
                )),
                FilterArg::Str(_) => Err(wrong_kind(
                    arg.span,
                    TRUNCATE_USAGE,
                    "expected a number, not text",
                )),
            }
        }
        "replace" => {
            arity(filter, 2, REPLACE_USAGE)?;
            let from = text_arg(&filter.args[0], REPLACE_USAGE)?;
            let to = text_arg(&filter.args[1], REPLACE_USAGE)?;
            Ok(FilterOp::Replace(from.to_owned(), to.to_owned()))
        }
        "date" => {
            let arg = one_arg(filter, DATE_USAGE)?;
            let format = text_arg(arg, DATE_USAGE)?;
            check_date_format(format, arg.span)?;
            Ok(FilterOp::Date(format.to_owned()))
        }
        _ => Err(unknown(filter)),
    }
}

/// What a filter takes, for argument errors.
#[derive(Clone, Copy)]
struct Usage {
    message: &'static str,
    example: &'static str,
}

const DEFAULT_USAGE: Usage = Usage {
    message: "`default` takes one text, shown when the value is empty",
    example: "for example `[First Name | default: 'there']`",
};
const TRUNCATE_USAGE: Usage = Usage {
    message: "`truncate` takes one number, the maximum length in characters",
    example: "for example `[Company | truncate: 20]`",
};
const REPLACE_USAGE: Usage = Usage {
    message: "`replace` takes two texts: what to find and what to put instead",
    example: "for example `[Phone | replace: '-', '']`",
};
const DATE_USAGE: Usage = Usage {
    message: "`date` takes one text, the format to show the date in",
    example: "for example `[Renewal Date | date: '%Y-%m-%d']` or `| date: '%B %-d, %Y'`",
};

fn unknown(filter: &Filter) -> Diagnostic {
    let name = &filter.name.node;
    let help = match did_you_mean(name, FILTER_NAMES.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("filters are: {}", FILTER_NAMES.join(", ")),
    };
    Diagnostic::error(
        "campaign::filter::unknown",
        filter.name.span,
        format!("unknown filter `{name}`"),
    )
    .label("not a filter")
    .help(help)
}

fn arguments(span: Span, message: &str, label: &str, help: &str) -> Diagnostic {
    Diagnostic::error("campaign::filter::arguments", span, message)
        .label(label)
        .help(help)
}

fn wrong_kind(span: Span, usage: Usage, label: &str) -> Diagnostic {
    arguments(span, usage.message, label, usage.example)
}

/// Errors unless the filter has exactly `n` arguments: a missing one points
/// at the whole filter, extra ones at the extras.
fn arity(filter: &Filter, n: usize, usage: Usage) -> Result<(), Diagnostic> {
    let args = &filter.args;
    if args.len() < n {
        let label = if args.is_empty() {
            "missing argument"
        } else {
            "an argument is missing"
        };
        return Err(arguments(filter.span, usage.message, label, usage.example));
    }
    if let (Some(first), Some(last)) = (args.get(n), args.last()) {
        let label = if args.len() - n == 1 {
            "extra argument"
        } else {
            "extra arguments"
        };
        return Err(arguments(
            first.span.to(last.span),
            usage.message,
            label,
            usage.example,
        ));
    }
    Ok(())
}

fn one_arg(filter: &Filter, usage: Usage) -> Result<&Spanned<FilterArg>, Diagnostic> {
    arity(filter, 1, usage)?;
    // `arity` guarantees exactly one argument.
    filter
        .args
        .first()
        .ok_or_else(|| arguments(filter.span, "missing argument", "", ""))
}

fn no_args(filter: &Filter) -> Result<(), Diagnostic> {
    let (Some(first), Some(last)) = (filter.args.first(), filter.args.last()) else {
        return Ok(());
    };
    let name = &filter.name.node;
    Err(arguments(
        first.span.to(last.span),
        &format!("`{name}` takes no arguments"),
        "remove this",
        &format!("write `| {name}`"),
    ))
}

fn text_arg(arg: &Spanned<FilterArg>, usage: Usage) -> Result<&str, Diagnostic> {
    match &arg.node {
        FilterArg::Str(s) => Ok(s),
        FilterArg::Number(_) => Err(wrong_kind(arg.span, usage, "expected text in quotes")),
    }
}

/// Rejects formats chrono cannot use, naming the first bad `%` code.
fn check_date_format(format: &str, span: Span) -> Result<(), Diagnostic> {
    let broken = |f: &str| StrftimeItems::new(f).any(|item| matches!(item, Item::Error));
    let sample_fails = || {
        let mut out = String::new();
        write!(
            out,
            "{}",
            DateTime::UNIX_EPOCH.format_with_items(StrftimeItems::new(format))
        )
        .is_err()
    };
    if !broken(format) && !sample_fails() {
        return Ok(());
    }
    let message = match bad_code(format, broken) {
        Some("%") => "a `%` at the end of a date format needs a code after it".to_owned(),
        Some(code) => format!("`{code}` is not a date format code"),
        None => format!("`{format}` is not a valid date format"),
    };
    Err(
        Diagnostic::error("campaign::filter::date_format", span, message)
            .label("invalid date format")
            .help(
                "use strftime codes such as `%Y` (year), `%m` (month), `%d` (day), \
             `%B` (month name), `%H:%M` (time); write `%%` for a literal %",
            ),
    )
}

/// The first `%` code (with its flags) that chrono rejects on its own.
fn bad_code(format: &str, broken: impl Fn(&str) -> bool) -> Option<&str> {
    let mut starts = Vec::new();
    let mut chars = format.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '%' {
            starts.push(i);
            chars.next(); // The code letter, or the second `%` of `%%`.
        }
    }
    starts.iter().enumerate().find_map(|(k, &start)| {
        let end = starts.get(k + 1).copied().unwrap_or(format.len());
        let segment = format.get(start..end)?;
        if !broken(segment) {
            return None;
        }
        // `%` plus any flags/width (`-`, `_`, `0`, `#`, `:`, `.`, digits)
        // plus the code character.
        let after = segment.get(1..)?;
        let flags = after
            .find(|c: char| !matches!(c, '-' | '_' | '#' | ':' | '.' | '0'..='9'))
            .unwrap_or(after.len());
        let code_len = after[flags..].chars().next().map_or(0, char::len_utf8);
        segment.get(..1 + flags + code_len)
    })
}

/// Runs one filter. These are the filters' user-facing semantics:
///
/// - `default: 'x'` — a value that is empty (missing, empty or only
///   whitespace, or the empty result of `| number`) becomes `x`; anything
///   else passes through unchanged.
/// - `upper`, `lower`, `trim` — Unicode-aware (`straße | upper` is
///   `STRASSE`; `trim` removes all Unicode whitespace at both ends).
/// - `title` — uppercases the first letter of each whitespace-separated word
///   and lowercases the rest (`mary-jane o'neil` becomes `Mary-jane O'neil`);
///   whitespace is kept as it was.
/// - `truncate: N` — keeps the first N characters (not bytes); no ellipsis.
/// - `replace: 'a', 'b'` — replaces every occurrence of `a`, case-sensitive;
///   an empty `a` leaves the text unchanged.
/// - `number` — reads the text as a number (see [`parse_number`]); empty or
///   whitespace gives an empty value; anything else is an error for this
///   contact.
/// - `date: FORMAT` — reads the value as a date (see [`parse_date`]) and
///   shows it with chrono's strftime codes, in UTC; an empty value stays
///   empty; an unreadable one is an error for this contact.
/// - `raw` — returns the value as is; it only switches off escaping.
///
/// The text filters work on the value's text form and return text: a number
/// becomes its shown form (`50`, `2.5`), a bool `true`/`false`. Unchanged
/// borrowed text stays borrowed.
///
/// A result longer than [`MAX_VALUE_BYTES`] is [`FilterError::TooLarge`]:
/// the filters that can grow a value (`default`, `upper`, `lower`,
/// `title`, `replace`, `date`) work out the result's length before
/// allocating it.
pub fn apply<'a>(op: &FilterOp, value: Value<'a>) -> Result<Value<'a>, FilterError> {
    let fits = |bytes: usize| {
        if bytes > MAX_VALUE_BYTES {
            Err(FilterError::TooLarge(bytes))
        } else {
            Ok(())
        }
    };
    Ok(match op {
        FilterOp::Default(text) if value.is_empty() => {
            fits(text.len())?;
            Value::Text(Cow::Owned(text.clone()))
        }
        FilterOp::Default(_) | FilterOp::Raw => value,
        FilterOp::Upper => {
            let text = value.into_text();
            fits(mapped_len(&text, char::to_uppercase))?;
            Value::Text(upper(text))
        }
        FilterOp::Lower => {
            let text = value.into_text();
            fits(mapped_len(&text, char::to_lowercase))?;
            Value::Text(lower(text))
        }
        FilterOp::Trim => Value::Text(trim(value.into_text())),
        FilterOp::Title => {
            let text = value.into_text();
            fits(title_len(&text))?;
            Value::Text(title(text))
        }
        FilterOp::Truncate(n) => Value::Text(truncate(value.into_text(), *n)),
        FilterOp::Replace(from, to) => {
            let text = value.into_text();
            if !from.is_empty() {
                let count = text.matches(from.as_str()).count();
                fits(
                    (text.len() - count * from.len())
                        .saturating_add(count.saturating_mul(to.len())),
                )?;
            }
            Value::Text(replace(text, from, to))
        }
        FilterOp::Number => to_number(value).map_err(FilterError::Unreadable)?,
        FilterOp::Date(format) => to_date(value, format)?,
    })
}

/// Bytes of `text` with every character mapped: `str::to_uppercase` and
/// `to_lowercase` map character by character (the one context rule, final
/// sigma, picks between two letters of the same length).
fn mapped_len<I: Iterator<Item = char>>(text: &str, map: impl Fn(char) -> I) -> usize {
    text.chars()
        .map(|c| map(c).map(char::len_utf8).sum::<usize>())
        .sum()
}

/// Bytes of `title(text)`, which cases each character by where it is.
fn title_len(text: &str) -> usize {
    let mut word_start = true;
    text.chars()
        .map(|c| {
            let start = std::mem::replace(&mut word_start, c.is_whitespace());
            if start {
                c.to_uppercase().map(char::len_utf8).sum::<usize>()
            } else {
                c.to_lowercase().map(char::len_utf8).sum::<usize>()
            }
        })
        .sum()
}

/// A `String` that refuses to grow past [`MAX_VALUE_BYTES`], for output
/// whose length is only known once written (`| date`).
#[derive(Default)]
struct Capped {
    out: String,
    over: bool,
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.out.len() + s.len() > MAX_VALUE_BYTES {
            self.over = true;
            return Err(std::fmt::Error);
        }
        self.out.push_str(s);
        Ok(())
    }
}

fn maps_to_itself(c: char, mut mapped: impl Iterator<Item = char>) -> bool {
    mapped.next() == Some(c) && mapped.next().is_none()
}

fn upper(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.chars().all(|c| maps_to_itself(c, c.to_uppercase())) {
        text
    } else {
        Cow::Owned(text.to_uppercase())
    }
}

fn lower(text: Cow<'_, str>) -> Cow<'_, str> {
    // Char-wise is exact here: the only context-sensitive mapping in
    // `str::to_lowercase` is for `Σ`, which never maps to itself.
    if text.chars().all(|c| maps_to_itself(c, c.to_lowercase())) {
        text
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

fn trim(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) if s.trim().len() == s.len() => Cow::Owned(s),
        Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
    }
}

fn title(text: Cow<'_, str>) -> Cow<'_, str> {
    // Built lazily: nothing is allocated until a character changes.
    let mut out: Option<String> = None;
    let mut word_start = true;
    for (i, c) in text.char_indices() {
        let start = std::mem::replace(&mut word_start, c.is_whitespace());
        let same = if start {
            maps_to_itself(c, c.to_uppercase())
        } else {
            maps_to_itself(c, c.to_lowercase())
        };
        match &mut out {
            None if same => {}
            None => {
                let mut s = String::with_capacity(text.len() + 4);
                s.push_str(&text[..i]);
                push_case(&mut s, c, start);
                out = Some(s);
            }
            Some(s) => push_case(s, c, start),
        }
    }
    out.map_or(text, Cow::Owned)
}

fn push_case(out: &mut String, c: char, upper: bool) {
    if upper {
        out.extend(c.to_uppercase());
    } else {
        out.extend(c.to_lowercase());
    }
}

fn truncate(text: Cow<'_, str>, n: usize) -> Cow<'_, str> {
    let Some((cut, _)) = text.char_indices().nth(n) else {
        return text;
    };
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(&s[..cut]),
        Cow::Owned(mut s) => {
            s.truncate(cut);
            Cow::Owned(s)
        }
    }
}

fn replace<'a>(text: Cow<'a, str>, from: &str, to: &str) -> Cow<'a, str> {
    if from.is_empty() || !text.contains(from) {
        text
    } else {
        Cow::Owned(text.replace(from, to))
    }
}

fn to_number(value: Value<'_>) -> Result<Value<'_>, String> {
    match value {
        Value::Number(_) | Value::Empty => Ok(value),
        _ if value.is_empty() => Ok(Value::Empty),
        _ => {
            let text = value.to_text();
            parse_number(&text)
                .map(Value::Number)
                .ok_or_else(|| format!("`| number` cannot read {} as a number", quoted(&text)))
        }
    }
}

fn to_date<'a>(value: Value<'a>, format: &str) -> Result<Value<'a>, FilterError> {
    if value.is_empty() {
        return Ok(Value::Empty);
    }
    let seconds = match &value {
        Value::Number(n) => unix_seconds(*n),
        _ => parse_date(&value.to_text()),
    };
    let Some(when) = seconds.and_then(|s| DateTime::<Utc>::from_timestamp(s, 0)) else {
        return Err(FilterError::Unreadable(format!(
            "`| date` cannot read {} as a date; use 2026-11-27, 2026-11-27 09:30:00, \
             2026-11-27T09:30:00Z (RFC 3339, any offset) or Unix seconds like 1795771800",
            quoted(&value.to_text())
        )));
    };
    // Item by item: chrono builds each formatted piece in a String of its
    // own, so a whole format at once could be any size before `Capped`
    // saw it.
    let mut out = Capped::default();
    if StrftimeItems::new(format)
        .try_for_each(|item| write!(out, "{}", when.format_with_items(std::iter::once(item))))
        .is_err()
    {
        return Err(match out.over {
            // Its length is unknown; it is at least this.
            true => FilterError::TooLarge(MAX_VALUE_BYTES + 1),
            false => FilterError::Unreadable(format!(
                "`| date` cannot use the format {}",
                quoted(format)
            )),
        });
    }
    Ok(Value::Text(Cow::Owned(out.out)))
}

/// A whole number of seconds that fits an `i64`.
fn unix_seconds(n: f64) -> Option<i64> {
    // 2^63 is exactly representable; the range check keeps the cast exact.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (n.fract() == 0.0 && (-LIMIT..LIMIT).contains(&n)).then_some(n as i64)
}

/// The value quoted for an error message, cut to 40 characters.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Reads a date as Unix seconds (UTC), for `| date` and `wait until`.
///
/// Accepted, after trimming: RFC 3339 (`2026-11-27T09:30:00Z`,
/// `2026-11-27T09:30:00-05:00`, fractions of a second are dropped),
/// `2026-11-27` (midnight UTC), `2026-11-27 09:30:00` or
/// `2026-11-27T09:30:00` (no offset means UTC), and a whole number of Unix
/// seconds (`1795771800`, how ONTRAPORT stores dates). Returns `None` for
/// anything else, including dates chrono cannot represent.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let seconds = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.timestamp()
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
    } else if let Some(t) = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    {
        t.and_utc().timestamp()
    } else {
        s.parse::<i64>().ok()?
    };
    DateTime::<Utc>::from_timestamp(seconds, 0).map(|_| seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A filter as the parser would build it for `| name: args`, starting at
    /// byte 10 with one byte between pieces.
    fn filter(name: &str, args: Vec<FilterArg>) -> Filter {
        let name_span = Span::new(10, 10 + name.len());
        let mut at = name_span.end as usize + 2;
        let args: Vec<_> = args
            .into_iter()
            .map(|a| {
                let span = Span::new(at, at + 3);
                at += 5;
                Spanned::new(a, span)
            })
            .collect();
        let span = args.last().map_or(name_span, |a| name_span.to(a.span));
        Filter {
            name: Spanned::new(name.to_owned(), name_span),
            args,
            span,
        }
    }

    fn s(text: &str) -> FilterArg {
        FilterArg::Str(text.to_owned())
    }

    fn n(v: f64) -> FilterArg {
        FilterArg::Number(v)
    }

    fn compile(name: &str, args: Vec<FilterArg>) -> Result<FilterOp, Diagnostic> {
        compile_filter(&filter(name, args))
    }

    fn text(s: &str) -> Value<'_> {
        Value::Text(Cow::Borrowed(s))
    }

    fn run<'a>(op: &FilterOp, v: Value<'a>) -> Value<'a> {
        match apply(op, v) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    fn shown(op: &FilterOp, s: &str) -> String {
        run(op, text(s)).to_text().into_owned()
    }

    #[test]
    fn compiles_every_filter() {
        assert_eq!(
            compile("default", vec![s("there")]),
            Ok(FilterOp::Default("there".into()))
        );
        assert_eq!(
            compile("default", vec![n(0.0)]),
            Ok(FilterOp::Default("0".into()))
        );
        assert_eq!(compile("upper", vec![]), Ok(FilterOp::Upper));
        assert_eq!(compile("lower", vec![]), Ok(FilterOp::Lower));
        assert_eq!(compile("trim", vec![]), Ok(FilterOp::Trim));
        assert_eq!(compile("title", vec![]), Ok(FilterOp::Title));
        assert_eq!(
            compile("truncate", vec![n(20.0)]),
            Ok(FilterOp::Truncate(20))
        );
        assert_eq!(compile("truncate", vec![n(0.0)]), Ok(FilterOp::Truncate(0)));
        assert_eq!(
            compile("replace", vec![s("-"), s("")]),
            Ok(FilterOp::Replace("-".into(), String::new()))
        );
        assert_eq!(compile("number", vec![]), Ok(FilterOp::Number));
        assert_eq!(
            compile("date", vec![s("%Y-%m-%d")]),
            Ok(FilterOp::Date("%Y-%m-%d".into()))
        );
        assert_eq!(
            compile("date", vec![s("%B %-d, %Y %%")]),
            Ok(FilterOp::Date("%B %-d, %Y %%".into()))
        );
        assert_eq!(compile("raw", vec![]), Ok(FilterOp::Raw));
        for name in FILTER_NAMES {
            let err = compile(name, vec![]).err();
            assert!(
                err.is_none_or(|d| d.code == "campaign::filter::arguments"),
                "{name}"
            );
        }
    }

    fn error(name: &str, args: Vec<FilterArg>) -> Diagnostic {
        match compile(name, args) {
            Err(d) => d,
            Ok(op) => panic!("expected an error, got {op:?}"),
        }
    }

    #[test]
    fn unknown_filter_suggests_a_close_name() {
        let d = error("nmber", vec![]);
        assert_eq!(d.code, "campaign::filter::unknown");
        assert_eq!(d.span, Span::new(10, 15));
        assert_eq!(d.message, "unknown filter `nmber`");
        assert_eq!(d.label, "not a filter");
        assert_eq!(d.help.as_deref(), Some("did you mean `number`?"));
        assert_eq!(
            error("Upper", vec![]).help.as_deref(),
            Some("did you mean `upper`?")
        );
        assert_eq!(
            error("truncat", vec![n(3.0)]).help.as_deref(),
            Some("did you mean `truncate`?")
        );
    }

    #[test]
    fn unknown_filter_lists_all_when_nothing_is_close() {
        let d = error("capitalize", vec![]);
        assert_eq!(d.code, "campaign::filter::unknown");
        assert_eq!(
            d.help.as_deref(),
            Some("filters are: default, upper, lower, trim, title, truncate, replace, number, date, raw")
        );
    }

    #[test]
    fn missing_arguments_point_at_the_filter() {
        let f = filter("truncate", vec![]);
        let d = compile_filter(&f)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(d.code, "campaign::filter::arguments");
        assert_eq!(d.span, f.span);
        assert_eq!(
            d.message,
            "`truncate` takes one number, the maximum length in characters"
        );
        assert_eq!(
            d.help.as_deref(),
            Some("for example `[Company | truncate: 20]`")
        );
        let d = error("replace", vec![s("a")]);
        assert_eq!(
            d.message,
            "`replace` takes two texts: what to find and what to put instead"
        );
        assert_eq!(error("default", vec![]).code, "campaign::filter::arguments");
        assert_eq!(error("date", vec![]).code, "campaign::filter::arguments");
    }

    #[test]
    fn extra_arguments_point_at_the_extras() {
        let f = filter("truncate", vec![n(1.0), n(2.0), n(3.0)]);
        let d = compile_filter(&f)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(d.span, f.args[1].span.to(f.args[2].span));
        assert_eq!(d.label, "extra arguments");
        let f = filter("upper", vec![s("x")]);
        let d = compile_filter(&f)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(d.code, "campaign::filter::arguments");
        assert_eq!(d.span, f.args[0].span);
        assert_eq!(d.message, "`upper` takes no arguments");
        assert_eq!(d.help.as_deref(), Some("write `| upper`"));
        assert_eq!(
            error("raw", vec![n(1.0)]).message,
            "`raw` takes no arguments"
        );
    }

    #[test]
    fn wrong_kinds_point_at_the_argument() {
        let f = filter("truncate", vec![s("20")]);
        let d = compile_filter(&f)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(d.span, f.args[0].span);
        assert_eq!(d.label, "expected a number, not text");
        for bad in [-1.0, 2.5, f64::NAN] {
            let d = error("truncate", vec![n(bad)]);
            assert_eq!(
                d.message,
                "`truncate` needs a whole number of characters, 0 or more"
            );
        }
        let f = filter("replace", vec![s("a"), n(1.0)]);
        let d = compile_filter(&f)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(d.span, f.args[1].span);
        assert_eq!(d.label, "expected text in quotes");
        assert_eq!(error("date", vec![n(1.0)]).label, "expected text in quotes");
    }

    #[test]
    fn bad_date_formats_name_the_code() {
        let f = filter("date", vec![s("%Y-%Q")]);
        let d = compile_filter(&f)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(d.code, "campaign::filter::date_format");
        assert_eq!(d.span, f.args[0].span);
        assert_eq!(d.message, "`%Q` is not a date format code");
        assert_eq!(
            error("date", vec![s("%-Q")]).message,
            "`%-Q` is not a date format code"
        );
        assert_eq!(
            error("date", vec![s("%Y %")]).message,
            "a `%` at the end of a date format needs a code after it"
        );
        for ok in [
            "100%% sure %Y",
            "%:z %.3f %e %A %a %b %j %I %p %s",
            "%Y-%m-%dT%H:%M:%S%z",
        ] {
            assert!(compile("date", vec![s(ok)]).is_ok(), "{ok}");
        }
        assert!(compile("date", vec![s("")]).is_ok());
    }

    #[test]
    fn default_fills_empty_values_only() {
        let op = FilterOp::Default("there".into());
        assert_eq!(shown(&op, ""), "there");
        assert_eq!(shown(&op, "  "), "there");
        assert_eq!(run(&op, Value::Empty), Value::Text("there".into()));
        assert_eq!(shown(&op, "Ada"), "Ada");
        assert_eq!(shown(&op, " Ada "), " Ada ");
        assert_eq!(run(&op, Value::Number(0.0)), Value::Number(0.0));
        assert_eq!(run(&op, Value::Bool(false)), Value::Bool(false));
    }

    #[test]
    fn case_filters() {
        assert_eq!(shown(&FilterOp::Upper, "straße é"), "STRASSE É");
        assert_eq!(shown(&FilterOp::Lower, "ÉCOLE ΟΔΟΣ"), "école οδος");
        assert_eq!(
            shown(&FilterOp::Title, "mary-jane  o'NEIL\tsmith"),
            "Mary-jane  O'neil\tSmith"
        );
        assert_eq!(
            shown(&FilterOp::Title, " élodie DUPONT "),
            " Élodie Dupont "
        );
        assert_eq!(shown(&FilterOp::Title, ""), "");
        assert_eq!(run(&FilterOp::Upper, Value::Number(2.5)), text("2.5"));
        assert_eq!(run(&FilterOp::Upper, Value::Bool(true)), text("TRUE"));
        assert_eq!(run(&FilterOp::Lower, Value::Empty), text(""));
    }

    #[test]
    fn unchanged_text_stays_borrowed() {
        for (op, input) in [
            (FilterOp::Upper, "ADA 42"),
            (FilterOp::Lower, "ada 42 é"),
            (FilterOp::Trim, "  ada  "),
            (FilterOp::Title, "Ada Lovelace"),
            (FilterOp::Truncate(3), "Ada Lovelace"),
            (FilterOp::Truncate(30), "Ada"),
            (FilterOp::Replace("x".into(), "y".into()), "Ada"),
            (FilterOp::Replace(String::new(), "y".into()), "Ada"),
            (FilterOp::Raw, "<b>"),
        ] {
            let out = run(&op, text(input));
            assert!(
                matches!(out, Value::Text(Cow::Borrowed(_))),
                "{op:?} {out:?}"
            );
        }
    }

    #[test]
    fn trim_truncate_replace() {
        assert_eq!(shown(&FilterOp::Trim, "\u{3000} Ada \n"), "Ada");
        assert_eq!(
            run(&FilterOp::Trim, Value::Text(Cow::Owned(" a ".into()))),
            text("a")
        );
        assert_eq!(shown(&FilterOp::Truncate(3), "Ünïcode"), "Ünï");
        assert_eq!(shown(&FilterOp::Truncate(0), "abc"), "");
        assert_eq!(shown(&FilterOp::Truncate(2), "😀😀😀"), "😀😀");
        assert_eq!(
            run(
                &FilterOp::Truncate(2),
                Value::Text(Cow::Owned("abc".into()))
            ),
            text("ab")
        );
        let op = FilterOp::Replace("-".into(), "".into());
        assert_eq!(shown(&op, "555-123-4567"), "5551234567");
        let op = FilterOp::Replace("a".into(), "A".into());
        assert_eq!(shown(&op, "banana"), "bAnAnA");
        assert_eq!(shown(&op, "BANANA"), "BANANA");
        assert_eq!(run(&op, Value::Number(1.0)), text("1"));
    }

    #[test]
    fn number_filter() {
        assert_eq!(run(&FilterOp::Number, text(" 50 ")), Value::Number(50.0));
        assert_eq!(run(&FilterOp::Number, text("-2.5")), Value::Number(-2.5));
        assert_eq!(run(&FilterOp::Number, text("")), Value::Empty);
        assert_eq!(run(&FilterOp::Number, text(" \t")), Value::Empty);
        assert_eq!(run(&FilterOp::Number, Value::Empty), Value::Empty);
        assert_eq!(
            run(&FilterOp::Number, Value::Number(7.0)),
            Value::Number(7.0)
        );
        assert_eq!(
            apply(&FilterOp::Number, text("abc")),
            Err(FilterError::Unreadable(
                "`| number` cannot read \"abc\" as a number".to_owned()
            ))
        );
        assert_eq!(
            apply(&FilterOp::Number, Value::Bool(true)),
            Err(FilterError::Unreadable(
                "`| number` cannot read \"true\" as a number".to_owned()
            ))
        );
        let long = "x".repeat(100);
        let err = apply(&FilterOp::Number, text(&long))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("`| number` cannot read \"{}\"… as a number", "x".repeat(40))
        );
        let err = apply(&FilterOp::Number, text("1\n2"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "`| number` cannot read \"1\\n2\" as a number");
    }

    #[test]
    fn parse_date_forms() {
        const T: i64 = 1_795_771_800; // 2026-11-27T09:30:00Z
        assert_eq!(parse_date("2026-11-27T09:30:00Z"), Some(T));
        assert_eq!(parse_date(" 2026-11-27T09:30:00Z "), Some(T));
        assert_eq!(parse_date("2026-11-27T10:30:00+01:00"), Some(T));
        assert_eq!(parse_date("2026-11-27T09:30:00.750Z"), Some(T));
        assert_eq!(parse_date("2026-11-27 09:30:00"), Some(T));
        assert_eq!(parse_date("2026-11-27T09:30:00"), Some(T));
        assert_eq!(parse_date("2026-11-27T09:30:00.5"), Some(T));
        assert_eq!(parse_date("2026-11-27"), Some(T - 9 * 3600 - 30 * 60));
        assert_eq!(parse_date("1795771800"), Some(T));
        assert_eq!(parse_date("0"), Some(0));
        assert_eq!(parse_date("-86400"), Some(-86400));
        for bad in [
            "",
            "tomorrow",
            "2026-13-01",
            "2026-02-30",
            "27/11/2026",
            "1.5",
            "2026-11-27T25:00:00",
            "9223372036854775807",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn date_filter() {
        let op = FilterOp::Date("%Y-%m-%d".into());
        assert_eq!(shown(&op, "2026-11-27T23:30:00-05:00"), "2026-11-28");
        assert_eq!(run(&op, Value::Number(1_795_771_800.0)), text("2026-11-27"));
        assert_eq!(run(&op, text("")), Value::Empty);
        assert_eq!(run(&op, Value::Empty), Value::Empty);
        let op = FilterOp::Date("%B %-d, %Y at %H:%M %Z".into());
        assert_eq!(shown(&op, "1795771800"), "November 27, 2026 at 09:30 UTC");
        let err = apply(&op, text("soon")).unwrap_err().to_string();
        assert!(
            err.starts_with("`| date` cannot read \"soon\" as a date; use 2026-11-27,"),
            "{err}"
        );
        assert!(apply(&op, Value::Number(1.5)).is_err());
        assert!(apply(&op, Value::Bool(true)).is_err());
        // A format that skipped compile_filter fails per contact, not by panic.
        assert!(apply(&FilterOp::Date("%Q".into()), text("2026-11-27")).is_err());
    }

    fn reference_title(s: &str) -> String {
        let mut out = String::new();
        let mut start = true;
        for c in s.chars() {
            push_case(&mut out, c, start);
            start = c.is_whitespace();
        }
        out
    }

    fn any_arg() -> impl Strategy<Value = FilterArg> {
        prop_oneof![
            any::<String>().prop_map(FilterArg::Str),
            any::<f64>().prop_map(FilterArg::Number),
            "[%a-zA-Z:_.#0-9 -]{0,8}".prop_map(FilterArg::Str),
        ]
    }

    proptest! {
        #[test]
        fn case_filters_match_std(input in any::<String>()) {
            prop_assert_eq!(shown(&FilterOp::Upper, &input), input.to_uppercase());
            prop_assert_eq!(shown(&FilterOp::Lower, &input), input.to_lowercase());
            prop_assert_eq!(shown(&FilterOp::Trim, &input), input.trim());
            prop_assert_eq!(shown(&FilterOp::Title, &input), reference_title(&input));
        }

        #[test]
        fn truncate_keeps_a_char_prefix(input in any::<String>(), n in 0usize..40) {
            let out = shown(&FilterOp::Truncate(n), &input);
            prop_assert!(input.starts_with(&out));
            prop_assert_eq!(out.chars().count(), input.chars().count().min(n));
        }

        #[test]
        fn replace_matches_std(input in "[ab -]{0,20}", from in "[ab-]{1,2}", to in "[xy]{0,2}") {
            let op = FilterOp::Replace(from.clone(), to.clone());
            prop_assert_eq!(shown(&op, &input), input.replace(&from, &to));
        }

        #[test]
        fn number_reads_what_merges_show(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            let mut shown_number = String::new();
            write_number(&mut shown_number, v);
            prop_assert_eq!(run(&FilterOp::Number, text(&shown_number)), Value::Number(v + 0.0));
        }

        #[test]
        fn dates_round_trip(secs in -50_000_000_000i64..50_000_000_000) {
            let iso = FilterOp::Date("%Y-%m-%dT%H:%M:%SZ".into());
            let shown_date = shown(&iso, &secs.to_string());
            prop_assert_eq!(parse_date(&shown_date), Some(secs));
            prop_assert_eq!(shown(&FilterOp::Date("%s".into()), &shown_date), secs.to_string());
        }

        #[test]
        fn compile_never_panics(name in "[a-z]{0,9}", args in proptest::collection::vec(any_arg(), 0..3)) {
            let f = filter(&name, args);
            match compile_filter(&f) {
                Ok(op) => {
                    prop_assert!(FILTER_NAMES.contains(&name.as_str()));
                    // A compiled date format always formats.
                    prop_assert!(apply(&op, text("2026-11-27")).is_ok() || op == FilterOp::Number);
                }
                Err(d) => {
                    prop_assert!(d.span.start >= 10 && d.span.end <= f.span.end);
                    prop_assert!(d.help.is_some());
                    if !FILTER_NAMES.contains(&name.as_str()) {
                        prop_assert_eq!(d.code, "campaign::filter::unknown");
                    }
                }
            }
        }

        #[test]
        fn date_format_check_never_panics(format in any::<String>()) {
            let _ = compile("date", vec![FilterArg::Str(format)]);
        }
    }
}
