//! Snapshots of `disasm` and of the dry run of every shipped example, over
//! examples/contacts.csv with a fixed clock.

use campaign::contacts::ContactsFormat;
use campaign::diagnostics::SourceFile;
use campaign::run::dry_run::{DryRun, OutputFormat};

/// 2026-11-27T09:00:00Z, so `wait until` output is stable.
const NOW: i64 = 1_795_770_000;

fn run(program: &campaign::compile::Program, source: &SourceFile, output: OutputFormat) -> String {
    let contacts = std::fs::File::open("examples/contacts.csv").unwrap();
    let mut out = Vec::new();
    DryRun::new(program, source, output, NOW)
        .run(contacts, ContactsFormat::Csv, &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn examples() {
    insta::glob!("../examples", "*.campaign", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let compiled =
            campaign::compile(&source, None).unwrap_or_else(|d| panic!("{path:?}: {d:#?}"));
        let program = &compiled.program;
        insta::assert_snapshot!("disasm", program.listing());
        let file = SourceFile::new(path.display().to_string(), source.as_str());
        let ndjson = run(program, &file, OutputFormat::Ndjson);
        for line in ndjson.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
            assert!(v["contact"].is_string() && v["action"].is_string());
        }
        insta::assert_snapshot!("dry_run_ndjson", ndjson);
        insta::assert_snapshot!("dry_run_human", run(program, &file, OutputFormat::Human));
    });
}
