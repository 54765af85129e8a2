//! VM behaviour, snapshotted over fixtures in tests/run/: each file is a JSON
//! array of contacts, a `---` line, then a campaign. The snapshot is the dry
//! run's NDJSON with the clock at 2026-11-27T09:00:00Z.

use campaign::contacts::ContactsFormat;
use campaign::diagnostics::SourceFile;
use campaign::run::dry_run::{DryRun, OutputFormat};

const NOW: i64 = 1_795_770_000;

fn run_fixture(text: &str) -> (String, u64) {
    let (contacts, source) = text.split_once("\n---\n").expect("fixture has a --- line");
    let compiled = campaign::compile(source, None).unwrap_or_else(|d| panic!("{d:#?}"));
    let source = SourceFile::new("fixture.campaign", source);
    let mut out = Vec::new();
    let summary = DryRun::new(&compiled.program, &source, OutputFormat::Ndjson, NOW)
        .run(contacts.as_bytes(), ContactsFormat::Json, &mut out)
        .unwrap();
    (String::from_utf8(out).unwrap(), summary.failed)
}

#[test]
fn run_fixtures() {
    insta::glob!("run/*.txt", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let (out, failed) = run_fixture(&text);
        let errors = out
            .lines()
            .filter(|l| l.contains("\"action\":\"error\""))
            .count() as u64;
        assert_eq!(errors, failed, "every failed contact has one error effect");
        insta::with_settings!({ description => text.clone(), omit_expression => true }, {
            insta::assert_snapshot!(out);
        });
    });
}

fn effects(text: &str) -> Vec<serde_json::Value> {
    run_fixture(text)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn split_sends_about_the_given_share_and_always_the_same_way() {
    let contacts: Vec<String> = (0..2000)
        .map(|i| format!("{{\"Contact ID\": \"c{i}\"}}"))
        .collect();
    let text = format!(
        "[{}]\n---\ncampaign \"S\" {{\n split 30% {{ tag add \"A\" }} else {{ tag add \"B\" }}\n}}\n",
        contacts.join(",")
    );
    let first = effects(&text);
    let a = first.iter().filter(|e| e["tag"] == "A").count();
    assert!((500..700).contains(&a), "30% of 2000 is about 600, got {a}");
    assert_eq!(
        first,
        effects(&text),
        "the same contacts take the same paths"
    );
}

#[test]
fn goal_met_on_entry_skips_every_step_before_it() {
    let out = effects(
        "[{\"Contact ID\": \"1\", \"Tags\": [\"Done\"]}]\n---\ncampaign \"G\" {\n webhook \"W\" { url \"https://x.example.com\" }\n goal \"G1\" when has tag \"Done\"\n note \"after\"\n}\n",
    );
    let actions: Vec<&str> = out.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["goal", "note"]);
}

#[test]
fn wait_advances_at_and_reports_seconds() {
    let out = effects("[{\"Contact ID\": \"1\"}]\n---\ncampaign \"W\" {\n wait 1.5 hours\n wait 500ms\n note \"x\"\n}\n");
    assert_eq!(out[0]["seconds"], 5400);
    assert_eq!(out[1]["at"], 5400);
    assert_eq!(out[1]["seconds"], 0.5);
    assert_eq!(out[2]["at"], 5400.5);
}
