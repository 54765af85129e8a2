//! The dry run shows the requests a real run sends: the same method, URL,
//! headers (names, values, order) and body, byte for byte, but for what
//! depends on the run: the idempotency key (derived from the run id, the
//! dry run's own or the real run's), and the signature and its timestamp
//! (made at the moment of sending). Those are checked against their
//! definitions instead. The real run goes to a real server on 127.0.0.1.

mod support;

use std::collections::HashMap;

use campaign::request::{campaign_digest, dry_run_id, idempotency_key};
use support::{command, write, Server};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// A dry run's `webhook` line, its headers in the order shown.
#[derive(serde::Deserialize)]
struct Shown {
    contact: String,
    action: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    #[serde(default, deserialize_with = "in_order")]
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// A JSON object as its (name, value) pairs, in document order.
fn in_order<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of strings")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::new();
            while let Some(pair) = map.next_entry()? {
                pairs.push(pair);
            }
            Ok(pairs)
        }
    }
    d.deserialize_map(Pairs)
}

/// What the HTTP client adds on the wire, which no script controls.
const TRANSPORT: &[&str] = &["host", "content-length", "accept"];

#[test]
fn a_dry_run_shows_the_headers_and_bodies_a_real_run_sends() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let source = format!(
        r#"campaign "Same" {{
    webhook "Form" {{
        url "{form}"
        header "X-Source" = "[Source]"
        header "X-Fixed" = "fixed value"
        post "First_Name=[First Name]&Email=[Email]&note=a b+c"
    }}
    webhook "Json" {{
        url "{json}"
        method PUT
        json {{ "name": [First Name], "score": [Score | number], "tags": ["a", "b"] }}
        sign secret("SIGNING_SECRET")
    }}
    webhook "Get" {{
        url "{get}"
        method GET
        header "Accept-Language" = "fr"
    }}
    webhook "Typed" {{
        url "{typed}"
        header "Content-Type" = "text/plain; charset=utf-8"
        post "raw=[Email]"
    }}
}}
"#,
        form = server.url("/ok"),
        json = server.url("/things/[Contact ID]?src=[Source]"),
        get = server.url("/things/get?who=[First Name]"),
        typed = server.url("/ok"),
    );
    write(dir.path(), "c.campaign", &source);
    write(
        dir.path(),
        "c.csv",
        "Contact ID,First Name,Email,Source,Score\n7,José & Co,jose+crm@example.com,web form,42\n8,Bob,,,\n9,\"Ann \"\"A\"\"\",ann@example.com,ads,7.5\n",
    );
    write(dir.path(), "s.env", format!("SIGNING_SECRET={SECRET}\n"));
    let dry = command(
        dir.path(),
        &[
            "run",
            "c.campaign",
            "--contacts",
            "c.csv",
            "--dry-run",
            "--format",
            "ndjson",
            "--now",
            "2026-11-27T09:00:00Z",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(dry.status.code(), Some(0));
    let real = command(
        dir.path(),
        &[
            "run",
            "c.campaign",
            "--contacts",
            "c.csv",
            "--env-file",
            "s.env",
            "--journal",
            "run.journal",
            "--allow-private",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&real.stderr);
    assert_eq!(real.status.code(), Some(0), "{stderr}");
    let run_id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("run id: "))
        .expect("the summary names the run id");
    let dry_id = dry_run_id(&campaign_digest(&source));
    let steps = ["Form", "Json", "Get", "Typed"];

    let seen = server.seen();
    let by_key: HashMap<String, &support::Seen> = seen.iter().map(|s| (s.key(), s)).collect();
    assert_eq!(by_key.len(), 12, "3 contacts, 4 webhooks, one request each");
    let mut compared = 0;
    for line in String::from_utf8(dry.stdout).unwrap().lines() {
        let effect: Shown = serde_json::from_str(line).unwrap();
        if effect.action != "webhook" {
            continue;
        }
        let contact = effect.contact.as_str();
        let step = steps.iter().position(|s| effect.step == *s).unwrap() as u32;
        let real_key = idempotency_key(run_id, contact, step);
        let dry_key = idempotency_key(&dry_id, contact, step);
        let sent = by_key
            .get(&real_key)
            .unwrap_or_else(|| panic!("{contact}/{step} was not sent with {real_key}"));

        assert_eq!(effect.method, sent.method, "{line}");
        assert_eq!(
            effect.url,
            format!("http://{}{}", server.addr, sent.uri),
            "{line}"
        );
        assert_eq!(
            effect.body.as_deref().unwrap_or("").as_bytes(),
            &sent.body[..],
            "{line}"
        );
        // Headers: the same names in the same order, the same values but
        // for the key and the signature, which follow their definitions.
        let shown: Vec<(String, String)> = effect
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        let on_the_wire: Vec<(String, String)> = sent
            .headers
            .iter()
            .filter(|(n, _)| !TRANSPORT.contains(&n.as_str()))
            .cloned()
            .collect();
        let names = |h: &[(String, String)]| h.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&shown), names(&on_the_wire), "{line}");
        for ((name, shown), (_, sent_value)) in shown.iter().zip(&on_the_wire) {
            match name.as_str() {
                "idempotency-key" | "webhook-id" => {
                    assert_eq!(shown, &dry_key);
                    assert_eq!(sent_value, &real_key);
                }
                "webhook-timestamp" => {
                    assert_eq!(shown, "1795770000", "the dry run's --now");
                    assert!(sent_value.parse::<i64>().is_ok());
                }
                "webhook-signature" => {
                    assert_eq!(shown, "v1,***");
                    let ts = sent.header("webhook-timestamp").unwrap().parse().unwrap();
                    assert!(campaign::deliver::sign::verify(
                        SECRET, &real_key, ts, &sent.body, sent_value
                    ));
                }
                _ => assert_eq!(shown, sent_value, "{name} in {line}"),
            }
        }
        // The client adds only the transport headers.
        for (name, value) in &sent.headers {
            if TRANSPORT.contains(&name.as_str()) {
                match name.as_str() {
                    "accept" => assert_eq!(value, "*/*"),
                    "content-length" => assert_eq!(value, &sent.body.len().to_string()),
                    _ => assert_eq!(value, &server.addr.to_string()),
                }
            }
        }
        compared += 1;
    }
    assert_eq!(compared, 12);
}
