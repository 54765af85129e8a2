//! Runtime errors point at the step: every failure of a contact carries the
//! place in the script that failed (a merge, a `wait until`, a webhook
//! step), shown as `line`/`column` in NDJSON and `--out`, as
//! `file:line:col` in the timeline, and drawn with its source line once per
//! distinct failure (code and place), however many contacts meet it.

mod support;

use std::path::Path;
use std::process::Output;

use support::{command, write, Server};

/// 1-based line and column (characters) of the first `needle` in `source`,
/// counted here by hand.
fn place(source: &str, needle: &str) -> (u64, u64) {
    let at = source
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the script"));
    let before = &source[..at];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() as u64 + 1;
    (line, column)
}

/// Three failures in three places, then a webhook: `[A | number]` and
/// `[B | number]` fail with one code in two places, `wait until [D]` with
/// another. Non-ASCII text before them makes columns count characters.
fn script(url: &str) -> String {
    format!(
        "campaign \"Locations\" {{\n    note \"é: [A | number]\"\n    note \"ü: [B | number]\"\n    wait until [D]\n    webhook \"Hook\" {{\n        url \"{url}\"\n        post \"x=1\"\n    }}\n}}\n"
    )
}

/// Contacts 1, 2 fail at A; 3, 4 at B; 5 at D; 6 passes; 7 repeats 6's id.
const CONTACTS: &str =
    "Contact ID,A,B,D\n1,x,1,\n2,y,1,\n3,1,x,\n4,1,y,\n5,1,1,soon\n6,1,1,\n6,1,1,\n";

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

#[test]
fn dry_run_errors_carry_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let source = script("https://x.example.com/hook");
    write(dir.path(), "c.campaign", &source);
    write(dir.path(), "c.csv", CONTACTS);
    let a = place(&source, "[A | number]");
    let b = place(&source, "[B | number]");
    let d = place(&source, "wait until [D]");

    let o = run(
        dir.path(),
        &[
            "run",
            "c.campaign",
            "--contacts",
            "c.csv",
            "--dry-run",
            "--format",
            "ndjson",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let mut errors = Vec::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let effect: serde_json::Value = serde_json::from_str(line).unwrap();
        if effect["action"] == "error" {
            let at = effect["line"]
                .as_u64()
                .map(|l| (l, effect["column"].as_u64().unwrap()));
            errors.push((effect["contact"].as_str().unwrap().to_string(), at));
        }
    }
    let expected = [
        ("1", Some(a)),
        ("2", Some(a)),
        ("3", Some(b)),
        ("4", Some(b)),
        ("5", Some(d)),
        // A repeated id fails before any step: it has no place.
        ("6", None),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(c, at)| (c.to_string(), *at))
        .collect();
    assert_eq!(errors, expected);

    let o = run(
        dir.path(),
        &["run", "c.campaign", "--contacts", "c.csv", "--dry-run"],
    );
    assert_eq!(o.status.code(), Some(1));
    let timeline = String::from_utf8(o.stdout).unwrap();
    // Every error line says where; a record error has no place to say.
    for (line, at) in timeline
        .lines()
        .filter(|l| l.contains(" error: "))
        .zip(&expected)
    {
        match at.1 {
            Some((l, c)) => assert!(line.ends_with(&format!(" at c.campaign:{l}:{c}")), "{line}"),
            None => assert!(
                line.ends_with("[campaign::contacts::duplicate_id]"),
                "{line}"
            ),
        }
    }
    // Each of the three places is drawn once, at its first contact, with
    // its source line, and the failing text underlined.
    assert_eq!(timeline.matches("failed here").count(), 3, "{timeline}");
    for ((l, c), text) in [
        (a, "note \"é: [A | number]\""),
        (b, "note \"ü: [B | number]\""),
        (d, "wait until [D]"),
    ] {
        let header = format!("╭─[c.campaign:{l}:{c}]");
        assert_eq!(
            timeline.matches(&header).count(),
            1,
            "{header} in {timeline}"
        );
        assert!(
            timeline.contains(&format!("{l} │     {text}")),
            "{text} in {timeline}"
        );
    }
    let first_b = timeline.find("contact 3").unwrap();
    let second_b = timeline.find("contact 4").unwrap();
    let drawn_b = timeline
        .find(&format!("╭─[c.campaign:{}:{}]", b.0, b.1))
        .unwrap();
    assert!(
        first_b < drawn_b && drawn_b < second_b,
        "drawn at the first contact"
    );
}

#[test]
fn real_run_failures_carry_their_place_in_out_and_the_summary() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let source = script(&server.url("/status/400"));
    write(dir.path(), "c.campaign", &source);
    write(dir.path(), "c.csv", CONTACTS);
    let a = place(&source, "[A | number]");
    let b = place(&source, "[B | number]");
    let d = place(&source, "wait until [D]");
    let hook = place(&source, "webhook \"Hook\"");

    let o = run(
        dir.path(),
        &[
            "run",
            "c.campaign",
            "--contacts",
            "c.csv",
            "--out",
            "out.ndjson",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let out = std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap();
    let mut places = Vec::new();
    for line in out.lines() {
        let result: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(result["status"], "failed", "{line}");
        let at = result["line"]
            .as_u64()
            .map(|l| (l, result["column"].as_u64().unwrap()));
        assert_eq!(at.is_some(), result.get("column").is_some(), "{line}");
        places.push((result["contact"].as_str().unwrap().to_string(), at));
    }
    places.sort();
    let expected: Vec<_> = [
        ("1", Some(a)),
        ("2", Some(a)),
        ("3", Some(b)),
        ("4", Some(b)),
        ("5", Some(d)),
        // The webhook's 400 points at its step; the repeated id nowhere.
        ("6", Some(hook)),
        ("6", None),
    ]
    .iter()
    .map(|(c, at)| (c.to_string(), *at))
    .collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(places, expected);

    // The summary draws each of the four places once, with how many
    // contacts failed there, and the status error under the webhook.
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert_eq!(stderr.matches("failed here").count(), 4, "{stderr}");
    for (l, c) in [a, b, d, hook] {
        let header = format!("╭─[c.campaign:{l}:{c}]");
        assert_eq!(stderr.matches(&header).count(), 1, "{header} in {stderr}");
    }
    assert!(stderr.contains("campaign::deliver::status"), "{stderr}");
    assert!(
        stderr.contains("webhook \"Hook\": HTTP 400 Bad Request"),
        "{stderr}"
    );
    assert!(
        stderr.contains("first for contact 1; 1 other contact failed the same way"),
        "{stderr}"
    );
    assert!(stderr.contains("contacts: 0 done, 7 failed"), "{stderr}");
}
