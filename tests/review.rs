//! `campaign diff` and `campaign test` over fixture changes: each change is
//! reported as the right kind, for exactly the contacts it affects. Which
//! contacts those are is computed here a second way, independently: from
//! the two dry runs' NDJSON, compared line by line with the idempotency
//! keys set aside.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use support::{campaign, ndjson, stdout, write};

const NOW: &str = "2026-12-01T09:00:00Z";

/// `campaign diff` of the fixture's two campaigns over its contacts at
/// [`NOW`]; tests add their own flags.
const DIFF: [&str; 7] = [
    "diff",
    "old.campaign",
    "new.campaign",
    "-c",
    "contacts.csv",
    "--now",
    NOW,
];

const BASE: &str = r#"campaign "Review" {
    trigger contact_added
    webhook "Create" {
        url "https://crm.example.com/contacts"
        post "First_Name=[First Name]&Email=[Email]"
    }
    split 50% {
        tag add "A"
    } else {
        tag add "B"
    }
    if [Score | number] >= 50 {
        webhook "Hot" {
            url "https://crm.example.com/hot/[Contact ID]"
            json { "score": [Score | number], "name": "[First Name]" }
        }
    }
    wait 2 days
    goal "Bought" when has tag "Customer"
    note "done"
}
"#;

fn contacts(dir: &Path) {
    let mut csv = String::from("Contact ID,First Name,Email,Score,Tags\n");
    for i in 0..200 {
        let tags = if i % 7 == 0 { "Customer" } else { "" };
        let vip = if i % 5 == 0 { ",VIP" } else { "" };
        csv.push_str(&format!(
            "{i},Name {i},p{i}@example.com,{},\"{tags}{vip}\"\n",
            (i * 37) % 100
        ));
    }
    write(dir, "contacts.csv", csv);
}

/// Each contact's dry-run lines without `at` and idempotency keys.
fn effects_by_contact(dir: &Path, file: &str) -> BTreeMap<String, Vec<String>> {
    let o = campaign(
        dir,
        &[
            "run",
            file,
            "-c",
            "contacts.csv",
            "-n",
            "-f",
            "ndjson",
            "--now",
            NOW,
        ],
    );
    assert!(o.status.success(), "{}", support::stderr(&o));
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for mut e in ndjson(&stdout(&o)) {
        let id = e["contact"].as_str().unwrap().to_string();
        if let Some(h) = e.get_mut("headers").and_then(|h| h.as_object_mut()) {
            h.remove("Idempotency-Key");
        }
        e.as_object_mut().unwrap().remove("at");
        by.entry(id).or_default().push(e.to_string());
    }
    by
}

/// The contacts whose effects differ, computed from the two NDJSON outputs.
fn expected_changed(dir: &Path) -> BTreeSet<String> {
    let (a, b) = (
        effects_by_contact(dir, "old.campaign"),
        effects_by_contact(dir, "new.campaign"),
    );
    a.keys()
        .chain(b.keys())
        .filter(|id| a.get(*id) != b.get(*id))
        .cloned()
        .collect()
}

/// `campaign diff --format json`: exit status, the changed contacts, and
/// every change's group.
fn diff(dir: &Path) -> (i32, BTreeSet<String>, BTreeSet<String>) {
    let o = campaign(dir, &[&DIFF[..], &["--format", "json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let contacts = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["contact"].as_str().unwrap().to_string())
        .collect();
    let groups = v["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["change"].as_str().unwrap().to_string())
        .collect();
    (o.status.code().unwrap(), contacts, groups)
}

fn case(new: &str) -> (tempfile::TempDir, i32, BTreeSet<String>, BTreeSet<String>) {
    let dir = tempfile::tempdir().unwrap();
    contacts(dir.path());
    write(dir.path(), "old.campaign", BASE);
    write(dir.path(), "new.campaign", new);
    let (code, changed, groups) = diff(dir.path());
    let expected = expected_changed(dir.path());
    assert_eq!(
        changed, expected,
        "diff reports exactly the contacts whose effects differ"
    );
    (dir, code, changed, groups)
}

#[test]
fn a_renamed_post_label_is_a_field_removed_and_added_for_every_contact() {
    let (_d, code, changed, groups) = case(&BASE.replace("Email=[Email]", "Mail=[Email]"));
    assert_eq!(code, 1);
    // Everyone but the customers, whom the goal takes past the webhook at entry.
    assert_eq!(changed.len(), (0..200).filter(|i| i % 7 != 0).count());
    assert_eq!(
        groups,
        BTreeSet::from([
            "webhook \"Create\" body field \"Email\" removed".to_string(),
            "webhook \"Create\" body field \"Mail\" added".to_string(),
        ])
    );
}

#[test]
fn a_new_header_is_added_on_the_webhook_that_has_it() {
    let (_d, code, changed, groups) = case(&BASE.replace(
        "url \"https://crm.example.com/hot/[Contact ID]\"",
        "url \"https://crm.example.com/hot/[Contact ID]\"\n            header \"X-Source\" = \"campaign\"",
    ));
    assert_eq!(code, 1);
    // Only contacts who get the "Hot" webhook (score >= 50).
    assert!(!changed.is_empty() && changed.len() < 200);
    assert_eq!(
        groups,
        BTreeSet::from(["webhook \"Hot\" header \"X-Source\" added".to_string()])
    );
}

#[test]
fn a_removed_step_is_removed_for_the_contacts_who_reached_it() {
    let (_d, code, changed, groups) = case(&BASE.replace("    note \"done\"\n", ""));
    assert_eq!(code, 1);
    assert!(!changed.is_empty());
    assert_eq!(groups, BTreeSet::from(["note removed".to_string()]));
}

#[test]
fn a_split_percentage_change_moves_some_contacts_across() {
    let (_d, code, changed, groups) = case(&BASE.replace("split 50%", "split 80%"));
    assert_eq!(code, 1);
    // Only those who moved sides: B before, A now.
    assert!(
        !changed.is_empty() && changed.len() < 100,
        "{}",
        changed.len()
    );
    assert_eq!(
        groups,
        BTreeSet::from([
            "tag add \"A\" added".to_string(),
            "tag add \"B\" removed".to_string()
        ])
    );
}

#[test]
fn a_goal_condition_change_changes_who_reaches_it() {
    let (_d, code, changed, groups) =
        case(&BASE.replace("has tag \"Customer\"", "has tag \"VIP\""));
    assert_eq!(code, 1);
    assert!(!changed.is_empty() && changed.len() < 200);
    assert!(groups.contains("goal \"Bought\" added"), "{groups:?}");
    assert!(groups.contains("goal \"Bought\" removed"), "{groups:?}");
}

#[test]
fn identical_campaigns_print_one_line_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    contacts(dir.path());
    write(dir.path(), "old.campaign", BASE);
    // Another comment changes the idempotency keys only.
    write(dir.path(), "new.campaign", format!("// reviewed\n{BASE}"));
    let o = campaign(dir.path(), &DIFF);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "no differences in 200 contacts\n");
    // With --keys, the keys are differences.
    let o = campaign(dir.path(), &[&DIFF[..], &["--keys"]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("header \"Idempotency-Key\" changed"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn old_can_be_a_git_revision() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    contacts(dir.path());
    write(dir.path(), "review.campaign", BASE);
    git(&["add", "."]);
    git(&["commit", "-qm", "base"]);
    write(
        dir.path(),
        "review.campaign",
        BASE.replace("note \"done\"", "note \"finished\""),
    );
    let o = campaign(
        dir.path(),
        &[
            "diff",
            "HEAD:review.campaign",
            "review.campaign",
            "-c",
            "contacts.csv",
            "--now",
            NOW,
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", support::stderr(&o));
    assert!(
        stdout(&o).contains("~ note: \"[-done-]\" -> \"{+finished+}\""),
        "{}",
        stdout(&o)
    );
    let o = campaign(
        dir.path(),
        &[
            "diff",
            "HEAD:missing.campaign",
            "review.campaign",
            "-c",
            "contacts.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn campaign_test_checks_goldens_and_expectations_and_reports_junit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    contacts(d);
    write(d, "review.campaign", BASE);
    write(
        d,
        "review.campaign.test",
        format!(
            "contacts = \"contacts.csv\"\nnow = \"{NOW}\"\n\n[[expect]]\ncontact = \"1\"\nwebhook = \"Create\"\nbody = {{ Email = \"p1@example.com\" }}\nno_webhook = \"Hot\"\n\n[[expect]]\ncontact = \"0\"\ngoal = \"Bought\"\nno_webhook = \"Create\"\n"
        ),
    );
    // No golden file yet: written, and reported as new (not passed).
    let o = campaign(d, &["test"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("... new: wrote review.campaign.golden.ndjson"),
        "{}",
        stdout(&o)
    );
    assert!(d.join("review.campaign.golden.ndjson").exists());
    let o = campaign(d, &["test"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A change: the golden mismatch is shown as `campaign diff` shows it.
    write(
        d,
        "review.campaign",
        BASE.replace("Email=[Email]", "Mail=[Email]"),
    );
    let o = campaign(d, &["test"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("expect #1 (contact 1): webhook \"Create\" body field \"Email\": expected \"p1@example.com\", got none"), "{out}");
    assert!(out.contains("contact 1 differs (golden -> now):"), "{out}");
    assert!(
        out.contains("+ webhook \"Create\" body field \"Mail\": p1@example.com"),
        "{out}"
    );
    let o = campaign(d, &["test", "--format", "junit"]);
    assert_eq!(o.status.code(), Some(1));
    let xml = stdout(&o);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase name=\"review.campaign.test\" classname=\"campaign\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"expect #1 (contact 1): webhook &quot;Create&quot;"),
        "{xml}"
    );
    // --update accepts the change for the golden file; the expectation
    // still fails until the test is edited.
    let o = campaign(d, &["test", "--update"]);
    assert_eq!(o.status.code(), Some(1));
    write(
        d,
        "review.campaign.test",
        format!("contacts = \"contacts.csv\"\nnow = \"{NOW}\"\n"),
    );
    let o = campaign(d, &["test"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

/// The comparison is spread over threads a batch of contacts at a time:
/// over many batches, the report still follows the contacts file, in the
/// human report and in JSON, and every contact is counted once.
#[test]
fn many_batches_are_reported_in_the_contacts_order() {
    let dir = tempfile::tempdir().unwrap();
    let n = 2_000;
    let mut csv = String::from("Contact ID,First Name,Email,Score,Tags\n");
    // Ids not in any sorted order, so that the order seen is the file's.
    let ids: Vec<String> = (0..n)
        .map(|i| format!("c{}", (i * 7919) % 10_007))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        csv.push_str(&format!(
            "{id},Name {i},p{i}@example.com,{},\"\"\n",
            i % 100
        ));
    }
    write(dir.path(), "contacts.csv", csv);
    write(dir.path(), "old.campaign", BASE);
    write(
        dir.path(),
        "new.campaign",
        BASE.replace("Email=[Email]", "Mail=[Email]"),
    );
    let o = campaign(dir.path(), &DIFF);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    let seen: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("contact "))
        .collect();
    assert_eq!(seen, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        text.ends_with(&format!("{n} of {n} contacts changed\n")),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
    assert!(
        text.contains(&format!(
            "\n{n} contacts: webhook \"Create\" body field \"Email\" removed\n"
        )),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
    let o = campaign(dir.path(), &[&DIFF[..], &["--format", "json"]].concat());
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["contacts"], n);
    assert_eq!(v["changed"], n);
    let order: Vec<&str> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["contact"].as_str().unwrap())
        .collect();
    assert_eq!(order, ids.iter().map(String::as_str).collect::<Vec<_>>());
}
