//! Hostile and pathological inputs through the real binary: every case ends
//! with a diagnostic and exit status 1 (or 0 where the input is valid), never
//! a crash, a stack overflow or a hang.
//!
//! Each case writes its input into a temporary directory, runs
//! `campaign check` (or `campaign run --dry-run`) on it and asserts:
//! - the process exited normally (not killed by a signal such as SIGSEGV or
//!   SIGABRT from a stack overflow);
//! - stderr holds no Rust panic message;
//! - the exit status and the diagnostic code are the expected ones.
//!
//! Sizes follow the issue: 10,000-deep nestings, a 10 MB string, a
//! 50,000-term `and` chain. The whole file stays well under 20 s in a debug
//! build.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use support::{stderr, stdout, write};

/// Longest one run of the binary may take. Each takes well under 3 s in a
/// debug build on an idle 2-core machine; the margin is for a loaded one (the
/// tests run in parallel, maybe beside other builds). A hang or a quadratic
/// blow-up fails here instead of timing out CI.
const CASE_LIMIT: Duration = Duration::from_secs(60);

fn campaign(args: &[&str]) -> Output {
    let start = Instant::now();
    let out = support::campaign_here(args);
    let took = start.elapsed();
    assert!(took < CASE_LIMIT, "campaign {args:?} took {took:?}");
    out
}

/// Stderr, clipped for assertion messages (some inputs are megabytes).
fn shown(o: &Output) -> String {
    let text = stderr(o);
    if text.len() <= 4000 {
        return text;
    }
    let cut = (0..=4000)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}... ({} bytes)", &text[..cut], text.len())
}

/// The process ended on its own (no signal), without a panic.
fn assert_no_crash(o: &Output) {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            o.status.signal(),
            None,
            "killed by a signal (stack overflow or abort?); stderr:\n{}",
            shown(o)
        );
    }
    assert!(o.status.code().is_some(), "no exit code: {:?}", o.status);
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic:\n{}",
        shown(o)
    );
    assert!(
        !err.contains("has overflowed its stack"),
        "stack overflow:\n{}",
        shown(o)
    );
}

/// `campaign check FILE` fails with exit status 1 and reports `code`.
fn check_fails_with(file: &Path, code: &str) -> Output {
    let o = campaign(&["check", file.to_str().unwrap()]);
    assert_no_crash(&o);
    assert_eq!(o.status.code(), Some(1), "stderr:\n{}", shown(&o));
    assert!(
        stderr(&o).contains(code),
        "expected {code}; stderr:\n{}",
        shown(&o)
    );
    o
}

/// `campaign check FILE` passes.
fn check_passes(file: &Path) -> Output {
    let o = campaign(&["check", file.to_str().unwrap()]);
    assert_no_crash(&o);
    assert_eq!(o.status.code(), Some(0), "stderr:\n{}", shown(&o));
    assert!(stderr(&o).contains("0 errors"), "stderr:\n{}", shown(&o));
    o
}

/// `campaign run FILE --contacts CONTACTS --dry-run --format ndjson`.
fn dry_run(file: &Path, contacts: &Path) -> Output {
    let o = campaign(&[
        "run",
        file.to_str().unwrap(),
        "--contacts",
        contacts.to_str().unwrap(),
        "--dry-run",
        "--format",
        "ndjson",
        "--now",
        "2026-01-01T00:00:00Z",
    ]);
    assert_no_crash(&o);
    o
}

fn ndjson(o: &Output) -> Vec<serde_json::Value> {
    support::ndjson(&stdout(o))
}

const N: usize = 10_000;

fn nested_ifs(depth: usize, body: &str) -> String {
    let mut src = String::from("campaign \"Deep\" {\n");
    for i in 0..depth {
        src.push_str(&format!("if [Lead Score | number] > {i} {{\n"));
    }
    src.push_str(body);
    src.push('\n');
    src.push_str(&"}\n".repeat(depth));
    src.push_str("}\n");
    src
}

/// Checks `src`: refused as nested too deeply.
fn check_too_deep(src: String) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "deep.campaign", src);
    check_fails_with(&file, "campaign::syntax::too_deep")
}

#[test]
fn ten_thousand_nested_ifs_are_too_deep() {
    let o = check_too_deep(nested_ifs(N, "stop"));
    assert!(
        stderr(&o).contains("deeper than 64 levels"),
        "{}",
        shown(&o)
    );
}

#[test]
fn ten_thousand_nested_parentheses_are_too_deep() {
    check_too_deep(format!(
        "campaign \"Parens\" {{\n    if {}[Email] is empty{} {{ stop }}\n}}\n",
        "(".repeat(N),
        ")".repeat(N)
    ));
}

#[test]
fn ten_thousand_unclosed_parentheses_are_too_deep() {
    check_too_deep(format!("campaign \"Open\" {{\n    if {}\n", "(".repeat(N)));
}

#[test]
fn ten_thousand_nested_json_arrays_are_too_deep() {
    check_too_deep(format!(
        "campaign \"Json\" {{\n    webhook \"W\" {{\n        url \"https://app.example.com/x\"\n        json {{ \"a\": {}1{} }}\n    }}\n}}\n",
        "[".repeat(N),
        "]".repeat(N)
    ));
}

#[test]
fn ten_megabyte_unterminated_string_is_reported_at_its_quote() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = String::from("campaign \"Long\" {\n    note \"");
    src.push_str(&"x".repeat(10 * 1024 * 1024));
    src.push_str("\n}\n");
    let file = write(dir.path(), "unterminated.campaign", src);
    let o = check_fails_with(&file, "campaign::syntax::unterminated_string");
    // The report points at line 2, not somewhere in the 10 MB.
    assert!(
        stderr(&o).contains("unterminated.campaign:2:"),
        "{}",
        shown(&o)
    );
}

#[test]
fn invalid_utf8_is_reported_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = b"campaign \"Bytes\" {\n    note \"caf".to_vec();
    src.extend_from_slice(b"\xe9 \xff\xfe\xc3\"\n}\n");
    let file = write(dir.path(), "latin1.campaign", &src);
    let o = check_fails_with(&file, "campaign::source::invalid_utf8");
    assert!(stderr(&o).contains("(byte 32)"), "{}", shown(&o));
    // `run` and `disasm` refuse it the same way.
    let contacts = write(dir.path(), "c.csv", "Contact ID\n1\n");
    let o = dry_run(&file, &contacts);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("campaign::source::invalid_utf8"));
    assert!(stdout(&o).is_empty());
    let o = campaign(&["disasm", file.to_str().unwrap()]);
    assert_no_crash(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("campaign::source::invalid_utf8"));
}

#[test]
fn empty_and_blank_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("empty.campaign", ""),
        ("blank.campaign", " \n\t\r\n"),
        ("bom.campaign", "\u{feff}\n"),
    ] {
        let file = write(dir.path(), name, text);
        check_fails_with(&file, "campaign::syntax::empty");
    }
}

#[test]
fn binary_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    // 64 KiB of 0..=255 repeated: invalid UTF-8 at byte 128.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    let file = write(dir.path(), "bytes.bin", &bytes);
    let o = check_fails_with(&file, "campaign::source::invalid_utf8");
    assert!(stderr(&o).contains("(byte 128)"), "{}", shown(&o));

    // 64 KiB of NUL: valid UTF-8, but no campaign.
    let file = write(dir.path(), "nul.bin", vec![0u8; 64 * 1024]);
    let o = check_fails_with(&file, "campaign::syntax::unexpected");
    assert!(stderr(&o).contains("U+0000"), "{}", shown(&o));

    // The ASCII half only (valid UTF-8, every control character).
    let ascii: Vec<u8> = (0..=127u8).cycle().take(64 * 1024).collect();
    let file = write(dir.path(), "ascii.bin", &ascii);
    check_fails_with(&file, "campaign::syntax::");
}

#[test]
fn ten_thousand_nots_are_flat() {
    let dir = tempfile::tempdir().unwrap();
    // An even number of `not`s: the condition is `[Email] is empty` itself.
    let src = format!(
        "campaign \"Nots\" {{\n    if {}[Email] is empty {{ tag add \"no email\" }}\n}}\n",
        "not ".repeat(N)
    );
    let file = write(dir.path(), "nots.campaign", src);
    check_passes(&file);
    let contacts = write(
        dir.path(),
        "c.csv",
        "Contact ID,Email\n1,\n2,a@example.com\n",
    );
    let o = dry_run(&file, &contacts);
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));
    let effects = ndjson(&o);
    assert_eq!(effects.len(), 1, "{}", stdout(&o));
    assert_eq!(effects[0]["contact"], "1");
    assert_eq!(effects[0]["action"], "tag_add");

    // One more `not` flips it.
    let src = format!(
        "campaign \"Nots\" {{\n    if {}[Email] is empty {{ tag add \"has email\" }}\n}}\n",
        "not ".repeat(N + 1)
    );
    let file = write(dir.path(), "odd.campaign", src);
    let o = dry_run(&file, &contacts);
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));
    let effects = ndjson(&o);
    assert_eq!(effects.len(), 1, "{}", stdout(&o));
    assert_eq!(effects[0]["contact"], "2");
}

#[test]
fn fifty_thousand_term_and_chain_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let terms: Vec<String> = (0..50_000)
        .map(|i| format!("[Lead Score | number] > -{i}"))
        .collect();
    let src = format!(
        "campaign \"Ands\" {{\n    if {} {{\n        tag add \"all true\"\n    }}\n}}\n",
        terms.join(" and ")
    );
    let file = write(dir.path(), "ands.campaign", src);
    check_passes(&file);
    let contacts = write(dir.path(), "c.csv", "Contact ID,Lead Score\n1,5\n2,-7\n");
    let o = dry_run(&file, &contacts);
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));
    let effects = ndjson(&o);
    assert_eq!(effects.len(), 1, "{}", stdout(&o));
    assert_eq!(effects[0]["contact"], "1");
}

#[test]
fn sixty_three_nested_ifs_compile_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let src = nested_ifs(63, "note \"deep enough\"");
    let file = write(dir.path(), "ifs63.campaign", &src);
    check_passes(&file);
    let contacts = write(dir.path(), "c.csv", "Contact ID,Lead Score\n1,100\n2,10\n");
    let o = dry_run(&file, &contacts);
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));
    let effects = ndjson(&o);
    assert_eq!(effects.len(), 1, "{}", stdout(&o));
    assert_eq!(effects[0]["contact"], "1");
    assert_eq!(effects[0]["text"], "deep enough");
    let o = campaign(&["disasm", file.to_str().unwrap()]);
    assert_no_crash(&o);
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));

    // One level more (the campaign block is level 1) is refused.
    let file = write(dir.path(), "ifs64.campaign", nested_ifs(64, "stop"));
    check_fails_with(&file, "campaign::syntax::too_deep");
}

/// The deepest file the depth bound allows, in-process on a thread with
/// Rust's default 2 MiB stack (the test harness's own threads use the same):
/// every recursive stage (pest, AST building, checks, codegen) fits.
#[test]
fn deepest_allowed_nesting_fits_a_default_thread_stack() {
    let cases = [
        nested_ifs(63, "note \"x\""),
        format!(
            "campaign \"P\" {{\n    if {}[Email] is empty{} {{ stop }}\n}}\n",
            "(".repeat(62),
            ")".repeat(62)
        ),
        format!(
            "campaign \"P\" {{\n    if {}not [Email] is empty or has tag \"t\"{} {{ stop }}\n}}\n",
            "(not ".repeat(62),
            ")".repeat(62)
        ),
        format!(
            "campaign \"J\" {{\n    webhook \"W\" {{\n        url \"https://app.example.com/x\"\n        json {}[Email]{}\n    }}\n}}\n",
            "[".repeat(60),
            "]".repeat(60)
        ),
        format!(
            "campaign \"J\" {{\n    webhook \"W\" {{\n        url \"https://app.example.com/x\"\n        json {}1{}\n    }}\n}}\n",
            "{\"a\": ".repeat(61),
            "}".repeat(61)
        ),
    ];
    for src in cases {
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let d = campaign::diagnose(&src, None);
                assert!(
                    d.iter().all(|d| !d.is_error()),
                    "{d:?}\n{}",
                    &src[..src.len().min(300)]
                );
                let compiled = campaign::compile(&src, None).expect("compiles");
                let _ = compiled.program.listing();
            })
            .unwrap();
        handle.join().expect("no stack overflow or panic");
    }
}

/// A file large enough to be parsed and checked on several threads, made of
/// the deepest nesting allowed: the worker threads have stack enough too.
#[test]
fn a_large_file_of_deepest_nestings_checks_on_worker_threads() {
    let dir = tempfile::tempdir().unwrap();
    let nest = nested_ifs(63, "stop");
    let body = nest
        .strip_prefix("campaign \"Deep\" {\n")
        .and_then(|b| b.strip_suffix("}\n"))
        .unwrap();
    let src = format!("campaign \"Deep\" {{\n{}}}\n", body.repeat(300));
    assert!(src.len() > 512 * 1024, "{} bytes", src.len());
    let file = write(dir.path(), "deep-and-large.campaign", &src);
    check_passes(&file);
}

#[test]
fn long_words_get_suggestions_in_bounded_time() {
    // did-you-mean on a 200 KB word must not go quadratic (it is linear: 1 MB
    // takes under a second in release).
    let dir = tempfile::tempdir().unwrap();
    let word = "a".repeat(200_000);
    let cases = [
        (
            format!("campaign \"W\" {{\n    {word}\n}}\n"),
            "campaign::syntax::unknown_step",
        ),
        (
            format!("campaign \"W\" {{\n    wait 2 {word}\n}}\n"),
            "campaign::syntax::unit",
        ),
        (
            format!("campaign \"W\" {{\n    note \"[Email | {word}]\"\n}}\n"),
            "campaign::filter::unknown",
        ),
        (
            format!("campaign \"W\" {{\n    webhook \"W\" {{ {word} }}\n}}\n"),
            "campaign::syntax::unknown_setting",
        ),
    ];
    for (i, (src, code)) in cases.iter().enumerate() {
        let file = write(dir.path(), &format!("w{i}.campaign"), src);
        check_fails_with(&file, code);
    }
}

#[test]
fn hostile_contact_values_fail_only_their_contact() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "hostile.campaign",
        "campaign \"Hostile\" {\n    webhook \"Send\" {\n        url \"https://app.example.com/hook?id=[Contact ID]\"\n        header \"X-Name\" = \"[First Name]\"\n        post \"name=[First Name]&email=[Email]\"\n    }\n    note \"done [First Name]\"\n}\n",
    );
    check_passes(&file);
    let mut csv = b"Contact ID,First Name,Email\n".to_vec();
    csv.extend_from_slice(b"1,Ada,ada@example.org\n");
    csv.extend_from_slice(b"2,\"Evil\r\nX-Injected: 1\",evil@example.org\n");
    csv.extend_from_slice(b"3,\"Line\nBreak\",lb@example.org\n");
    csv.extend_from_slice(b"4,\"Nul\x00Byte\",nul@example.org\n");
    csv.extend_from_slice(b"5,Jos\xc3\xa9 & Co,jose+crm@example.es\n");
    csv.extend_from_slice(b"6,Bad,\xff\xfe@example.org\n");
    csv.extend_from_slice(b"7,\"Quote \"\"q\"\" \\ back\",q@example.org\n");
    csv.extend_from_slice(b"8,Ok\n");
    let contacts = write(dir.path(), "hostile.csv", &csv);
    let o = dry_run(&file, &contacts);
    assert_eq!(o.status.code(), Some(1), "{}", shown(&o));
    assert!(stderr(&o).contains("8 contacts, 4 failed"), "{}", shown(&o));
    let out = stdout(&o);
    assert!(!out.contains("X-Injected: 1\r"), "{out}");
    let effects = ndjson(&o);
    let by = |id: &str| -> Vec<&serde_json::Value> {
        effects.iter().filter(|e| e["contact"] == id).collect()
    };
    for id in ["2", "3", "4"] {
        let e = by(id);
        assert_eq!(e.len(), 1, "contact {id}: {e:?}");
        assert_eq!(e[0]["action"], "error");
        assert_eq!(e[0]["code"], "campaign::run::header_newline");
    }
    let bad = by("6");
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0]["code"], "campaign::contacts::invalid_record");
    // The others went on: webhook and note each.
    for id in ["1", "5", "7", "8"] {
        let e = by(id);
        assert_eq!(e.len(), 2, "contact {id}: {e:?}");
        assert_eq!(e[0]["action"], "webhook");
        assert_eq!(e[1]["action"], "note");
    }
    let jose = by("5");
    assert_eq!(jose[0]["headers"]["X-Name"], "José & Co");
    assert_eq!(
        jose[0]["body"],
        "name=Jos%C3%A9+%26+Co&email=jose%2Bcrm%40example.es"
    );
    let quote = by("7");
    assert_eq!(quote[0]["headers"]["X-Name"], "Quote \"q\" \\ back");
    // Every effect line is one line of JSON, whatever the values held.
    assert_eq!(out.lines().count(), effects.len());
}

#[test]
fn hostile_contacts_files_do_not_crash() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "c.campaign",
        "campaign \"C\" {\n    note \"hi [First Name]\"\n}\n",
    );
    let bytes: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    let huge_field = format!("Contact ID,First Name\n1,{}\n2,b\n", "x".repeat(5_000_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.csv", Vec::new()),
        ("binary.csv", bytes.clone()),
        ("nul.csv", vec![0u8; 64 * 1024]),
        ("binary.ndjson", bytes.clone()),
        ("binary.json", bytes),
        (
            "deep.json",
            format!("[{}", "[".repeat(100_000)).into_bytes(),
        ),
        (
            "deep.ndjson",
            format!(
                "{{\"a\": {}\n{{\"First Name\": \"ok\"}}\n",
                "[".repeat(100_000)
            )
            .into_bytes(),
        ),
        (
            "unclosed.csv",
            b"Contact ID,First Name\n1,\"never closed\n".to_vec(),
        ),
        ("huge.csv", huge_field.into_bytes()),
    ];
    for (name, data) in cases {
        let contacts = write(dir.path(), name, &data);
        let o = dry_run(&file, &contacts);
        let code = o.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "{name}: {code:?}\n{}",
            shown(&o)
        );
        assert!(
            stderr(&o).contains("dry run:") || stderr(&o).contains("error:"),
            "{name}: no report\n{}",
            shown(&o)
        );
    }
}
