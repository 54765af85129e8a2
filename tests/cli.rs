//! The real binary, end to end: exit statuses, machine-readable output, and
//! the contracts the issue fixes (flags, keys, redaction).

mod support;

use support::{campaign_here as campaign, ndjson, stderr, stdout, write, Case};

const CLEAN: &str = "campaign \"C\" {\n    webhook \"W\" {\n        url \"https://x.example.com/c\"\n        post \"First_Name=[First Name]&Email=[Email]\"\n    }\n}\n";
const WARNS: &str =
    "campaign \"C\" {\n    webhook \"W\" {\n        url \"http://x.example.com/c\"\n    }\n}\n";
const BROKEN: &str = "campaign \"C\" {\n    note \"[First Name | uper]\"\n    webhook \"W\" {\n        post \"a=1\"\n    }\n}\n";

#[test]
fn check_exit_status_follows_errors_and_deny_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let clean = write(dir.path(), "clean.campaign", CLEAN);
    let warns = write(dir.path(), "warns.campaign", WARNS);
    let broken = write(dir.path(), "broken.campaign", BROKEN);
    assert_eq!(
        campaign(&["check", clean.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let o = campaign(&["check", warns.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("campaign::url::insecure"));
    let o = campaign(&["check", warns.to_str().unwrap(), "--deny", "warnings"]);
    assert_eq!(o.status.code(), Some(1));
    let o = campaign(&["check", broken.to_str().unwrap(), clean.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("campaign::filter::unknown") && err.contains("did you mean `upper`?"),
        "{err}"
    );
    assert!(
        err.contains("campaign::webhook::missing_url"),
        "all errors of a file, not only the first"
    );
}

#[test]
fn check_json_points_at_exact_characters() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write(dir.path(), "broken.campaign", BROKEN);
    let o = campaign(&["check", broken.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let diags: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("a JSON array");
    let unknown = diags
        .iter()
        .find(|d| d["code"] == "campaign::filter::unknown")
        .unwrap();
    assert_eq!(unknown["severity"], "error");
    assert_eq!(unknown["line"], 2);
    assert_eq!(unknown["column"], 25);
    let (start, end) = (
        unknown["span"]["start"].as_u64().unwrap() as usize,
        unknown["span"]["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&BROKEN[start..end], "uper");
    assert_eq!(unknown["file"], broken.to_str().unwrap());
    assert!(unknown["help"].as_str().unwrap().contains("upper"));
    assert!(unknown["message"].is_string());
}

#[test]
fn check_against_sample_contacts_and_schema() {
    let case = Case::with_contacts(
        "campaign \"C\" {\n    note \"[Frist Name] [Email]\"\n}\n",
        "sample.csv",
        "First Name,Email\nAda,a@x.com\n",
    );
    let check = |extra: &[&str]| case.campaign(&[&["check", "c.campaign"], extra].concat());
    let o = check(&["--contacts", "sample.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("did you mean `[First Name]`?"),
        "{}",
        stderr(&o)
    );
    let o = check(&["--schema", "First Name,Email"]);
    assert_eq!(o.status.code(), Some(1));
    let o = check(&["--schema", "Frist Name, Email"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    case.write("fields.txt", "# fields\nFrist Name\nEmail\n");
    let o = check(&["--schema", "fields.txt"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn dry_run_ndjson_keys_and_masked_secrets() {
    let o = campaign(&[
        "run",
        "examples/new-lead-welcome.campaign",
        "--contacts",
        "examples/contacts.csv",
        "--dry-run",
        "--format",
        "ndjson",
        "--now",
        "2026-11-27T09:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let effects = ndjson(&stdout(&o));
    let note = effects
        .iter()
        .find(|e| e["step"] == "Add contact note" && e["contact"] == "101")
        .unwrap();
    assert_eq!(note["action"], "webhook");
    assert_eq!(note["method"], "POST");
    assert_eq!(note["at"], 0);
    assert_eq!(note["headers"]["Api-Key"], "***");
    assert_eq!(
        note["headers"]["Content-Type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        note["body"],
        "id=0&data=Note+inserted+by+webhook+using+new+API.&author=1&contact_id=101"
    );
    let wait = effects.iter().find(|e| e["action"] == "wait").unwrap();
    assert_eq!(wait["seconds"], 172_800);
    assert!(effects
        .iter()
        .any(|e| e["action"] == "goal" && e["goal"] == "Booked a call"));
    assert!(effects.iter().any(|e| e["action"] == "stop"));
}

#[test]
fn a_failing_contact_does_not_stop_the_others() {
    let case = Case::with_contacts(
        "campaign \"C\" {\n    if [Score | number] > 1 { tag add \"big\" }\n    note \"done\"\n}\n",
        "c.ndjson",
        "{\"Score\": \"5\"}\n{\"Score\": \"x\"}\nnot json\n{\"Score\": 0}\n",
    );
    let o = case.run(&["--dry-run", "--format", "ndjson"]);
    assert_eq!(o.status.code(), Some(1), "any failed contact fails the run");
    let effects = ndjson(&stdout(&o));
    let by = |id: &str| {
        effects
            .iter()
            .filter(|e| e["contact"] == id)
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(by("1"), ["tag_add", "note"]);
    assert_eq!(by("2"), ["error"]);
    assert_eq!(by("3"), ["error"], "an unreadable record is reported too");
    assert_eq!(by("4"), ["note"]);
}

#[test]
fn contacts_formats_by_extension_or_flag() {
    let case = Case::with_contacts(
        "campaign \"C\" {\n    note \"[First Name] has [Tags]\"\n}\n",
        "c.json",
        "[{\"Contact ID\": 7, \"First Name\": \"Ann\", \"Tags\": [\"a\", \"b\"]}]",
    );
    let o = case.run(&["--dry-run", "--format", "ndjson"]);
    assert_eq!(
        stdout(&o),
        "{\"contact\":\"7\",\"at\":0,\"action\":\"note\",\"text\":\"Ann has a,b\"}\n"
    );
    case.write("c.data", "First Name,Tags\nBo,\"x, y\"\n");
    let run = |extra: &[&str]| {
        case.campaign(
            &[
                &["run", "c.campaign", "--contacts", "c.data", "--dry-run"],
                extra,
            ]
            .concat(),
        )
    };
    let o = run(&[]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("--contacts-format"));
    let o = run(&["--contacts-format", "csv", "--format", "ndjson"]);
    assert_eq!(
        stdout(&o),
        "{\"contact\":\"1\",\"at\":0,\"action\":\"note\",\"text\":\"Bo has x,y\"}\n"
    );
}

#[test]
fn disasm_and_help() {
    let o = campaign(&["disasm", "examples/seed-webhooks.campaign"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Webhook(\"Add contact note\")"));
    let o = campaign(&["--help"]);
    assert!(
        stdout(&o).contains("check") && stdout(&o).contains("run") && stdout(&o).contains("disasm")
    );
}

#[test]
fn a_real_run_needs_every_secret_before_sending_anything() {
    // No secret is set, so this stops before any request (the example's
    // hosts are not on this machine anyway).
    let o = campaign(&[
        "run",
        "examples/new-lead-welcome.campaign",
        "--contacts",
        "examples/contacts.csv",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("ONTRAPORT_APP_ID") && err.contains("ONTRAPORT_API_KEY"),
        "{err}"
    );
    assert!(err.contains("nothing was sent"), "{err}");
}

#[test]
fn invalid_utf8_and_empty_files_get_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.campaign");
    std::fs::write(&bad, b"campaign \"C\" {\n    note \"caf\xe9\"\n}\n").unwrap();
    let o = campaign(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("campaign::source::invalid_utf8"));
    let empty = write(dir.path(), "empty.campaign", "");
    let o = campaign(&["check", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("campaign::syntax::empty"));
}

/// Every error that stops a command before it can do its work is said once,
/// as the whole of stderr, `error: ...` on one line, with exit status 1:
/// one case per kind of error, from each command that can meet it.
#[test]
fn an_error_that_stops_a_command_is_one_line_and_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    write(dir.path(), "c.campaign", CLEAN);
    write(
        dir.path(),
        "contacts.csv",
        "First Name,Email\nAda,a@x.example\n",
    );
    write(dir.path(), "contacts.txt", "First Name\nAda\n");
    write(dir.path(), "empty.csv", "");
    write(dir.path(), "bad.json", "[1]\n");
    write(
        dir.path(),
        "secret.campaign",
        "campaign \"C\" {\n    webhook \"W\" {\n        url \"https://x.example.com/c\"\n        header \"K\" = secret(\"CAMPAIGN_TEST_UNSET_3F9\")\n    }\n}\n",
    );
    let c = format!("{d}/c.campaign");
    let csv = format!("{d}/contacts.csv");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["disasm".into(), format!("{d}/none.campaign")],
            format!("cannot read {d}/none.campaign: No such file or directory (os error 2)"),
        ),
        (
            vec!["run".into(), format!("{d}/none.campaign"), "--contacts".into(), csv.clone(), "--dry-run".into()],
            format!("cannot read {d}/none.campaign: No such file or directory (os error 2)"),
        ),
        (
            vec!["run".into(), c.clone(), "--contacts".into(), csv.clone(), "--dry-run".into(), "--now".into(), "tomorrow".into()],
            "--now \"tomorrow\" is not an RFC 3339 time (premature end of input); e.g. 2026-11-27T09:00:00Z".into(),
        ),
        (
            vec!["run".into(), c.clone(), "--contacts".into(), format!("{d}/contacts.txt"), "--dry-run".into()],
            format!("cannot tell the format of {d}/contacts.txt from its extension; pass --contacts-format csv|json|ndjson"),
        ),
        (
            vec!["check".into(), c.clone(), "--contacts".into(), format!("{d}/contacts.txt")],
            format!("cannot tell the format of {d}/contacts.txt from its extension; pass --contacts-format csv|json|ndjson"),
        ),
        (
            vec!["run".into(), c.clone(), "--contacts".into(), format!("{d}/none.csv"), "--dry-run".into()],
            format!("cannot read {d}/none.csv: No such file or directory (os error 2)"),
        ),
        (
            vec!["run".into(), c.clone(), "--contacts".into(), format!("{d}/empty.csv"), "--dry-run".into()],
            format!("{d}/empty.csv: contacts CSV has no header row"),
        ),
        (
            vec!["check".into(), c.clone(), "--contacts".into(), format!("{d}/empty.csv")],
            format!("{d}/empty.csv: contacts CSV has no header row"),
        ),
        (
            vec!["check".into(), c.clone(), "--schema".into(), format!("{d}/none.txt")],
            format!("cannot read schema file {d}/none.txt: no such file"),
        ),
        (
            vec!["check".into(), c.clone(), "--schema".into(), format!("{d}/bad.json")],
            format!("{d}/bad.json: expected a JSON array of field names: invalid type: integer `1`, expected a string at line 1 column 2"),
        ),
        (
            vec!["run".into(), c.clone(), "--contacts".into(), csv.clone(), "--rate".into(), "fast".into()],
            "--rate: invalid rate `fast`: expected COUNT/UNIT such as 50/s, 600/m or 1000/h".into(),
        ),
        (
            vec!["run".into(), format!("{d}/secret.campaign"), "--contacts".into(), csv.clone()],
            "missing secret: CAMPAIGN_TEST_UNSET_3F9 (set it in the environment or the --env-file); nothing was sent".into(),
        ),
        (
            vec!["report".into(), format!("{d}/none.db")],
            format!("journal {d}/none.db does not exist"),
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = campaign(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), format!("error: {message}\n"), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}: {}", stdout(&o));
    }
}

/// A webhook trigger's `verify` clause reaches the compiled program: the
/// listing prints it as written, the JSON gives the path, the method and
/// the secret's index; a real run, which verifies nothing, does not need
/// it (a step's missing secret still stops a run: tests/delivery.rs).
#[test]
fn verified_triggers_are_compiled_with_their_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let source = "campaign \"Signup\" {\n    trigger webhook_received \"/hooks/signup\" verify standard secret(\"CAMPAIGN_TEST_HOOK_7A1\")\n    trigger webhook_received \"/hooks/gh\"\n        verify github secret(\"CAMPAIGN_TEST_GH_7A1\")\n    trigger webhook_received \"/hooks/open\" verify none\n    trigger tag_added \"Lead\"\n    tag add \"Signed up\"\n}\n";
    let file = write(dir.path(), "c.campaign", source);
    let file = file.to_str().unwrap();
    write(dir.path(), "contacts.csv", "Email\na@x.example\n");

    let o = campaign(&["disasm", file]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("campaign::trigger::verify_none"),
        "{}",
        stderr(&o)
    );
    let listing = stdout(&o);
    let triggers: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with("trigger "))
        .collect();
    assert_eq!(
        triggers,
        [
            "trigger webhook_received \"/hooks/signup\" verify standard secret(\"CAMPAIGN_TEST_HOOK_7A1\")",
            "trigger webhook_received \"/hooks/gh\" verify github secret(\"CAMPAIGN_TEST_GH_7A1\")",
            "trigger webhook_received \"/hooks/open\" verify none",
            "trigger tag_added \"Lead\"",
        ]
    );

    let o = campaign(&["disasm", file, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let program: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        program["triggers"],
        serde_json::json!([
            { "WebhookReceived": { "path": "/hooks/signup", "verify": { "Standard": { "secret": 0 } } } },
            { "WebhookReceived": { "path": "/hooks/gh", "verify": { "Github": { "secret": 1 } } } },
            { "WebhookReceived": { "path": "/hooks/open", "verify": "None" } },
            { "TagAdded": "Lead" },
        ])
    );
    assert_eq!(
        program["secrets"],
        serde_json::json!(["CAMPAIGN_TEST_HOOK_7A1", "CAMPAIGN_TEST_GH_7A1"])
    );

    // A run sends nothing a trigger's secret signs: it does not need it.
    let o = campaign(&["run", file, "--contacts", &format!("{d}/contacts.csv")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
