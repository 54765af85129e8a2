//! Rendering a diagnostic anywhere in any file: no panic, a few KiB at
//! most, the file's own line and column in the header, nothing a terminal
//! would act on; and the real binary on the files that used to break it.
//!
//! Class: every span miette is asked to draw, whatever the line length,
//! column, characters around it or length of the span and of its texts.

mod support;

use campaign::diagnostics::{Diagnostic, Report, SourceFile};
use campaign::span::Span;
use miette::{GraphicalReportHandler, GraphicalTheme};
use proptest::prelude::*;
use support::{campaign_here as campaign, write};

/// What one rendered diagnostic may take.
const MAX_RENDERED: usize = 4096;

fn render(file: &SourceFile, d: &Diagnostic) -> String {
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    handler
        .render_report(&mut out, &Report::new(d.clone(), file))
        .expect("rendering to a String cannot fail");
    out
}

/// Characters a line of source may be made of: plain, wide, multi-byte,
/// tabs, line breaks, and what a terminal would act on.
fn piece() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => Just('a'),
        4 => Just(' '),
        2 => Just('é'),
        2 => Just('日'),
        1 => Just('😀'),
        1 => Just('\t'),
        1 => Just('\u{1b}'),
        1 => Just('\u{9b}'),
        1 => Just('\u{202e}'),
        1 => Just('\u{7f}'),
        1 => Just('\r'),
        1 => Just('\n'),
    ]
}

fn text_of(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..len).prop_map(|c| c.into_iter().collect())
}

/// The char boundary nearest below `at`.
fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Lines up to ~1,500,000 columns, spans anywhere (zero-width, on one
    /// line, over thousands of lines), messages of any length.
    #[test]
    fn any_span_on_any_line_renders_small(
        head in proptest::collection::vec(piece(), 0..200),
        unit in proptest::collection::vec(piece(), 1..24),
        repeat in 1usize..64_000,
        start in 0.0f64..=1.0,
        length in prop_oneof![Just(0usize), 0usize..40, 0usize..3_000_000],
        message in text_of(700),
        label in text_of(300),
        help in text_of(700),
    ) {
        let head: String = head.into_iter().collect();
        let unit: String = unit.into_iter().collect();
        let text = head + &unit.repeat(repeat);
        let start = boundary(&text, (text.len() as f64 * start) as usize);
        let end = boundary(&text, start.saturating_add(length));
        let file = SourceFile::new("dir/file.campaign", text.as_str());
        let d = Diagnostic::error("campaign::test::any", Span::new(start, end), message)
            .label(label)
            .help(help);
        let out = render(&file, &d);
        prop_assert!(out.len() < MAX_RENDERED, "{} bytes:\n{out}", out.len());
        prop_assert!(
            !out.chars().any(|c| c != '\n' && campaign::terminal::is_unsafe(c)),
            "a character a terminal acts on: {out:?}"
        );
        let (line, column) = file.line_col(start as u32);
        let header = format!("[dir/file.campaign:{line}:{column}]");
        prop_assert!(out.contains(&header), "no {header} in:\n{out}");
    }
}

/// Over a short file, the header's line and column are the ones
/// `--format json` gives, counted in characters.
#[test]
fn header_counts_characters_like_json() {
    let text = "campaign \"é日\" {\n    note \"日本語 [A | uper]\"\n}\n";
    let file = SourceFile::new("x.campaign", text);
    let at = text.find("uper").unwrap();
    let d = Diagnostic::error("campaign::filter::unknown", Span::new(at, at + 4), "m");
    assert_eq!(file.line_col(at as u32), (2, 20));
    assert!(render(&file, &d).contains("[x.campaign:2:20]"));
}

/// A span cut after a few lines says where it ends.
#[test]
fn a_long_span_says_where_it_ends() {
    let text = "a\n".repeat(50);
    let file = SourceFile::new("x.campaign", text.as_str());
    let d = Diagnostic::error("campaign::test::long", Span::new(2, 80), "m").label("here");
    let out = render(&file, &d);
    assert!(out.contains("here (to line 40)"), "{out}");
    assert!(out.lines().count() < 14, "{out}");
}

/// Long lines are cut around the span, rustc-style, with `...` on the
/// sides that were left out, and the span still points at its text:
/// long in characters, or only in bytes.
#[test]
fn a_long_line_is_cut_around_the_span() {
    for (filler, count) in [("x", 5000), ("y", 5000), ("é", 100), ("😀", 90)] {
        let text = format!("{}[A | uper]{}", filler.repeat(count), filler.repeat(count));
        let at = text.find("uper").unwrap();
        let file = SourceFile::new("x.campaign", text.as_str());
        let d = Diagnostic::error("campaign::filter::unknown", Span::new(at, at + 4), "m")
            .label("not a filter");
        let out = render(&file, &d);
        let line = out.lines().find(|l| l.contains("[A | uper]")).expect(&out);
        assert!(line.contains(&format!(" ...{filler}")), "{out}");
        assert!(line.ends_with(&format!("{filler}...")), "{out}");
        let under = out.lines().find(|l| l.contains('┬')).unwrap();
        // Display columns: an emoji takes two.
        let column = |l: &str, s: &str| {
            l[..l.find(s).unwrap()]
                .chars()
                .map(|c| if c == '😀' { 2 } else { 1 })
                .sum::<usize>()
        };
        assert_eq!(column(under, "┬"), column(line, "uper") + 2, "{out}");
        assert!(
            out.contains(&format!("[x.campaign:1:{}]", count + 6)),
            "{out}"
        );
    }
}

/// The reproduction: a valid 70 KB one-line file with one warning
/// past column 65,535, through `check`, `disasm` and `run --dry-run`.
#[test]
fn the_binary_renders_a_warning_past_column_65535() {
    let dir = tempfile::tempdir().unwrap();
    let pad = " ".repeat(70_000);
    let script = write(
        dir.path(),
        "long.campaign",
        format!("campaign \"X\" {{{pad}webhook \"W\" {{ url \"http://example.com/x\" }} }}"),
    );
    let contacts = write(dir.path(), "c.csv", "Contact ID\n1\n");
    let script = script.to_str().unwrap();
    for args in [
        vec!["check", script],
        vec!["disasm", script],
        vec![
            "run",
            script,
            "--contacts",
            contacts.to_str().unwrap(),
            "--dry-run",
        ],
    ] {
        let o = campaign(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        if args[0] != "run" {
            // `run` does not print warnings; the others show this one, cut.
            assert!(err.contains("campaign::url::insecure"), "{err}");
            assert!(err.contains(":1:70034]"), "{err}");
            assert!(err.len() < MAX_RENDERED, "{} bytes", err.len());
        }
    }
}

/// 3,000 errors on one 54 KB line printed 126 MB: now the first 200, a
/// few KiB each, then a count; the exit status and summary still count all.
#[test]
fn many_errors_on_one_line_are_capped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let notes = "note \"[A | uper]\" ".repeat(3000);
    let script = write(
        dir.path(),
        "many.campaign",
        format!("campaign \"X\" {{ {notes}}}"),
    );
    let o = campaign(&["check", script.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(err.matches("campaign::filter::unknown").count(), 200);
    assert!(
        err.contains("note: 2800 more diagnostics not shown"),
        "{err}"
    );
    assert!(
        err.ends_with("checked 1 file: 3000 errors, 0 warnings\n"),
        "{err}"
    );
    assert!(err.len() < 200 * 1024, "{} bytes", err.len());

    // JSON lists every one, written as one pretty-printed array.
    let o = campaign(&["check", script.to_str().unwrap(), "--format", "json"]);
    let out = String::from_utf8(o.stdout).unwrap();
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3000);
    assert_eq!(out, serde_json::to_string_pretty(&all).unwrap() + "\n");
    assert_eq!(all[2999]["column"], 15 + 18 * 2999 + 12);
    assert_eq!(o.status.code(), Some(1));
}

/// At every offset of small files with CRLF, lone CR, tabs, wide and
/// multi-byte characters, for empty, short and line-crossing spans, the
/// header says what `SourceFile::line_col` (and so JSON) says.
#[test]
fn header_matches_line_col_at_every_offset() {
    for unit in [
        "😀a \u{1b}   éé\r\n",
        "ab\r\n",
        "a\rb\n",
        "\r\n",
        "\t\t\n",
        "\n",
        "日",
    ] {
        let text = unit.repeat(5);
        let file = SourceFile::new("x", text.as_str());
        for (start, _) in text.char_indices().chain([(text.len(), ' ')]) {
            for end in [
                start,
                (start + 1).min(text.len()),
                (start + 7).min(text.len()),
            ] {
                let end = boundary(&text, end);
                let d = Diagnostic::error("campaign::x::y", Span::new(start, end), "m");
                let out = render(&file, &d);
                let (l, c) = file.line_col(start as u32);
                assert!(
                    out.contains(&format!("[x:{l}:{c}]")),
                    "{unit:?} {start}..{end}\n{out}"
                );
            }
        }
    }
}
