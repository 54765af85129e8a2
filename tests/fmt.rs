//! `campaign fmt`'s promises, on every campaign we ship and on generated
//! ones: formatting twice is formatting once; the formatted file compiles to
//! the same program (the `disasm` listing, which has no spans or line
//! numbers) or fails with the same diagnostics; the comments are the same
//! multiset of texts; and the layout is clean (no trailing spaces, one
//! final line break). The messy fixtures in tests/fmt/ are snapshotted.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use campaign::fmt::format_source;
use campaign::syntax::parser::parse_lossless;
use campaign::syntax::tokens::{tokens, TokenKind};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use support::meaning;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The comment texts of a file that parses, counted, trailing whitespace
/// aside (the formatter trims it, as it trims every line).
fn comments(source: &str) -> BTreeMap<String, usize> {
    let (_, leaves) = parse_lossless(source).expect("parses");
    let mut out = BTreeMap::new();
    for t in tokens(source, &leaves).expect("tokens") {
        if t.kind == TokenKind::Comment {
            *out.entry(t.text(source).trim_end().to_string())
                .or_insert(0) += 1;
        }
    }
    out
}

/// The three properties and the clean layout, for a source that parses.
fn holds(source: &str, what: &str) -> Result<String, String> {
    let once = format_source(source).map_err(|d| format!("{what}: not formatted: {d:#?}"))?;
    let twice = format_source(&once)
        .map_err(|d| format!("{what}: output does not parse: {d:#?}\n{once}"))?;
    if twice != once {
        return Err(format!(
            "{what}: formatting twice differs:\n--- once\n{once}\n--- twice\n{twice}"
        ));
    }
    if meaning(source) != meaning(&once) {
        return Err(format!(
            "{what}: the meaning changed:\n{}\n--- formatted\n{once}\n{}",
            meaning(source),
            meaning(&once)
        ));
    }
    if comments(source) != comments(&once) {
        return Err(format!(
            "{what}: the comments changed: {:?} vs {:?}\n{once}",
            comments(source),
            comments(&once)
        ));
    }
    // Independently of the token view: strings are kept byte for byte and
    // comments whole, so every `//` is still there.
    if source.matches("//").count() != once.matches("//").count() {
        return Err(format!("{what}: the number of `//` changed\n{once}"));
    }
    if let Some(line) = once.lines().find(|l| l.ends_with(' ') || l.ends_with('\t')) {
        return Err(format!("{what}: trailing whitespace in {line:?}"));
    }
    if !once.ends_with('\n') || once.ends_with("\n\n") {
        return Err(format!("{what}: not one final line break"));
    }
    if once.contains("\n\n\n") {
        return Err(format!("{what}: two blank lines in a row"));
    }
    Ok(once)
}

fn campaigns_in(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "campaign") {
            out.push(path);
        }
    }
}

/// Every example, fixture, seed and benchmark campaign in the repository.
fn corpus() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for dir in [
        "examples",
        "tests/diagnostics",
        "tests/fmt",
        "fuzz/seeds",
        "fuzz/fixtures",
        "benches",
        "src/cli/starter",
    ] {
        campaigns_in(&root().join(dir), &mut paths);
    }
    paths.sort();
    paths
}

#[test]
fn the_corpus_keeps_its_meaning_and_comments_and_is_stable() {
    let mut formatted = 0;
    for path in corpus() {
        let source = std::fs::read_to_string(&path).unwrap();
        let what = path.strip_prefix(root()).unwrap().display().to_string();
        match format_source(&source) {
            Ok(_) => {
                holds(&source, &what).unwrap_or_else(|e| panic!("{e}"));
                formatted += 1;
            }
            Err(diagnostics) => {
                // Refused only for syntax errors, reported as `check` does.
                let check = campaign::diagnose(&source, None);
                for d in &diagnostics {
                    assert!(
                        check.iter().any(|c| c.code == d.code && c.span == d.span),
                        "{what}: {d:?} is not among check's {check:?}"
                    );
                }
                assert!(!diagnostics.is_empty(), "{what}");
            }
        }
    }
    assert!(formatted >= 15, "only {formatted} files formatted");
}

/// Every file in the fuzz seeds folders that is a campaign, whatever its
/// name.
#[test]
fn fuzz_seeds_hold_too() {
    let mut seen = 0;
    for dir in ["fuzz/seeds", "fuzz/seeds-vm", "fuzz/seeds-url"] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let Ok(source) = std::fs::read_to_string(&path) else {
                continue;
            };
            if format_source(&source).is_ok() {
                holds(&source, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
    }
    assert!(seen >= 3, "only {seen} seeds parse");
}

#[test]
fn messy_fixtures() {
    insta::glob!("fmt/*.campaign", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let formatted =
            holds(&source, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        insta::with_settings!({ description => source.as_str(), omit_expression => true }, {
            insta::assert_snapshot!(formatted);
        });
    });
}

#[test]
fn a_formatted_file_is_left_alone() {
    let source = "campaign \"a\" {\n    stop\n}\n";
    assert_eq!(format_source(source).unwrap(), source);
    assert!(campaign::fmt::is_formatted(source).unwrap());
}

#[test]
fn syntax_errors_are_not_formatted() {
    let source = "campaign \"a\" {\n    wait 2 dayz\n}\n";
    let errors = format_source(source).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, "campaign::syntax::unit");
    let source = "campaign \"a\" {\n    stop\n";
    assert!(format_source(source).is_err());
}

/// The canonical spellings, one rule each (docs/fmt.md).
#[test]
fn canonical_spellings() {
    let cases = [
        // Durations: the unit spelt out, singular for exactly 1.
        ("wait 5s", "wait 5 seconds"),
        ("wait 1 days", "wait 1 day"),
        ("wait 1.5h", "wait 1.5 hours"),
        ("wait 500 ms", "wait 500 milliseconds"),
        ("wait 2\tw", "wait 2 weeks"),
        ("wait 90 minute", "wait 90 minutes"),
        // A date is not a duration.
        (
            "wait until 2026-12-01T09:00:00Z",
            "wait until 2026-12-01T09:00:00Z",
        ),
        // Merges outside strings are spaced; strings are kept as written.
        ("field set [A]=[ B|upper ]", "field set [A] = [B | upper]"),
        (
            "note \"[ B|upper ] \\u{41} tags[]\"",
            "note \"[ B|upper ] \\u{41} tags[]\"",
        ),
        (
            "field set [A] = [B|replace:'a' , 'b']",
            "field set [A] = [B | replace: 'a', 'b']",
        ),
        (
            "if not([A]==1){stop}",
            "if not ([A] == 1) {\n        stop\n    }",
        ),
        (
            "split 5%{}else{stop}",
            "split 5% {} else {\n        stop\n    }",
        ),
    ];
    for (step, expected) in cases {
        let source = format!("campaign \"a\" {{\n{step}\n}}\n");
        let formatted = format_source(&source).unwrap_or_else(|d| panic!("{step}: {d:?}"));
        assert_eq!(
            formatted,
            format!("campaign \"a\" {{\n    {expected}\n}}\n"),
            "{step}"
        );
        holds(&source, step).unwrap_or_else(|e| panic!("{e}"));
    }
    let webhook = "campaign \"a\" {\n webhook \"w\" { method patch url \"https://x.example\" rate 600 / minute timeout 2.5 s }\n}\n";
    assert_eq!(
        format_source(webhook).unwrap(),
        "campaign \"a\" {\n    webhook \"w\" {\n        method PATCH\n        url \"https://x.example\"\n        rate 600/minute\n        timeout 2.5 seconds\n    }\n}\n"
    );
}

#[test]
fn a_byte_order_mark_and_crlf_line_ends_go() {
    let source = "\u{FEFF}campaign \"a\" {\r\n  stop\r\n}\r\n";
    assert_eq!(
        format_source(source).unwrap(),
        "campaign \"a\" {\n    stop\n}\n"
    );
}

/// A file large enough to be parsed in stretches on several threads gives
/// the tokens of each stretch in order: the output is the small file's,
/// repeated.
#[test]
fn a_large_file_parsed_in_parallel_formats_as_its_parts() {
    let step = "  // about the hook\n  webhook \"W\" { url \"https://a.example/[Id]\" post \"a=[B|upper]\" } // end\n\n";
    let formatted_step = "    // about the hook\n    webhook \"W\" {\n        url \"https://a.example/[Id]\"\n        post \"a=[B|upper]\"\n    } // end\n";
    let n = 6000;
    let source = format!("campaign \"a\" {{\n{}}}\n", step.repeat(n));
    assert!(source.len() > 256 * 1024);
    let expected = format!(
        "campaign \"a\" {{\n{}}}\n",
        vec![formatted_step; n].join("\n")
    );
    assert_eq!(format_source(&source).unwrap(), expected);
}

// --- generated campaigns ---------------------------------------------------

/// A piece of a generated campaign: tokens joined by separators, or text
/// that must stay together (a duration, a percentage).
#[derive(Debug, Clone)]
enum Piece {
    Tok(String),
}

fn tok(s: impl Into<String>) -> Piece {
    Piece::Tok(s.into())
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"Hello [First Name]\"".to_string()),
        Just("\"https://example.com//x?e=[Email | url]\"".to_string()),
        Just("\"say \\\"hi\\\" // not a comment\"".to_string()),
        Just("\"tags[]=a&b=[ Lead Score|number ]\"".to_string()),
        Just("\"\\u{E9}t\\u{E9}\"".to_string()),
        "[a-z]{1,6}".prop_map(|s| format!("\"{s}\"")),
    ]
}

/// A string without merges: names of webhooks, goals and headers.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"Say \\\"hi\\\" // here\"".to_string()),
        Just("\"X-Key\"".to_string()),
        "[a-z]{1,6}".prop_map(|s| format!("\"{s}\"")),
    ]
}

fn merge() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[Email]".to_string()),
        Just("[ Lead Score|number ]".to_string()),
        Just("[First Name | default: 'a // b']".to_string()),
        Just("[Phone|replace:'-',''|truncate:3]".to_string()),
        "[A-Z][a-z]{0,5}".prop_map(|s| format!("[{s}]")),
    ]
}

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        merge(),
        string(),
        Just("3".to_string()),
        Just("-2.5".to_string()),
        Just("true".to_string()),
    ]
}

fn cond() -> impl Strategy<Value = Vec<Piece>> {
    let leaf = prop_oneof![
        (
            merge(),
            prop_oneof![Just("=="), Just("!="), Just(">="), Just("contains")],
            operand()
        )
            .prop_map(|(a, op, b)| vec![tok(a), tok(op), tok(b)]),
        merge().prop_map(|m| vec![tok(m), tok("is"), tok("not"), tok("empty")]),
        string().prop_map(|s| vec![tok("has"), tok("tag"), tok(s)]),
        merge().prop_map(|m| vec![tok(m)]),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop_oneof![Just("and"), Just("or")],
                inner.clone()
            )
                .prop_map(|(a, op, b)| {
                    let mut v = a;
                    v.push(tok(op));
                    v.extend(b);
                    v
                }),
            inner.clone().prop_map(|c| {
                let mut v = vec![tok("not"), tok("(")];
                v.extend(c);
                v.push(tok(")"));
                v
            }),
            inner.prop_map(|c| {
                let mut v = vec![tok("(")];
                v.extend(c);
                v.push(tok(")"));
                v
            }),
        ]
    })
}

fn duration() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("1"), Just("2"), Just("1.5"), Just("30")],
        prop_oneof![
            Just("s"),
            Just("ms"),
            Just(" days"),
            Just(" hour"),
            Just("\tw"),
            Just("minutes")
        ],
    )
        .prop_map(|(n, u)| format!("{n}{u}"))
}

fn json() -> impl Strategy<Value = Vec<Piece>> {
    let leaf = prop_oneof![
        string().prop_map(|s| vec![tok(s)]),
        merge().prop_map(|m| vec![tok(m)]),
        Just(vec![tok("-1.5e3")]),
        Just(vec![tok("null")]),
        Just(vec![tok("true")]),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            (
                proptest::collection::vec(inner.clone(), 0..4),
                any::<bool>()
            )
                .prop_map(|(items, trailing)| {
                    let mut v = vec![tok("[")];
                    let n = items.len();
                    for (i, item) in items.into_iter().enumerate() {
                        v.extend(item);
                        if i + 1 < n || trailing {
                            v.push(tok(","));
                        }
                    }
                    v.push(tok("]"));
                    v
                }),
            (proptest::collection::vec(inner, 0..4), any::<bool>()).prop_map(
                |(items, trailing)| {
                    let mut v = vec![tok("{")];
                    let n = items.len();
                    for (i, item) in items.into_iter().enumerate() {
                        v.push(tok(format!("\"k{i}\"")));
                        v.push(tok(":"));
                        v.extend(item);
                        if i + 1 < n || (trailing && n > 0) {
                            v.push(tok(","));
                        }
                    }
                    v.push(tok("}"));
                    v
                }
            ),
        ]
    })
}

fn setting() -> impl Strategy<Value = Vec<Piece>> {
    prop_oneof![
        prop_oneof![Just("post"), Just("PUT"), Just("Get")]
            .prop_map(|m| vec![tok("method"), tok(m)]),
        string().prop_map(|s| vec![tok("url"), tok(s)]),
        (name(), string()).prop_map(|(n, v)| vec![
            tok("header"),
            tok(n),
            tok("="),
            tok(v),
            tok("+"),
            tok("secret"),
            tok("("),
            tok("\"KEY\""),
            tok(")")
        ]),
        string().prop_map(|s| vec![tok("post"), tok(s)]),
        json().prop_map(|j| {
            let mut v = vec![tok("json"), tok("{"), tok("\"body\""), tok(":")];
            v.extend(j);
            v.push(tok("}"));
            v
        }),
        duration().prop_map(|d| vec![tok("timeout"), tok(d)]),
        Just(vec![tok("retry"), tok("3")]),
        Just(vec![tok("rate"), tok("10"), tok("/"), tok("s")]),
        Just(vec![tok("on"), tok("failure"), tok("continue")]),
        merge().prop_map(|m| vec![
            tok("capture"),
            tok(m),
            tok("="),
            tok("json"),
            tok("\"/id\"")
        ]),
    ]
}

fn step() -> impl Strategy<Value = Vec<Piece>> {
    let leaf = prop_oneof![
        (prop_oneof![Just("add"), Just("remove")], string()).prop_map(|(op, s)| vec![
            tok("tag"),
            tok(op),
            tok(s)
        ]),
        string().prop_map(|s| vec![tok("note"), tok(s)]),
        ("[A-Z][a-z]{0,5}".prop_map(|s| format!("[{s}]")), operand()).prop_map(|(m, o)| vec![
            tok("field"),
            tok("set"),
            tok(m),
            tok("="),
            tok(o)
        ]),
        duration().prop_map(|d| vec![tok("wait"), tok(d)]),
        merge().prop_map(|m| vec![tok("wait"), tok("until"), tok(m)]),
        Just(vec![tok("stop")]),
        (name(), cond()).prop_map(|(s, c)| {
            let mut v = vec![tok("goal"), tok(s), tok("when")];
            v.extend(c);
            v
        }),
        (name(), proptest::collection::vec(setting(), 0..5)).prop_map(|(name, settings)| {
            let mut v = vec![tok("webhook"), tok(name), tok("{")];
            for s in settings {
                v.extend(s);
            }
            v.push(tok("}"));
            v
        }),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let block = proptest::collection::vec(inner, 0..4).prop_map(|steps| {
            let mut v = vec![tok("{")];
            for s in steps {
                v.extend(s);
            }
            v.push(tok("}"));
            v
        });
        prop_oneof![
            (
                cond(),
                block.clone(),
                proptest::collection::vec((cond(), block.clone()), 0..2),
                proptest::option::of(block.clone())
            )
                .prop_map(|(c, b, elifs, otherwise)| {
                    let mut v = vec![tok("if")];
                    v.extend(c);
                    v.extend(b);
                    for (c, b) in elifs {
                        v.push(tok("else"));
                        v.push(tok("if"));
                        v.extend(c);
                        v.extend(b);
                    }
                    if let Some(b) = otherwise {
                        v.push(tok("else"));
                        v.extend(b);
                    }
                    v
                }),
            (block.clone(), block).prop_map(|(a, b)| {
                let mut v = vec![tok("split"), tok("30%")];
                v.extend(a);
                v.push(tok("else"));
                v.extend(b);
                v
            }),
        ]
    })
}

fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(" ".to_string()),
        2 => Just("\n".to_string()),
        1 => Just("\t ".to_string()),
        1 => Just("\n\n\n".to_string()),
        1 => Just("  // line end { \"x\" [y]\n".to_string()),
        1 => Just("\n  // own line\n".to_string()),
        1 => Just("\n\n// after a blank line\n\n".to_string()),
        1 => Just(" //\r\n".to_string()),
    ]
}

fn generated() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(step(), 0..6),
        prop_oneof![
            Just(vec![]),
            Just(vec![tok("trigger"), tok("contact_added")]),
            Just(vec![tok("trigger"), tok("tag_added"), tok("\"T\"")])
        ],
        proptest::collection::vec(separator(), 200),
    )
        .prop_map(|(steps, trigger, seps)| {
            let mut pieces = vec![tok("campaign"), tok("\"Generated\""), tok("{")];
            pieces.extend(trigger);
            for s in steps {
                pieces.extend(s);
            }
            pieces.push(tok("}"));
            let mut text = String::from("// generated\n");
            for (i, Piece::Tok(t)) in pieces.into_iter().enumerate() {
                text.push_str(&t);
                text.push_str(&seps[i % seps.len()]);
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Generated campaigns, with comments, blank lines, tabs and CRLF
    /// comment ends sprinkled between their tokens.
    #[test]
    fn generated_campaigns_hold(source in generated()) {
        prop_assume!(parse_lossless(&source).is_ok());
        if let Err(e) = holds(&source, "generated") {
            prop_assert!(false, "{}\n--- source\n{}", e, source);
        }
    }
}

#[test]
fn generated_campaigns_mostly_parse() {
    // The property above skips what does not parse: most must.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = generated();
    let mut parsed = 0;
    for _ in 0..100 {
        let source = strategy.new_tree(&mut runner).unwrap().current();
        parsed += usize::from(parse_lossless(&source).is_ok());
    }
    assert!(
        parsed >= 80,
        "only {parsed} of 100 generated campaigns parse"
    );
}

// --- the command -----------------------------------------------------------

const MESSY: &str = "campaign \"M\" {\n  stop // done\n}\n";
const TIDY: &str = "campaign \"T\" {\n    stop\n}\n";
const BROKEN: &str = "campaign \"B\" {\n    wait 2 dayz\n}\n";

fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    support::campaign(dir, args)
}

#[test]
fn fmt_rewrites_only_the_files_that_change() {
    let dir = tempfile::tempdir().unwrap();
    let messy = support::write(dir.path(), "messy.campaign", MESSY);
    let tidy = support::write(dir.path(), "tidy.campaign", TIDY);
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    std::fs::File::options()
        .write(true)
        .open(&tidy)
        .unwrap()
        .set_modified(old)
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&messy, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let o = run_in(dir.path(), &["fmt", "messy.campaign", "tidy.campaign"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::stderr(&o));
    assert_eq!(support::stdout(&o), "");
    assert_eq!(support::stderr(&o), "formatted 2 files: 1 file changed\n");
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "campaign \"M\" {\n    stop // done\n}\n"
    );
    assert_eq!(std::fs::read_to_string(&tidy).unwrap(), TIDY);
    // Not written at all: its time is the one set above.
    assert_eq!(std::fs::metadata(&tidy).unwrap().modified().unwrap(), old);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&messy).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o640,
            "the rewritten file keeps its permissions"
        );
    }
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn fmt_check_lists_what_would_change_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    support::write(dir.path(), "messy.campaign", MESSY);
    support::write(dir.path(), "tidy.campaign", TIDY);
    let o = run_in(
        dir.path(),
        &["fmt", "--check", "tidy.campaign", "messy.campaign"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(support::stdout(&o), "messy.campaign\n");
    assert_eq!(
        support::stderr(&o),
        "checked 2 files: 1 file would be reformatted\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("messy.campaign")).unwrap(),
        MESSY
    );
    let o = run_in(dir.path(), &["fmt", "--check", "-q", "tidy.campaign"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(support::stdout(&o), "");
    assert_eq!(support::stderr(&o), "");

    let o = run_in(
        dir.path(),
        &[
            "fmt",
            "--check",
            "--diff",
            "messy.campaign",
            "tidy.campaign",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        support::stdout(&o),
        "--- a/messy.campaign\n+++ b/messy.campaign\n@@ -1,3 +1,3 @@\n campaign \"M\" {\n-  stop // done\n+    stop // done\n }\n"
    );
    // --diff only with --check.
    let o = run_in(dir.path(), &["fmt", "--diff", "messy.campaign"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn fmt_stdin_to_stdout_for_editors() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = support::command(dir.path(), &["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MESSY.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        support::stdout(&o),
        "campaign \"M\" {\n    stop // done\n}\n"
    );
    assert_eq!(support::stderr(&o), "");
}

#[test]
fn fmt_prints_syntax_errors_as_check_does_and_leaves_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let broken = support::write(dir.path(), "broken.campaign", BROKEN);
    support::write(dir.path(), "messy.campaign", MESSY);
    let o = run_in(
        dir.path(),
        &["-q", "fmt", "broken.campaign", "messy.campaign"],
    );
    assert_eq!(o.status.code(), Some(1));
    let check = run_in(dir.path(), &["-q", "check", "broken.campaign"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(support::stderr(&o).contains("campaign::syntax::unit"));
    assert_eq!(support::stderr(&o), support::stderr(&check));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), BROKEN);
    // The other file is still formatted.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("messy.campaign")).unwrap(),
        "campaign \"M\" {\n    stop // done\n}\n"
    );
}
