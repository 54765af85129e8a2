//! The command-line conventions a newcomer expects, through the real binary:
//! `campaign new`, flags that would do nothing are refused, `-` for stdin,
//! `--color` with NO_COLOR and CLICOLOR_FORCE, `-q` and `-v`, completions
//! and the man page, `--format json` for `report` and `disasm`, and a
//! resumed run that says so.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};

use support::{campaign, command, hook, ndjson, script, stderr, stdout, write, Server};

/// Runs the binary in `dir` with `input` on stdin.
fn with_stdin(dir: &std::path::Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = command(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn new_writes_a_starter_that_checks_clean_and_dry_runs() {
    let dir = tempfile::tempdir().unwrap();
    let o = campaign(dir.path(), &["new", "welcome"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("campaign check welcome.campaign"));
    let o = campaign(
        dir.path(),
        &[
            "check",
            "welcome.campaign",
            "--contacts",
            "welcome.contacts.csv",
            "--deny",
            "warnings",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 errors, 0 warnings"),
        "{}",
        stderr(&o)
    );
    let o = campaign(
        dir.path(),
        &[
            "run",
            "welcome.campaign",
            "-c",
            "welcome.contacts.csv",
            "-n",
            "-f",
            "ndjson",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let effects = ndjson(&stdout(&o));
    assert!(effects.iter().any(|e| e["action"] == "webhook"));
    // Its starter test passes as written.
    let o = campaign(dir.path(), &["test", "welcome.campaign.test"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("1 passed"), "{}", stdout(&o));
    // A second `new` writes nothing over the first.
    std::fs::write(dir.path().join("welcome.contacts.csv"), "mine").unwrap();
    std::fs::remove_file(dir.path().join("welcome.campaign")).unwrap();
    let o = campaign(dir.path(), &["new", "welcome"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists; nothing was written"));
    assert!(!dir.path().join("welcome.campaign").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("welcome.contacts.csv")).unwrap(),
        "mine"
    );
    // A name that is not a file name, and a quote in one that is.
    let o = campaign(dir.path(), &["new", "a/b"]);
    assert_eq!(o.status.code(), Some(1));
    let o = campaign(dir.path(), &["new", "Say \"hi\""]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = campaign(dir.path(), &["check", "Say \"hi\".campaign"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = campaign(dir.path(), &["test", "Say \"hi\".campaign.test"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn flags_that_would_do_nothing_in_a_mode_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.campaign", script("    tag add \"x\"\n"));
    write(dir.path(), "c.csv", "Contact ID\n1\n");
    let base = ["run", "c.campaign", "--contacts", "c.csv"];
    for extra in [
        &["--format", "ndjson"][..],
        &["--now", "2026-01-01T00:00:00Z"],
        &["--dry-run", "--rate", "5/s"],
        &["--dry-run", "--rate", "5/fortnight"],
        &["--dry-run", "--concurrency", "4"],
        &["--dry-run", "--journal", "j.sqlite"],
        &["--dry-run", "--out", "o.ndjson"],
        &["--dry-run", "--env-file", ".env"],
        &["--dry-run", "--allow-private"],
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let o = campaign(dir.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--dry-run"), "{args:?}: {}", stderr(&o));
    }
    assert!(!dir.path().join("j.sqlite").exists());
    assert!(!dir.path().join("o.ndjson").exists());
}

#[test]
fn stdin_is_dash_for_a_campaign_and_for_contacts_of_any_format() {
    let dir = tempfile::tempdir().unwrap();
    let source = script("    note \"hi [First Name]\"\n    tagg add \"x\"\n");
    let o = with_stdin(dir.path(), &["check", "-"], source.as_bytes());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("<stdin>:3:5"), "{}", stderr(&o));
    write(
        dir.path(),
        "c.campaign",
        script("    note \"hi [First Name]\"\n"),
    );
    for contacts in [
        "Contact ID,First Name\n1,Ada\n",
        "\u{feff}[{\"Contact ID\": \"1\", \"First Name\": \"Ada\"}]",
        "\n{\"Contact ID\": \"1\", \"First Name\": \"Ada\"}\n",
    ] {
        let o = with_stdin(
            dir.path(),
            &["run", "c.campaign", "-c", "-", "-n", "-f", "ndjson"],
            contacts.as_bytes(),
        );
        assert_eq!(o.status.code(), Some(0), "{contacts:?}: {}", stderr(&o));
        let effects = ndjson(&stdout(&o));
        assert_eq!(effects[0]["text"], "hi Ada", "{contacts:?}");
        // The same for check's sample contacts.
        let o = with_stdin(
            dir.path(),
            &["check", "c.campaign", "--contacts", "-"],
            contacts.as_bytes(),
        );
        assert_eq!(o.status.code(), Some(0), "{contacts:?}: {}", stderr(&o));
    }
    let o = with_stdin(dir.path(), &["check", "-", "--contacts", "-"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("stdin (`-`) can be only one of the inputs"));
    // A resumable run must be able to read its contacts again.
    let o = with_stdin(
        dir.path(),
        &["run", "c.campaign", "-c", "-", "--journal", "j.sqlite"],
        b"Contact ID\n1\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("give a file, not a pipe"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("j.sqlite").exists());
}

#[test]
fn an_unreadable_file_counts_as_an_error_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.campaign", script("    tag add \"x\"\n"));
    let o = campaign(dir.path(), &["check", "nosuch.campaign", "good.campaign"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("checked 2 files: 1 error, 0 warnings"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn color_follows_the_flag_then_no_color_then_clicolor_force() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.campaign", script("    tagg add \"x\"\n"));
    let colored = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = command(dir.path(), args);
        c.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(1));
        stderr(&o).contains('\u{1b}')
    };
    let check = ["check", "c.campaign"];
    // Not a terminal: no colour unless asked.
    assert!(!colored(&check, &[]));
    assert!(colored(&check, &[("CLICOLOR_FORCE", "1")]));
    assert!(!colored(&check, &[("CLICOLOR_FORCE", "0")]));
    assert!(!colored(
        &check,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
    assert!(colored(
        &["check", "c.campaign", "--color", "always"],
        &[("NO_COLOR", "1")]
    ));
    assert!(!colored(
        &["check", "c.campaign", "--color", "never"],
        &[("CLICOLOR_FORCE", "1")]
    ));
}

#[test]
fn quiet_leaves_only_diagnostics_and_verbose_adds_a_line_per_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.campaign", script("    tag add \"x\"\n"));
    write(dir.path(), "b.campaign", script("    tagg add \"x\"\n"));
    let o = campaign(dir.path(), &["-q", "check", "a.campaign"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
    let o = campaign(dir.path(), &["check", "-q", "a.campaign", "b.campaign"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown step"));
    assert!(!stderr(&o).contains("checked"));
    let o = campaign(dir.path(), &["check", "-v", "a.campaign", "b.campaign"]);
    assert!(stderr(&o).contains("a.campaign: 0 errors, 0 warnings"));
    assert!(stderr(&o).contains("b.campaign: 1 error, 0 warnings"));
    let o = campaign(dir.path(), &["check", "-q", "-v", "a.campaign"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn completions_man_and_help_examples() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef campaign"),
        ("fish", "complete -c campaign"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let o = campaign(dir.path(), &["completions", shell]);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains(marker), "{shell}");
        assert!(stdout(&o).contains("dry-run"), "{shell}");
    }
    let o = campaign(dir.path(), &["man"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with(".ie"), "{}", stdout(&o));
    assert!(stdout(&o).contains(".TH campaign"));
    for sub in [
        "check",
        "disasm",
        "run",
        "report",
        "new",
        "completions",
        "man",
    ] {
        let o = campaign(dir.path(), &[sub, "--help"]);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains("Example"), "{sub} --help");
    }
}

#[test]
fn disasm_and_report_speak_json_and_report_dates_the_waits() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let body = hook("W", &server.url("/ok"), "") + "    wait 3 days\n    tag add \"later\"\n";
    write(dir.path(), "c.campaign", script(&body));
    write(dir.path(), "c.csv", "Contact ID\n1\n2\n");
    let o = campaign(dir.path(), &["disasm", "c.campaign", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let program: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(program["name"], "Test");
    assert!(program["code"].as_array().is_some_and(|c| !c.is_empty()));

    let run = [
        "run",
        "c.campaign",
        "-c",
        "c.csv",
        "--journal",
        "j.sqlite",
        "-o",
        "out.ndjson",
    ];
    let o = campaign(dir.path(), &run);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("resuming"), "{}", stderr(&o));
    let out = ndjson(&std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap());
    let at = out[0]["resume_at"].as_str().unwrap();
    let ms = out[0]["resume_at_ms"].as_i64().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp(),
        ms / 1000
    );

    let o = campaign(dir.path(), &["report", "j.sqlite", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["contacts_waiting"], 2);
    let waiting = report["waiting"].as_array().unwrap();
    assert_eq!(waiting.len(), 2);
    assert!(waiting[0]["resume_at"].as_str().unwrap().ends_with('Z'));
    let o = campaign(dir.path(), &["report", "j.sqlite"]);
    let human = stdout(&o);
    assert!(
        human.contains("waiting contacts (soonest first):"),
        "{human}"
    );
    assert!(human.contains(&format!("  1: until {at}")), "{human}");
    assert!(human.contains("1 session (not resumed)"), "{human}");
    assert!(
        human.contains("(1 attempt,") || human.contains("(2 attempts,"),
        "{human}"
    );

    // The second run says it resumes, before it does anything.
    let o = campaign(dir.path(), &run);
    assert!(
        stderr(&o).contains("resuming run ")
            && stderr(&o).contains("(session 2): 0 done, 0 failed, 2 waiting so far"),
        "{}",
        stderr(&o)
    );
    let o = campaign(dir.path(), &["report", "j.sqlite"]);
    assert!(
        stdout(&o).contains("2 sessions (resumed 1 time)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_real_run_records_every_effect_in_out_and_the_journal() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let body = "    tag add \"Lead\"\n".to_string()
        + &hook("Create", &server.url("/ok"), "")
        + "    field set [Status] = \"Hot [A]\"\n    tag remove \"Lead\"\n    note \"Hi [A]\"\n    wait 3 days\n    note \"later\"\n";
    write(dir.path(), "c.campaign", script(&body));
    write(dir.path(), "c.csv", "Contact ID,A\n1,Ada\n");
    let run = [
        "run",
        "c.campaign",
        "-c",
        "c.csv",
        "--journal",
        "j.sqlite",
        "-o",
        "out.ndjson",
    ];
    let o = campaign(dir.path(), &run);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected = serde_json::json!([
        {"at": 0, "action": "tag_add", "tag": "Lead"},
        {"at": 0, "step": "Create", "action": "webhook"},
        {"at": 0, "action": "field_set", "field": "Status", "value": "Hot Ada"},
        {"at": 0, "action": "tag_remove", "tag": "Lead"},
        {"at": 0, "action": "note", "text": "Hi Ada"},
        {"at": 0, "action": "wait", "seconds": 259200},
    ]);
    let text = std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap();
    let out = ndjson(&text);
    assert_eq!(out[0]["effects"], expected, "{}", out[0]);
    // The key order docs/cli.md and docs/delivery.md give.
    let keys = [
        "contact",
        "status",
        "steps",
        "resume_at_ms",
        "resume_at",
        "error",
        "attempts",
        "effects",
    ];
    let at: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k}: {text}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    let db = rusqlite::Connection::open(dir.path().join("j.sqlite")).unwrap();
    let stored: String = db
        .query_row(
            "SELECT effects FROM contact_effects WHERE contact = '1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stored).unwrap(),
        expected
    );
}

#[test]
fn a_step_that_cannot_be_sent_says_what_was_sent_before_it() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let body = hook("First", &server.url("/ok"), "")
        + &hook("Second", &server.url("/ok"), "")
        + &hook(
            "Third",
            &server.url("/ok"),
            "        header \"X-Name\" = \"[Name]\"\n",
        );
    write(dir.path(), "c.campaign", script(&body));
    write(dir.path(), "c.csv", "Contact ID,Name\n1,\"two\nlines\"\n");
    let o = campaign(
        dir.path(),
        &["run", "c.campaign", "-c", "c.csv", "-o", "out.ndjson"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(server.seen().len(), 2);
    let out = ndjson(&std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap());
    let error = out[0]["error"].as_str().unwrap();
    assert!(
        error.contains("nothing was sent for this step (sent before it for this contact: \"First\", \"Second\")"),
        "{error}"
    );
}
