//! Running merge filters: the ops [`crate::filters::compile_filter`] checked
//! at compile time, applied to one contact's value.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::format::StrftimeItems;
use chrono::{DateTime, Utc};

use crate::filters::{parse_date, FilterOp};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::write_number;
    use crate::filters::{compile_filter, filter_for_test};
    use crate::syntax::ast::FilterArg;
    use proptest::prelude::*;

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

        /// Whatever format `check` accepts formats every date.
        #[test]
        fn compiled_date_formats_always_format(
            format in prop_oneof![any::<String>(), "[%a-zA-Z:_.#0-9 -]{0,8}"],
        ) {
            let f = filter_for_test("date", vec![FilterArg::Str(format.into())]);
            if let Ok(op) = compile_filter(&f) {
                prop_assert!(apply(&op, text("2026-11-27")).is_ok());
            }
        }
    }
}
