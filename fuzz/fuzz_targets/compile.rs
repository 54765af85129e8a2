//! Arbitrary bytes through the whole pipeline, as the CLI drives it:
//! `diagnose` (with and without a schema), rendering every diagnostic with
//! miette exactly as `campaign check` does, and, when the source compiles,
//! the bytecode listing plus the VM over a few fixed contacts (directly, and
//! through the dry run in both output formats).
//!
//! Run: `cargo +nightly fuzz run compile fuzz/seeds` (from the repository
//! root; see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

use campaign::check::Schema;
use campaign::contacts::{Contact, ContactsFormat};
use campaign::diagnostics::{Diagnostic, Report, SourceFile};
use campaign::run::dry_run::{DryRun, OutputFormat};
use campaign::vm::{Event, Run, Secrets, Vm};

/// 2026-01-01T00:00:00Z, the virtual clock's start.
const NOW: i64 = 1_767_225_600;

/// Field values the fixed contacts cycle through: a number, a date, text
/// that needs every kind of escaping (and may not go in a header), empty.
const VALUES: &[&str] = &[
    "42",
    "2026-12-01",
    "José & Co <a+b@x.org> \"q\" \\ [x]\r\nX-Evil: 1\t\u{0}",
    "",
    " vip, new ,vip",
    "-3.5e2",
];

fn render(source: &SourceFile, diagnostics: &[Diagnostic]) {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for d in diagnostics {
        // Spans must lie inside the source: the CLI shows them.
        assert!(
            d.span.start <= d.span.end && (d.span.end as usize) <= source.text.len(),
            "span {:?} outside a {}-byte source: {d:?}",
            d.span,
            source.text.len()
        );
        let _ = source.line_col(d.span.start);
        let _ = source.line_col(d.span.end);
        let _ = handler.render_report(&mut out, &Report::new(d.clone(), source));
    }
}

fn contacts(fields: usize) -> Vec<Contact> {
    let mut all: Vec<Contact> = (0..VALUES.len())
        .map(|k| Contact {
            id: format!("c{k}"),
            row: k as u64 + 1,
            fields: (0..fields)
                .map(|i| Some(VALUES[(i + k) % VALUES.len()].to_string()))
                .collect(),
            tags: vec!["vip".into(), "new".into()],
        })
        .collect();
    all.push(Contact {
        id: "absent".into(),
        row: all.len() as u64 + 1,
        fields: vec![None; fields],
        tags: Vec::new(),
    });
    all
}

/// A CSV with a column per program field (and `Contact ID`, `Tags`).
fn csv(fields: &[String]) -> Vec<u8> {
    fn cell(out: &mut String, text: &str) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    }
    let mut out = String::from("Contact ID,Tags");
    for f in fields {
        out.push(',');
        cell(&mut out, f);
    }
    out.push('\n');
    for k in 0..VALUES.len() {
        out.push_str(&format!("c{k},\"vip,new\""));
        for i in 0..fields.len() {
            out.push(',');
            cell(&mut out, VALUES[(i + k) % VALUES.len()]);
        }
        out.push('\n');
    }
    out.push_str("short\n");
    out.into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = SourceFile::new("fuzz.campaign", text);

    let diagnostics = campaign::diagnose(text, None);
    render(&source, &diagnostics);
    let schema = Schema {
        fields: vec!["First Name".into(), "Email".into(), "Contact ID".into()],
        origin: "the schema".into(),
    };
    render(&source, &campaign::diagnose(text, Some(&schema)));

    let compiled = match campaign::compile(text, None) {
        Ok(c) => c,
        Err(d) => {
            assert!(
                d.iter().any(Diagnostic::is_error),
                "compile failed without an error: {d:?}"
            );
            return;
        }
    };
    assert!(
        !diagnostics.iter().any(Diagnostic::is_error),
        "diagnose reported errors but compile succeeded"
    );
    render(&source, &compiled.warnings);
    let program = &compiled.program;
    let _ = program.listing();

    // The VM directly, one contact after another on the same Vm and Run.
    let mut vm = Vm::new(program, Secrets::Masked);
    let mut run = Run::default();
    for contact in contacts(program.fields.len()) {
        run.restart(&contact, NOW);
        // Every event moves the program forward, so a run has at most
        // about one event per instruction.
        let mut events = 0usize;
        while !matches!(
            vm.next(&mut run),
            Event::Done | Event::Stop | Event::Error(_)
        ) {
            events += 1;
            assert!(
                events <= program.code.len() * 2 + 16,
                "contact {} never finishes",
                contact.id
            );
        }
    }
    // Real secret values too.
    let mut vm = Vm::new(
        program,
        Secrets::Values(
            program
                .secrets
                .iter()
                .map(|s| format!("{s}-value"))
                .collect::<Vec<_>>()
                .into(),
        ),
    );
    run.restart(&contacts(program.fields.len())[0], NOW);
    while !matches!(
        vm.next(&mut run),
        Event::Done | Event::Stop | Event::Error(_)
    ) {}

    // The dry run as the CLI drives it, over a CSV of the same contacts.
    let input = csv(&program.fields);
    for output in [OutputFormat::Ndjson, OutputFormat::Human] {
        let mut out = Vec::new();
        DryRun::new(program, &source, output, NOW)
            .run(&input[..], ContactsFormat::Csv, &mut out)
            .expect("the generated CSV reads");
        if output == OutputFormat::Ndjson {
            let text = std::str::from_utf8(&out).expect("UTF-8 output");
            for line in text.lines() {
                let value: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("bad NDJSON line ({e}): {line}"));
                assert!(value.is_object() && value["contact"].is_string(), "{line}");
            }
        }
    }
});
