//! Foreign text on its way to a terminal: contact data and server replies
//! full of escape sequences, through the real binary's human output (the
//! dry-run timeline, `check`, a real run's summary, `campaign report`).
//! Nothing a terminal would act on comes out raw; only `\n` does.
//!
//! Class: every control character (C0, DEL, C1 such as the one-byte CSI
//! U+009B) and every bidi override, in every field a human output quotes.

mod support;

use std::process::Output;

use support::{campaign, ndjson, stderr, stdout, write, Case, Server};

/// ESC[2J, OSC 52 (clipboard), OSC 8 (link), C1 CSI, bidi override, BEL,
/// CR, backspace, DEL.
const HOSTILE: &str =
    "\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{1b}]8;;http://evil\u{1b}\\\u{9b}31m\u{202e}txt\u{8}\r\u{7f}X";

/// The first raw character a terminal would act on, if any: every control
/// character but `\n`, and the bidi controls.
fn first_unsafe(bytes: &[u8]) -> Option<(usize, char)> {
    String::from_utf8_lossy(bytes)
        .char_indices()
        .find(|&(_, c)| c != '\n' && campaign::terminal::is_unsafe(c))
}

fn assert_inert(what: &str, o: &Output) {
    for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        if let Some((at, c)) = first_unsafe(bytes) {
            let text = String::from_utf8_lossy(bytes);
            panic!("{what}: raw {c:?} in {stream} at byte {at}:\n{text}");
        }
    }
}

/// A CSV cell holding `text` (quotes doubled).
fn cell(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[test]
fn the_dry_run_timeline_escapes_contact_data() {
    let hostile = cell(HOSTILE);
    let case = Case::new(
        "campaign \"T\" {\n    webhook \"W\" {\n        url \"https://x.example.com/[Path | raw]\"\n        header \"X-Name\" = \"[Name]\"\n        post \"name=[Name | raw]\"\n    }\n    note \"[Name]\"\n    tag add \"[Name]\"\n    field set [Status] = [Name]\n    if [Name | number] > 1 { stop }\n}\n",
        &format!("Contact ID,Name,Path\n{hostile},{hostile},a\n2,x,{hostile}\n"),
    );
    // An NDJSON record that cannot be read, quoting its bad text.
    case.write(
        "c.ndjson",
        format!(
            "{{\"Contact ID\": {}, \"Name\": \"n\"}}\n[\"{}\"]\n",
            serde_json::to_string(HOSTILE).unwrap(),
            HOSTILE.escape_default()
        ),
    );
    for contacts in ["c.csv", "c.ndjson"] {
        let o = case.campaign(&["run", "c.campaign", "--contacts", contacts, "--dry-run"]);
        assert_inert(contacts, &o);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("\\u{1b}[2J"), "{out}");
        assert!(out.contains("contact \\u{1b}[2J"), "the id, escaped: {out}");
    }
    // The NDJSON output stays JSON: escaped as JSON, parsed back exactly.
    let o = case.run(&["--dry-run", "--format", "ndjson"]);
    assert_eq!(ndjson(&stdout(&o))[0]["contact"], HOSTILE);
}

#[test]
fn check_escapes_the_script_and_the_paths() {
    let dir = tempfile::tempdir().unwrap();
    // A warning on a line with raw escape sequences in a comment and a
    // string, and a missing file whose name holds one too.
    write(
        dir.path(),
        "c.campaign",
        format!(
            "campaign \"T\" {{ // {HOSTILE}\n    note \"{}\" webhook \"W\" {{ url \"http://x.example.com/\" }}\n}}\n",
            HOSTILE.replace(['"', '\\'], "")
        ),
    );
    let o = campaign(
        dir.path(),
        &["check", "c.campaign", &format!("missing{HOSTILE}.campaign")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_inert("check", &o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("campaign::url::insecure") && err.contains("␛[2J"),
        "{err}"
    );
}

#[test]
fn a_real_run_and_its_report_escape_server_replies() {
    let server = Server::start();
    // `/echo` answers 400 with the request's headers and body: the reply,
    // and so the recorded error, carries the contact's escape sequences.
    let hostile = cell(HOSTILE);
    let case = Case::new(
        &format!(
            "campaign \"T\" {{\n    webhook \"W\" {{\n        url \"{}\"\n        header \"X-Name\" = \"[Name]\"\n        post \"name=[Name | raw]\"\n        retry 0\n    }}\n}}\n",
            server.url("/echo")
        ),
        &format!("Contact ID,Name\n{hostile},{hostile}\n"),
    );
    let o = case.run(&["--journal", "j.sqlite"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_inert("run", &o);
    let o = case.campaign(&["report", "j.sqlite"]);
    assert_eq!(o.status.code(), Some(0));
    assert_inert("report", &o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("\\u{1b}[2J"), "the contact id, escaped: {out}");
}
