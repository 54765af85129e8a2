//! `campaign lsp` driven as an editor drives it: the real binary over
//! stdio, JSON-RPC with Content-Length framing, in a folder with a
//! `campaign.toml`, sample contacts and an env file. Ranges are asserted
//! exactly, in UTF-16 units, on lines with `é` and `😀` (two units) before
//! the place.

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::lsp::{range, uri, Lsp, Range};

/// Lines 0-based; the comments give the UTF-16 columns the tests use.
const TEXT: &str = r#"campaign "Bienvenue 😀" {
    trigger tag_added "Lead"

    webhook "Créer 😀 contact" {
        url "http://crm.example.com/c?src=[Lead Source]"
        post "name=[First Name]&email=[Emial]"
        header "Api-Key" = "abc123"
    }

    tag add "Hot"
    note "Olá 😀 [First Name | uper]"
    goal "Booked" when has tag "Hot"
    webhook "Créer 😀 contact" {
        url "https://crm.example.com/d"
    }
}
"#;

/// A folder with settings, a sample and an env file.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "campaign.toml",
        "contacts = \"samples/contacts.csv\"\nenv_file = \".env\"\n",
    );
    std::fs::create_dir(dir.path().join("samples")).unwrap();
    write(
        "samples/contacts.csv",
        "First Name,Email,Lead Source\nJosé,jose@example.org,web form\nAda,ada@example.org,Partner & Co\n",
    );
    write(
        ".env",
        "API_KEY=not-for-the-editor\nCRM_TOKEN=also-secret\n",
    );
    write("welcome.campaign", TEXT);
    dir
}

fn started(dir: &Path) -> (Lsp, String) {
    let mut lsp = Lsp::start(dir);
    let init = lsp.initialize();
    let caps = &init["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental sync");
    let uri = uri(&dir.join("welcome.campaign"));
    lsp.open(&uri, TEXT);
    (lsp, uri)
}

fn by_code<'a>(diagnostics: &'a [Value], code: &str) -> &'a Value {
    diagnostics
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {diagnostics:#?}"))
}

#[test]
fn diagnostics_are_checks_own_with_utf16_ranges() {
    let dir = workspace();
    let (mut lsp, uri) = started(dir.path());
    let diagnostics = lsp.diagnostics(1);
    let ranges: Vec<(String, Range)> = diagnostics
        .iter()
        .map(|d| (d["code"].as_str().unwrap().to_string(), range(&d["range"])))
        .collect();
    assert_eq!(
        ranges,
        [
            ("campaign::url::insecure".to_string(), (4, 13, 4, 17)),
            ("campaign::merge::unknown_field".to_string(), (5, 39, 5, 44)),
            ("campaign::credential::literal".to_string(), (6, 27, 6, 35)),
            ("campaign::filter::unknown".to_string(), (10, 31, 10, 35)),
            (
                "campaign::step::duplicate_name".to_string(),
                (12, 12, 12, 30)
            ),
        ]
    );
    let duplicate = by_code(&diagnostics, "campaign::step::duplicate_name");
    assert_eq!(duplicate["severity"], 1);
    let related = &duplicate["relatedInformation"][0];
    assert_eq!(related["message"], "first named here");
    assert_eq!(related["location"]["uri"], uri.as_str());
    assert_eq!(range(&related["location"]["range"]), (3, 12, 3, 30));
    assert_eq!(
        by_code(&diagnostics, "campaign::merge::unknown_field")["message"],
        "no field named `Emial` in the sample contacts (samples/contacts.csv)\nhelp: did you mean `[Email]`?"
    );

    // The same codes, messages, help and lines as `campaign check` on the
    // file, which finds the same campaign.toml.
    let out = support::campaign(
        dir.path(),
        &["check", "welcome.campaign", "--format", "json"],
    );
    let checked: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checked.len(), diagnostics.len());
    for (c, d) in checked.iter().zip(&diagnostics) {
        assert_eq!(c["code"], d["code"]);
        let help = c["help"]
            .as_str()
            .map_or(String::new(), |h| format!("\nhelp: {h}"));
        assert_eq!(
            format!("{}{help}", c["message"].as_str().unwrap()),
            d["message"]
        );
        assert_eq!(c["line"].as_u64().unwrap() - 1, range(&d["range"]).0);
    }
    assert_eq!(checked[4]["related"][0]["line"], 4);

    // An edit fixes the field; a burst of edits is published once, for the
    // last version.
    let edit = |lsp: &mut Lsp, version: i64, line: u64, from: u64, to: u64, text: &str| {
        lsp.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "range": {
                    "start": { "line": line, "character": from },
                    "end": { "line": line, "character": to } }, "text": text }]
            }),
        );
    };
    edit(&mut lsp, 2, 5, 39, 44, "Emai");
    edit(&mut lsp, 3, 5, 43, 43, "l");
    let diagnostics = lsp.diagnostics(3);
    assert!(diagnostics
        .iter()
        .all(|d| d["code"] != "campaign::merge::unknown_field"));
    assert_eq!(diagnostics.len(), 4);
    assert!(lsp.shutdown().success());
}

#[test]
fn completion_offers_what_the_place_takes() {
    let dir = workspace();
    let (mut lsp, uri) = started(dir.path());
    lsp.diagnostics(1);
    // A new line 11 typed after emoji and é: `    note "é😀 [Fi"`.
    lsp.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 2 },
            "contentChanges": [{ "range": { "start": { "line": 11, "character": 0 }, "end": { "line": 11, "character": 0 } },
                                 "text": "    note \"é😀 [Fi\"\n" }]
        }),
    );
    // `    note "` is 10 units, `é` 1, `😀` 2, ` [` 2: `Fi` is 15..17.
    let items = lsp.at("textDocument/completion", &uri, 11, 17);
    let items = items.as_array().unwrap();
    let labels: Vec<&str> = items.iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        ["First Name", "Email", "Lead Source", "Contact ID", "Tags"]
    );
    let first = &items[0];
    assert_eq!(range(&first["textEdit"]["range"]), (11, 15, 11, 17));
    assert_eq!(first["textEdit"]["newText"], "First Name");
    assert_eq!(first["detail"], "sample contacts");
    assert_eq!(
        first["documentation"]["value"],
        "Sample values: `José`, `Ada`"
    );

    // Filters after `|`, with their arguments as snippets.
    let items = lsp.at("textDocument/completion", &uri, 10, 31);
    let default = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "default")
        .unwrap();
    assert_eq!(default["textEdit"]["newText"], "default: '${1:text}'");
    assert_eq!(default["insertTextFormat"], 2);
    assert_eq!(range(&default["textEdit"]["range"]), (10, 31, 10, 31));

    // Secret names, never values.
    lsp.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 3 },
            "contentChanges": [{ "range": { "start": { "line": 7, "character": 0 }, "end": { "line": 7, "character": 0 } },
                                 "text": "        header \"X-Token\" = secret(\"C\")\n" }]
        }),
    );
    let items = lsp.at("textDocument/completion", &uri, 7, 36);
    let text = items.to_string();
    assert!(!text.contains("not-for-the-editor") && !text.contains("also-secret"));
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["API_KEY", "CRM_TOKEN"]);
    assert_eq!(range(&items[0]["textEdit"]["range"]), (7, 35, 7, 36));

    // Settings inside a webhook, a webhook skeleton among the steps.
    // At the start of the header line, inside the webhook.
    let settings = lsp.at("textDocument/completion", &uri, 7, 0);
    let labels: Vec<&str> = settings
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"on failure") && labels.contains(&"capture"),
        "{labels:?}"
    );
    let steps = lsp.at("textDocument/completion", &uri, 2, 4);
    let webhook = steps
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "webhook")
        .unwrap();
    assert_eq!(
        webhook["textEdit"]["newText"],
        "webhook \"${1:Name}\" {\n\turl \"https://${2:example.com/path}\"\n\tpost \"${3:Email=[Email]}\"\n}"
    );
    assert!(lsp.shutdown().success());
}

#[test]
fn hover_definition_references_symbols_and_fixes() {
    let dir = workspace();
    let (mut lsp, uri) = started(dir.path());
    lsp.diagnostics(1);

    let hover = lsp.at("textDocument/hover", &uri, 4, 45);
    assert_eq!(range(&hover["range"]), (4, 42, 4, 55));
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(
        text.starts_with("**`[Lead Source]`** (sample contacts)"),
        "{text}"
    );
    assert!(text.contains("encodeURIComponent"), "{text}");
    assert!(
        text.contains("**Sample values:** `web form`, `Partner & Co`"),
        "{text}"
    );
    // After `😀` on the line: the merge's range counts it as two units.
    let hover = lsp.at("textDocument/hover", &uri, 10, 20);
    assert_eq!(range(&hover["range"]), (10, 17, 10, 36));
    assert!(hover["contents"]["value"]
        .as_str()
        .unwrap()
        .contains("`uper`"));
    let hover = lsp.at("textDocument/hover", &uri, 11, 6);
    assert!(hover["contents"]["value"]
        .as_str()
        .unwrap()
        .starts_with("`goal \"Name\" when cond`"));

    // `has tag "Hot"` goes to `tag add "Hot"`.
    let definition = lsp.at("textDocument/definition", &uri, 11, 33);
    assert_eq!(definition[0]["uri"], uri.as_str());
    assert_eq!(range(&definition[0]["range"]), (9, 12, 9, 17));
    // The duplicate webhook's name goes to the first.
    let definition = lsp.at("textDocument/definition", &uri, 12, 20);
    assert_eq!(range(&definition[0]["range"]), (3, 12, 3, 30));
    let references = lsp.request(
        "textDocument/references",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 9, "character": 14 },
                "context": { "includeDeclaration": true } }),
    );
    let spans: Vec<_> = references
        .as_array()
        .unwrap()
        .iter()
        .map(|l| range(&l["range"]))
        .collect();
    assert_eq!(spans, [(9, 12, 9, 17), (11, 31, 11, 36)]);

    let symbols = lsp.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri } }),
    );
    let campaign = &symbols[0];
    assert_eq!(campaign["name"], "Bienvenue 😀");
    let children: Vec<(&str, u64)> = campaign["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["kind"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        children,
        [
            ("Créer 😀 contact", 12),
            ("Booked", 24),
            ("Créer 😀 contact", 12)
        ]
    );
    assert_eq!(
        campaign["children"][0]["detail"],
        "POST http://crm.example.com/c?src=[Lead Source]"
    );
    assert_eq!(
        range(&campaign["children"][0]["selectionRange"]),
        (3, 12, 3, 30)
    );

    // Quick fixes on the webhook's lines.
    let actions = lsp.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri },
                "range": { "start": { "line": 4, "character": 0 }, "end": { "line": 6, "character": 40 } },
                "context": { "diagnostics": [] } }),
    );
    let fixes: Vec<(&str, Range, &str)> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let edit = &a["edit"]["changes"][uri.as_str()][0];
            (
                a["title"].as_str().unwrap(),
                range(&edit["range"]),
                edit["newText"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fixes,
        [
            ("use `https://`", (4, 13, 4, 17), "https"),
            ("change to `[Email]`", (5, 39, 5, 44), "Email"),
            (
                "read it with `secret(\"API_KEY\")`",
                (6, 27, 6, 35),
                "secret(\"API_KEY\")"
            ),
        ]
    );
    assert_eq!(actions[0]["kind"], "quickfix");
    assert_eq!(
        actions[0]["diagnostics"][0]["code"],
        "campaign::url::insecure"
    );

    let unknown = lsp.request_raw("textDocument/prepareCallHierarchy", json!({}));
    assert_eq!(unknown["error"]["code"], -32601);
    assert!(lsp.shutdown().success());
}

#[test]
fn check_reads_the_nearest_campaign_toml_and_flags_win() {
    let dir = workspace();
    let nested = dir.path().join("campaigns/2026");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::copy(
        dir.path().join("welcome.campaign"),
        nested.join("w.campaign"),
    )
    .unwrap();
    let codes = |args: &[&str]| -> Vec<String> {
        let out = support::campaign(dir.path(), args);
        let found: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        found
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_string())
            .collect()
    };
    let unknown = "campaign::merge::unknown_field".to_string();
    // From the file's folder up: the settings two levels above apply.
    assert!(codes(&["check", "campaigns/2026/w.campaign", "-f", "json"]).contains(&unknown));
    // --schema replaces them; --no-workspace ignores them.
    assert!(!codes(&[
        "check",
        "campaigns/2026/w.campaign",
        "-f",
        "json",
        "--schema",
        "Emial,First Name,Lead Source"
    ])
    .contains(&unknown));
    assert!(!codes(&[
        "check",
        "campaigns/2026/w.campaign",
        "-f",
        "json",
        "--no-workspace"
    ])
    .contains(&unknown));
    // A broken settings file stops the check, naming it.
    std::fs::write(dir.path().join("campaign.toml"), "contact = \"x.csv\"\n").unwrap();
    let out = support::campaign(dir.path(), &["check", "welcome.campaign"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = support::stderr(&out);
    assert!(
        stderr.contains("campaign.toml") && stderr.contains("unknown field `contact`"),
        "{stderr}"
    );
}

#[test]
fn a_changed_sample_is_read_again_and_closing_clears() {
    let dir = workspace();
    let (mut lsp, uri) = started(dir.path());
    let before = lsp.diagnostics(1);
    assert!(before
        .iter()
        .any(|d| d["code"] == "campaign::merge::unknown_field"));
    // The sample gains the field; saving any document makes the server look.
    std::fs::write(
        dir.path().join("samples/contacts.csv"),
        "First Name,Email,Emial,Lead Source\nJosé,a@example.org,b@example.org,web\n",
    )
    .unwrap();
    lsp.notify(
        "textDocument/didSave",
        json!({ "textDocument": { "uri": uri } }),
    );
    let after = lsp.diagnostics(1);
    assert!(
        after
            .iter()
            .all(|d| d["code"] != "campaign::merge::unknown_field"),
        "{after:#?}"
    );
    assert_eq!(after.len(), before.len() - 1);
    // A broken settings file is shown to the user, not swallowed.
    std::fs::write(dir.path().join("campaign.toml"), "contact = \"x.csv\"\n").unwrap();
    lsp.notify(
        "textDocument/didSave",
        json!({ "textDocument": { "uri": uri } }),
    );
    let shown = lsp.notification("window/showMessage");
    assert_eq!(shown["type"], 2);
    assert!(
        shown["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `contact`"),
        "{shown}"
    );
    lsp.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": uri } }),
    );
    loop {
        let published = lsp.notification("textDocument/publishDiagnostics");
        if published["version"].is_null() {
            assert_eq!(published["diagnostics"], json!([]));
            break;
        }
    }
    assert!(lsp.shutdown().success());
}

#[test]
fn formatting_is_campaign_fmt_as_one_edit() {
    let dir = workspace();
    let mut lsp = Lsp::start(dir.path());
    let caps = lsp.initialize();
    assert_eq!(caps["capabilities"]["documentFormattingProvider"], true);
    // Ends on a line with `😀` (two units) and `é`: the edit's end is 8.
    let messy = "campaign \"Fête 😀\" {\nwebhook \"Créer\" {\nurl \"https://x.example/[Email]\"\n    method   post\n}\n  note \"Olá 😀\"   // é\n} // 😀é";
    let uri = uri(&dir.path().join("messy.campaign"));
    lsp.open(&uri, messy);
    let format = |lsp: &mut Lsp, uri: &str| {
        lsp.request_raw(
            "textDocument/formatting",
            json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 4, "insertSpaces": true } }),
        )
    };
    let edits = format(&mut lsp, &uri)["result"].clone();
    assert_eq!(edits.as_array().unwrap().len(), 1);
    assert_eq!(range(&edits[0]["range"]), (0, 0, 6, 8));
    let formatted = campaign::fmt::format_source(messy).unwrap();
    assert_ne!(formatted, messy);
    assert_eq!(edits[0]["newText"], formatted.as_str());

    // Formatted already: no edits.
    let tidy = uri.replace("messy", "tidy");
    lsp.open(&tidy, &formatted);
    assert_eq!(format(&mut lsp, &tidy)["result"], json!([]));

    // A syntax error: not formatted, and the request says why.
    let broken = uri.replace("messy", "broken");
    lsp.open(&broken, "campaign \"B\" {\n    wait 2 dayz\n}\n");
    let failed = format(&mut lsp, &broken);
    assert_eq!(failed["error"]["code"], -32803);
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("not formatted: the file has syntax errors: line 2: "),
        "{message}"
    );
    assert!(lsp.shutdown().success());
}
