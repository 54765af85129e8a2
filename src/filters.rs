//! Merge filters, the compile-time half: `[Field | filter: arg | filter]`
//! checked once into a [`FilterOp`], and the date reading that `check`,
//! the compiler and the VM share. The VM runs the ops
//! ([`crate::vm::filters::apply`]), so at run time a filter only fails on
//! values it cannot read (`| number`, `| date`).

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::diagnostics::{codes, did_you_mean, Diagnostic};
use crate::encode::write_number;
use crate::span::{Span, Spanned};
use crate::syntax::ast::{Filter, FilterArg};

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
                FilterArg::Str(s) => s.to_string(),
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
    let close = did_you_mean(name, FILTER_NAMES.iter().copied());
    let help = match close {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("filters are: {}", FILTER_NAMES.join(", ")),
    };
    let d = Diagnostic::error(
        codes::FILTER_UNKNOWN,
        filter.name.span,
        format!("unknown filter `{name}`"),
    )
    .label("not a filter")
    .help(help);
    match close {
        Some(close) => d.with_fix(format!("change to `{close}`"), filter.name.span, close),
        None => d,
    }
}

fn arguments(span: Span, message: &str, label: &str, help: &str) -> Diagnostic {
    Diagnostic::error(codes::FILTER_ARGUMENTS, span, message)
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
        return Err(arguments(
            filter.span(),
            usage.message,
            label,
            usage.example,
        ));
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
        .ok_or_else(|| arguments(filter.span(), "missing argument", "", ""))
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
    Err(Diagnostic::error(codes::FILTER_DATE_FORMAT, span, message)
        .label("invalid date format")
        .help(
            "use strftime codes such as `%Y` (year), `%m` (month), `%d` (day), \
             `%B` (month name), `%H:%M` (time); write `%%` for a literal %",
        ))
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

/// A filter as the parser would build it for `| name: args`, starting at
/// byte 10 with one byte between pieces.
#[cfg(test)]
pub(crate) fn filter_for_test(name: &str, args: Vec<FilterArg>) -> Filter {
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
    Filter {
        name: Spanned::new(name.into(), name_span),
        args: args.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn filter(name: &str, args: Vec<FilterArg>) -> Filter {
        filter_for_test(name, args)
    }

    fn s(text: &str) -> FilterArg {
        FilterArg::Str(text.into())
    }

    fn n(v: f64) -> FilterArg {
        FilterArg::Number(v)
    }

    fn compile(name: &str, args: Vec<FilterArg>) -> Result<FilterOp, Diagnostic> {
        compile_filter(&filter(name, args))
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
        assert_eq!(d.span, f.span());
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

    fn any_arg() -> impl Strategy<Value = FilterArg> {
        prop_oneof![
            any::<String>().prop_map(|s| FilterArg::Str(s.into())),
            any::<f64>().prop_map(FilterArg::Number),
            "[%a-zA-Z:_.#0-9 -]{0,8}".prop_map(|s| FilterArg::Str(s.into())),
        ]
    }

    proptest! {
        #[test]
        fn compile_never_panics(name in "[a-z]{0,9}", args in proptest::collection::vec(any_arg(), 0..3)) {
            let f = filter(&name, args);
            match compile_filter(&f) {
                Ok(_) => prop_assert!(FILTER_NAMES.contains(&name.as_str())),
                Err(d) => {
                    prop_assert!(d.span.start >= 10 && d.span.end <= f.span().end);
                    prop_assert!(d.help.is_some());
                    if !FILTER_NAMES.contains(&name.as_str()) {
                        prop_assert_eq!(d.code, "campaign::filter::unknown");
                    }
                }
            }
        }

        #[test]
        fn date_format_check_never_panics(format in any::<String>()) {
            let _ = compile("date", vec![FilterArg::Str(format.into())]);
        }
    }
}
