//! Contact data never chooses where a request goes.
//!
//! Class: every spelling a WHATWG URL parser reads differently from the text
//! (extra slashes and backslashes after `http:`, userinfo, ports, IPv6
//! brackets, `%2f`, dots, tabs and newlines) and every merged value (slashes,
//! backslashes, `@`, `:`, `%2f`, `.`, `..`, `#`, `?`, tabs, newlines, IP
//! literals). For random URL templates and random values, through the real
//! compiler and dry run: either `check` refuses the template, or every URL
//! the dry run shows has the template's literal origin, keeps the literal
//! path before the first merge, and loses no segment, or the contact fails.
//! Then the real binary against a real server on 127.0.0.1: templates whose
//! merge the parser reads as host are refused by `check`, and a URL that
//! merges contact data cannot reach a private address without
//! `--allow-private`.

mod support;

use campaign::contacts::ContactsFormat;
use campaign::diagnostics::SourceFile;
use campaign::run::dry_run::{DryRun, OutputFormat};
use proptest::prelude::*;
use support::{campaign as run, stderr, write, Case, Server};

/// A piece of a generated URL template.
#[derive(Debug, Clone)]
enum Tpl {
    Text(String),
    /// Field `F{n}`, with `| raw` or not.
    Merge(usize, bool),
}

/// Literal text as a campaign string literal's contents.
fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn source(template: &[Tpl], dynamic_host: bool) -> String {
    let mut url = String::new();
    for piece in template {
        match piece {
            Tpl::Text(t) => url.push_str(&escape(t)),
            Tpl::Merge(n, false) => url.push_str(&format!("[F{n}]")),
            Tpl::Merge(n, true) => url.push_str(&format!("[F{n} | raw]")),
        }
    }
    format!(
        "campaign \"P\" {{\n    webhook \"W\" {{\n        url \"{url}\"\n{}    }}\n}}\n",
        if dynamic_host {
            "        dynamic host\n"
        } else {
            ""
        }
    )
}

/// What the dry run did for one contact.
#[derive(Debug, PartialEq)]
enum Outcome {
    Sent(String),
    Failed(String),
}

/// Dry-runs `program` for each set of values (`F0`, `F1`, `F2`).
fn dry(program: &campaign::compile::Program, contacts: &[[String; 3]]) -> Vec<Outcome> {
    let records: Vec<serde_json::Value> = contacts
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::json!({"Contact ID": i.to_string(), "F0": v[0], "F1": v[1], "F2": v[2]})
        })
        .collect();
    let input = serde_json::to_vec(&records).unwrap();
    let mut out = Vec::new();
    // Only the outcomes matter here, not where failures point.
    let source = SourceFile::new("", "");
    DryRun::new(program, &source, OutputFormat::Ndjson, 0)
        .run(&input[..], ContactsFormat::Json, &mut out)
        .unwrap();
    let mut outcomes = Vec::new();
    for line in String::from_utf8(out).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["action"].as_str() {
            Some("webhook") => outcomes.push(Outcome::Sent(v["url"].as_str().unwrap().into())),
            Some("error") => outcomes.push(Outcome::Failed(v["code"].as_str().unwrap().into())),
            _ => {}
        }
    }
    assert_eq!(outcomes.len(), contacts.len(), "one outcome per contact");
    outcomes
}

fn literal() -> impl Strategy<Value = String> {
    let common = prop::sample::select(vec![
        "/",
        "/",
        "/a/",
        "a",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "?",
        "#",
        "x=",
        "&",
        "@",
        ":",
        "\\",
        "//",
        "api",
        "h.example",
    ]);
    let odd = prop::sample::select(vec![
        "///",
        "\\\\",
        ":8080",
        ":443",
        "[::1]",
        "[",
        "]",
        "%2F",
        "\t",
        "\n",
        "\r",
        " ",
        "127.0.0.1",
        "169.254.169.254",
        "localhost",
        "%40",
        "user:pw@",
        "|",
        "%",
        "qzz0z",
        "http:",
        "https:",
        "0x7f.1",
        "\u{0}",
        "é",
    ]);
    prop::collection::vec(prop_oneof![6 => common, 1 => odd], 0..4).prop_map(|parts| parts.concat())
}

fn template() -> impl Strategy<Value = Vec<Tpl>> {
    let tricky = prop::sample::select(vec![
        "http://",
        "https://",
        "http:///",
        "https:////",
        "http:/",
        "http:",
        "https:\\\\",
        "http:\\/",
        "HTTPS://",
        "",
        "ht",
        "https://h.example",
    ]);
    let with_path = prop::sample::select(vec![
        "https://h.example/",
        "https://h.example\\",
        "https://u@h.example:8443/a/",
        "http://[::1]:80/",
        "http://127.0.0.1:9/p/",
        "HTTPS://H.EXAMPLE:443/x/y/",
    ]);
    let scheme = prop_oneof![2 => tricky, 3 => with_path];
    let piece = prop_oneof![
        literal().prop_map(Tpl::Text),
        (0..3usize, any::<bool>()).prop_map(|(n, raw)| Tpl::Merge(n, raw)),
    ];
    (scheme, prop::collection::vec(piece, 0..7)).prop_map(|(scheme, mut rest)| {
        rest.insert(0, Tpl::Text(scheme.to_string()));
        rest
    })
}

fn value() -> impl Strategy<Value = String> {
    let fragment = prop::sample::select(vec![
        "/",
        "\\",
        "@",
        ":",
        "%2f",
        "%2F",
        ".",
        "..",
        "%2e",
        "%2E%2e",
        ".%2e",
        "#",
        "?",
        "\t",
        "\n",
        "\r",
        " ",
        "127.0.0.1",
        "169.254.169.254",
        "[::1]",
        "::1",
        "[",
        "]",
        "evil.example",
        "x",
        "",
        "80",
        "a/../..",
        "\\..\\..",
        "..\\..",
        ".\t.",
        "&",
        "=",
        "|",
        "%",
        "\u{0}",
        "é",
        "localhost:1",
    ]);
    prop_oneof![
        3 => fragment.clone().prop_map(str::to_string),
        3 => prop::collection::vec(fragment, 0..5).prop_map(|parts| parts.concat()),
        1 => any::<String>(),
    ]
}

/// Neutral values: letters only, found again in the URL as they are.
fn neutral() -> [String; 3] {
    ["nva".into(), "nvb".into(), "nvc".into()]
}

fn head(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    u[..url::Position::BeforePath].to_string()
}

fn path(url: &str) -> String {
    url::Url::parse(url).unwrap().path().to_string()
}

/// How the cases of a property run went, so a generator that stopped
/// reaching the interesting cases fails the test instead of passing empty.
#[derive(Default, Debug)]
struct Tally {
    refused: usize,
    failed: usize,
    sent: usize,
}

/// A property of one case: the template, its campaign source, and what the
/// dry run did with neutral values, then with the generated ones.
type Property = fn(&[Tpl], &str, &[Outcome]) -> Result<(), TestCaseError>;

fn run_property(name: &str, dynamic_host: bool, property: Property) -> Tally {
    let tally = std::cell::RefCell::new(Tally::default());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(
        &(template(), [value(), value(), value()]),
        |(template, values)| {
            let src = source(&template, dynamic_host);
            let Ok(compiled) = campaign::compile(&src, None) else {
                tally.borrow_mut().refused += 1;
                return Ok(());
            };
            let reference = if dynamic_host {
                ["nva.example".to_string(), "nvb".into(), "nvc".into()]
            } else {
                neutral()
            };
            let outcomes = dry(&compiled.program, &[reference, values]);
            match &outcomes[1] {
                Outcome::Sent(_) => tally.borrow_mut().sent += 1,
                Outcome::Failed(_) => tally.borrow_mut().failed += 1,
            }
            property(&template, &src, &outcomes)
        },
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let tally = tally.into_inner();
    eprintln!("{name}: {tally:?}");
    tally
}

/// `check` refuses the template, or the URL sent has the template's origin
/// and literal path prefix, and (without raw merges) as many segments.
fn origin_and_path_kept(
    template: &[Tpl],
    src: &str,
    outcomes: &[Outcome],
) -> Result<(), TestCaseError> {
    // Neutral values always go through.
    let Outcome::Sent(reference) = &outcomes[0] else {
        return Err(TestCaseError::fail(format!(
            "neutral values failed: {outcomes:?}\n{src}"
        )));
    };
    let Outcome::Sent(sent) = &outcomes[1] else {
        return Ok(()); // the contact failed: nothing sent
    };
    let parsed = url::Url::parse(sent).unwrap();
    // What the sender parses is what the dry run shows.
    prop_assert_eq!(parsed.as_str(), sent.as_str());
    // The origin (and user name) never depend on contact data.
    prop_assert_eq!(head(sent), head(reference), "{}", src);
    // The literal path before the first merge is kept.
    let reference_path = path(reference);
    let first_merge = ["nva", "nvb", "nvc"]
        .iter()
        .filter_map(|v| reference_path.find(v))
        .min()
        .unwrap_or(reference_path.len());
    let prefix = &reference_path[..first_merge];
    let sent_path = path(sent);
    prop_assert!(
        sent_path.starts_with(prefix),
        "{} lost the literal prefix {} of {}\n{}",
        sent,
        prefix,
        reference,
        src
    );
    // Without raw merges no value adds or removes a segment.
    let raw = template.iter().any(|p| matches!(p, Tpl::Merge(_, true)));
    if !raw {
        prop_assert_eq!(
            sent_path.matches('/').count(),
            reference_path.matches('/').count(),
            "{} vs {}\n{}",
            sent,
            reference,
            src
        );
    }
    Ok(())
}

/// With `dynamic host`: the scheme and user name never change, a host is
/// always there, and the literal path prefix is kept.
fn scheme_and_path_kept(_: &[Tpl], src: &str, outcomes: &[Outcome]) -> Result<(), TestCaseError> {
    let (Outcome::Sent(reference), Outcome::Sent(sent)) = (&outcomes[0], &outcomes[1]) else {
        return Ok(());
    };
    let (reference, sent) = (
        url::Url::parse(reference).unwrap(),
        url::Url::parse(sent).unwrap(),
    );
    prop_assert_eq!(
        &sent[..url::Position::BeforeHost],
        &reference[..url::Position::BeforeHost],
        "{}",
        src
    );
    prop_assert!(sent.host_str().is_some_and(|h| !h.is_empty()));
    let first_merge = ["nva", "nvb", "nvc"]
        .iter()
        .filter_map(|v| reference.path().find(v))
        .min()
        .unwrap_or(reference.path().len());
    prop_assert!(
        sent.path().starts_with(&reference.path()[..first_merge]),
        "{}",
        src
    );
    Ok(())
}

#[test]
fn check_refuses_or_the_origin_and_path_prefix_are_the_templates() {
    let tally = run_property("fixed host", false, origin_and_path_kept);
    // The generator must reach all three outcomes, often.
    assert!(
        tally.refused >= 300 && tally.failed >= 60 && tally.sent >= 600,
        "{tally:?}"
    );
}

#[test]
fn dynamic_hosts_never_change_the_scheme_user_name_or_path_prefix() {
    let tally = run_property("dynamic host", true, scheme_and_path_kept);
    assert!(tally.sent >= 600 && tally.failed >= 150, "{tally:?}");
}

fn refused(template: &str, dynamic_host: bool) -> bool {
    campaign::compile(&source(&parse_template(template), dynamic_host), None).is_err()
}

/// `{}` is a merge of `F0`, `{raw}` a raw one.
fn parse_template(template: &str) -> Vec<Tpl> {
    let mut out = Vec::new();
    for (i, text) in template.split('{').enumerate() {
        let text = if i == 0 {
            text
        } else {
            let (merge, rest) = text.split_once('}').unwrap();
            out.push(Tpl::Merge(0, merge == "raw"));
            rest
        };
        out.push(Tpl::Text(text.to_string()));
    }
    out
}

#[test]
fn merges_a_parser_reads_as_host_are_refused_however_the_url_is_spelled() {
    for t in [
        "http:///{}",
        "https:////{}/x",
        "http:/{}",
        "http:{}",
        "https:\\\\{}\\x",
        "http:\\/{}",
        "https://{}/x",
        "https://{}@h.example/x",
        "https://u:{}@h.example/x",
        "https://h.example:{}/x",
        "https://h.{}/x",
        "{}://h.example/x",
        "https://h.example{}/x",
        "https://[::1{}]/x",
    ] {
        assert!(refused(t, false), "{t} must be refused");
    }
    // With `dynamic host` the host and port may be merged, never the
    // scheme or the user name.
    assert!(!refused("http:///{}", true));
    assert!(!refused("https://{}:{}/x", true));
    assert!(refused("{}://h.example/x", true));
    assert!(refused("https://{}@h.example/x", true));
    for t in [
        "https://h.example/{}",
        "https://h.example\\{}",
        "https://h.example?{}",
        "https://h.example#{}",
        "https://u@h.example:8443/{raw}",
    ] {
        assert!(!refused(t, false), "{t} must be accepted");
    }
}

#[test]
fn raw_dot_segments_in_any_spelling_fail_the_contact() {
    let compiled = campaign::compile(
        &source(
            &parse_template("https://h.example/api/v1/{raw}/notes"),
            false,
        ),
        None,
    )
    .unwrap();
    let bad = [
        "\\..\\..", "..\\..", ".\t.", "a/../..", "%2e%2E", ".", "x?", "x#",
    ];
    let contacts: Vec<[String; 3]> = bad
        .iter()
        .map(|v| [v.to_string(), String::new(), String::new()])
        .collect();
    for (value, outcome) in bad.iter().zip(dry(&compiled.program, &contacts)) {
        assert_eq!(
            outcome,
            Outcome::Failed("campaign::run::url".into()),
            "{value:?}"
        );
    }
    let fine = dry(
        &compiled.program,
        &[["a/b".into(), String::new(), String::new()]],
    );
    assert_eq!(
        fine,
        vec![Outcome::Sent("https://h.example/api/v1/a/b/notes".into())]
    );
}

#[test]
fn an_encoded_dot_segment_never_shortens_the_path() {
    let compiled = campaign::compile(
        &source(&parse_template("https://h.example/files/{}"), false),
        None,
    )
    .unwrap();
    let outcomes = dry(
        &compiled.program,
        &[
            [".".into(), String::new(), String::new()],
            ["..".into(), String::new(), String::new()],
            ["".into(), String::new(), String::new()],
            ["...".into(), String::new(), String::new()],
        ],
    );
    assert_eq!(
        outcomes,
        vec![
            Outcome::Failed("campaign::run::url".into()),
            Outcome::Failed("campaign::run::url".into()),
            Outcome::Sent("https://h.example/files/".into()),
            Outcome::Sent("https://h.example/files/...".into()),
        ]
    );
}

#[test]
fn the_binary_refuses_extra_slash_hosts_before_sending_anything() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    for url in ["http:///[Host]/ok", "http:/[Host]/ok", "http:\\\\[Host]/ok"] {
        write(
            dir.path(),
            "c.campaign",
            format!(
                "campaign \"T\" {{\n    webhook \"W\" {{\n        url \"{}\"\n        retry 0\n    }}\n}}\n",
                url.replace('\\', "\\\\")
            ),
        );
        write(dir.path(), "c.csv", format!("Host\n{}\n", server.addr));
        let o = run(dir.path(), &["check", "c.campaign"]);
        assert_eq!(o.status.code(), Some(1), "{url}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("campaign::url::merge_in_authority"),
            "{url}: {err}"
        );
        let o = run(
            dir.path(),
            &[
                "run",
                "c.campaign",
                "--contacts",
                "c.csv",
                "--allow-private",
            ],
        );
        assert_ne!(o.status.code(), Some(0), "{url}");
    }
    assert!(server.seen().is_empty(), "nothing reached the server");
}

#[test]
fn a_url_that_merges_contact_data_cannot_reach_a_private_address_without_opt_in() {
    let server = Server::start();
    let port = server.addr.port();
    let case = Case::new(
        &format!(
            "campaign \"T\" {{\n    webhook \"Ip\" {{\n        url \"http://127.0.0.1:{port}/things/[Contact ID]\"\n        retry 0\n        on failure continue\n    }}\n    webhook \"Name\" {{\n        url \"http://localhost:{port}/things/[Contact ID]\"\n        retry 0\n        on failure continue\n    }}\n    webhook \"Literal\" {{\n        url \"http://127.0.0.1:{port}/ok\"\n        retry 0\n    }}\n}}\n"
        ),
        "Contact ID\n7\n",
    );
    let o = case.run(&["--out", "out.ndjson"]);
    let out = case.read("out.ndjson");
    let uris: Vec<String> = server.seen().iter().map(|s| s.uri.clone()).collect();
    // Only the literal URL, which merges nothing, was sent.
    assert_eq!(uris, vec!["/ok".to_string()], "{out}");
    assert!(out.contains("127.0.0.1 is not a public address"), "{out}");
    assert!(
        out.contains("localhost resolves only to addresses that are not public"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(0), "`on failure continue`");
    let o = case.run(&["--allow-private"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let uris: Vec<String> = server.seen().iter().map(|s| s.uri.clone()).collect();
    assert_eq!(uris[1..], ["/things/7", "/things/7", "/ok"]);
}

#[test]
fn a_raw_dot_segment_never_reaches_the_server() {
    let server = Server::start();
    let case = Case::with_contacts(
        &format!(
            "campaign \"T\" {{\n    webhook \"W\" {{\n        url \"{}\"\n        retry 0\n    }}\n}}\n",
            server.url("/things/[P | raw]")
        ),
        "c.json",
        r#"[{"Contact ID": "1", "P": "..\\.."}, {"Contact ID": "2", "P": ".\t."}, {"Contact ID": "3", "P": "../x"}, {"Contact ID": "4", "P": "42"}]"#,
    );
    let o = case.run(&["--allow-private", "--out", "out.ndjson"]);
    assert_eq!(o.status.code(), Some(1));
    let uris: Vec<String> = server.seen().iter().map(|s| s.uri.clone()).collect();
    assert_eq!(uris, vec!["/things/42".to_string()]);
    let out = case.read("out.ndjson");
    assert_eq!(
        out.matches("a merged field changed the fixed part of the path `/things/[…]`")
            .count(),
        3,
        "{out}"
    );
}

/// The sender's own check, on the URL it is handed, whatever built it.
#[test]
fn the_sender_refuses_a_url_that_left_its_template_and_guards_merged_urls() {
    use campaign::deliver::http::{Http, Outgoing};
    use campaign::url_template::{analyse, Piece};
    let server = Server::start();
    let template = format!("http://127.0.0.1:{}/things/", server.addr.port());
    let shape = analyse(&[Piece::Text(&template), Piece::Merge { raw: false }])
        .unwrap()
        .shape(false);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A GET webhook with no headers, whose URL the test chooses.
    let program = campaign::compile(
        "campaign \"T\" {\n webhook \"W\" {\n  url \"https://x.example.com\"\n  method GET\n }\n}\n",
        None,
    )
    .unwrap()
    .program;
    let send = |http: &Http, url: &str| {
        let request = campaign::vm::Request {
            url: url.to_string(),
            ..Default::default()
        };
        let request = campaign::request::build(&program.webhooks[0], &request, "msg_k", None);
        runtime.block_on(http.send(&Outgoing {
            request: &request,
            timeout: std::time::Duration::from_secs(5),
            shape: Some(&shape),
            capture_headers: &[],
            parsed: None,
        }))
    };
    let open = Http::new(1, true).unwrap();
    let elsewhere = format!("http://localhost:{}/things/1", server.addr.port());
    let reply = send(&open, &elsewhere);
    assert!(
        reply
            .failure
            .as_ref()
            .is_some_and(|f| f.message.contains("where the template fixes")),
        "{reply:?}"
    );
    let shortened = format!("http://127.0.0.1:{}/x", server.addr.port());
    assert!(send(&open, &shortened).failure.is_some());
    assert!(server.seen().is_empty(), "nothing was sent");
    let guarded = Http::new(1, false).unwrap();
    let fine = format!("{template}1");
    let reply = send(&guarded, &fine);
    assert!(
        reply
            .failure
            .as_ref()
            .is_some_and(|f| f.message.contains("not a public address")),
        "{reply:?}"
    );
    assert!(server.seen().is_empty(), "the guard sent nothing");
    assert_eq!(send(&open, &fine).status, Some(200));
    assert_eq!(server.seen().len(), 1);
}

/// A URL parsed once for a webhook stands in for the request's URL only
/// when the two texts are the same: any other URL is parsed and sent as is.
#[test]
fn a_parsed_url_stands_in_only_for_its_own_text() {
    use campaign::deliver::http::{Http, Outgoing, ParsedUrl};
    let server = Server::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let program = campaign::compile(
        "campaign \"T\" {\n webhook \"W\" {\n  url \"https://x.example.com\"\n  method GET\n }\n}\n",
        None,
    )
    .unwrap()
    .program;
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let parsed = ParsedUrl::parse(&format!("{base}/fixed")).unwrap();
    let http = Http::new(1, true).unwrap();
    for path in ["/fixed", "/other", "/fixed?q=1", "/fixed"] {
        let request = campaign::vm::Request {
            url: format!("{base}{path}"),
            ..Default::default()
        };
        let request = campaign::request::build(&program.webhooks[0], &request, "msg_k", None);
        let reply = runtime.block_on(http.send(&Outgoing {
            request: &request,
            timeout: std::time::Duration::from_secs(5),
            shape: None,
            capture_headers: &[],
            parsed: Some(&parsed),
        }));
        // The test server answers 404 to these paths: what matters is
        // which path reached it.
        assert!(reply.status.is_some(), "{path}: {reply:?}");
    }
    let uris: Vec<String> = server.seen().iter().map(|s| s.uri.clone()).collect();
    assert_eq!(uris, ["/fixed", "/other", "/fixed?q=1", "/fixed"]);
    assert!(ParsedUrl::parse("not a url").is_none());
}
