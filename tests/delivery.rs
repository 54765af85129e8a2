//! Real delivery against a real HTTP server on 127.0.0.1, through the real
//! binary: byte-exact requests, retries and backoff, Retry-After, timeouts,
//! 410, redirects, captures, signing, secrets and their redaction.

mod support;

use std::time::Duration;

use support::{campaign, hook, script, stderr, write, Case, Server};

const APP_ID: &str = "canary-app-id-1234";
const API_KEY: &str = "canary/key+with=odd&chars";

/// `campaign` with `contacts` in `c.csv`, run with the example's secrets set.
fn case(campaign: &str, contacts: &str) -> Case {
    Case::new(campaign, contacts)
        .env("ONTRAPORT_APP_ID", APP_ID)
        .env("ONTRAPORT_API_KEY", API_KEY)
}

#[test]
fn requests_are_byte_exact_with_secrets_and_idempotency_keys() {
    let server = Server::start();
    let body = hook(
        "Add contact note",
        &server.url("/ok"),
        "        header \"Api-Appid\" = secret(\"ONTRAPORT_APP_ID\")\n        header \"Api-Key\" = secret(\"ONTRAPORT_API_KEY\")\n        post \"id=0&data=Note inserted by webhook using new API.&author=1&contact_id=[Contact ID]&name=[First Name]\"\n",
    ) + &hook("Sync", &server.url("/things/[Contact ID]?src=[Source]"), "        method PUT\n        json { \"name\": [First Name], \"score\": [Score | number] }\n");
    let case = case(
        &script(&body),
        "Contact ID,First Name,Source,Score\n7,José & Co,web form,42\n8,Bob,,\n",
    );
    // The test server is on 127.0.0.1 and the URL merges contact data.
    let o = case.run(&["--allow-private"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = server.seen();
    assert_eq!(seen.len(), 4);
    let note = seen
        .iter()
        .find(|s| s.method == "POST" && s.body.ends_with(b"name=Jos%C3%A9+%26+Co"))
        .unwrap();
    assert_eq!(note.uri, "/ok");
    assert_eq!(
        String::from_utf8_lossy(&note.body),
        "id=0&data=Note+inserted+by+webhook+using+new+API.&author=1&contact_id=7&name=Jos%C3%A9+%26+Co"
    );
    assert_eq!(note.header("api-appid"), Some(APP_ID));
    assert_eq!(note.header("api-key"), Some(API_KEY));
    assert_eq!(
        note.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(note.key().starts_with("msg_"));
    let sync = seen
        .iter()
        .find(|s| s.method == "PUT" && s.uri.starts_with("/things/7"))
        .unwrap();
    assert_eq!(sync.uri, "/things/7?src=web%20form");
    assert_eq!(
        String::from_utf8_lossy(&sync.body),
        r#"{"name":"José & Co","score":42}"#
    );
    assert_eq!(sync.header("content-type"), Some("application/json"));
    let keys: std::collections::HashSet<String> = seen.iter().map(|s| s.key()).collect();
    assert_eq!(keys.len(), 4, "every request has its own key");
    let bob = seen
        .iter()
        .find(|s| s.uri.starts_with("/things/8"))
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&bob.body),
        r#"{"name":"Bob","score":null}"#
    );
}

#[test]
fn retries_5xx_with_backoff_and_the_same_key() {
    let server = Server::start();
    let case = case(
        &script(&hook(
            "W",
            &server.url("/fail/2"),
            "        retry 3\n        backoff 20ms\n",
        )),
        "Contact ID\n1\n",
    );
    let o = case.run(&["--out", "out.ndjson"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = server.seen();
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert!(
        seen.iter().all(|s| s.key() == seen[0].key()),
        "one key for every attempt"
    );
    // First delay 20ms ±20%, then 40ms ±20%.
    let gap1 = seen[1].at - seen[0].at;
    let gap2 = seen[2].at - seen[1].at;
    assert!(
        gap1 >= Duration::from_millis(16) && gap1 < Duration::from_millis(500),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(32) && gap2 < Duration::from_millis(600),
        "{gap2:?}"
    );
    let out = case.read("out.ndjson");
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["status"], "done");
    assert_eq!(line["attempts"].as_array().unwrap().len(), 3);
}

#[test]
fn gives_up_after_the_allowed_retries_and_never_retries_other_4xx() {
    let server = Server::start();
    let body = hook(
        "Always 500",
        &server.url("/fail/99"),
        "        retry 2\n        backoff 5ms\n        on failure continue\n",
    ) + &hook(
        "Bad request",
        &server.url("/status/400"),
        "        retry 5\n        backoff 5ms\n",
    );
    let case = case(&script(&body), "Contact ID\n1\n");
    let o = case.run(&["--out", "out.ndjson"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(server.count("/fail/99"), 3, "first try and 2 retries");
    assert_eq!(server.count("/status/400"), 1, "a 400 is not retried");
    let out = case.read("out.ndjson");
    assert!(
        out.contains("\"status\":\"failed\"") && out.contains("HTTP 400"),
        "{out}"
    );
}

#[test]
fn honours_retry_after_and_times_out_slow_servers() {
    let server = Server::start();
    let body = hook(
        "Throttled",
        &server.url("/throttle"),
        "        retry 1\n        backoff 5ms\n",
    ) + &hook(
        "Slow",
        &server.url("/slow/2000"),
        "        timeout 200ms\n        retry 1\n        backoff 5ms\n",
    );
    let case = case(&script(&body), "Contact ID\n1\n");
    let o = case.run(&["--out", "out.ndjson"]);
    assert_eq!(o.status.code(), Some(1));
    let seen = server.seen();
    let throttled: Vec<_> = seen.iter().filter(|s| s.uri == "/throttle").collect();
    assert_eq!(throttled.len(), 2);
    assert!(
        throttled[1].at - throttled[0].at >= Duration::from_millis(950),
        "Retry-After: 1 is honoured"
    );
    assert_eq!(server.count("/slow/2000"), 2, "a timeout is retried");
    let out = case.read("out.ndjson");
    assert!(out.contains("timed out"), "{out}");
}

#[test]
fn gone_marks_the_endpoint_dead_and_redirects_are_failures() {
    let server = Server::start();
    let body = hook(
        "Gone",
        &server.url("/status/410"),
        "        on failure continue\n",
    ) + &hook("Moved", &server.url("/status/302"), "");
    let case = case(&script(&body), "Contact ID\n1\n2\n3\n");
    let o = case.run(&["--concurrency", "1", "--out", "out.ndjson"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        server.count("/status/410"),
        1,
        "nothing more is sent to a dead endpoint"
    );
    assert_eq!(server.count("/status/302"), 3, "3xx is not retried");
    assert_eq!(server.count("/ok"), 0, "redirects are not followed");
    let out = case.read("out.ndjson");
    assert_eq!(out.lines().count(), 3);
    assert!(out.contains("410 Gone"));
}

#[test]
fn captures_feed_later_steps() {
    let server = Server::start();
    let body = hook("Create", &server.url("/capture"), "        capture [CRM ID] = json \"/id\"\n        capture [CRM Name] = json \"/data/name\"\n        capture [Where] = header \"Location\"\n")
        + &hook("Follow", &server.url("/things/[CRM ID]?name=[CRM Name]&at=[Where]"), "");
    let case = case(&script(&body), "Contact ID\n1\n");
    let o = case.run(&["--allow-private"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = server.seen();
    assert_eq!(seen[1].uri, "/things/42?name=Ada&at=%2Fthings%2F42");
}

#[test]
fn missing_secrets_stop_the_run_before_anything_is_sent() {
    let server = Server::start();
    let body = hook("W", &server.url("/ok"), "        header \"A\" = secret(\"FIRST_MISSING\")\n        header \"B\" = secret(\"SECOND_MISSING\")\n");
    let case = case(&script(&body), "Contact ID\n1\n");
    let o = case.run(&[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("FIRST_MISSING") && err.contains("SECOND_MISSING"),
        "{err}"
    );
    assert!(server.seen().is_empty());
    // An env file provides them.
    case.write(
        "secrets.env",
        "FIRST_MISSING=one\nexport SECOND_MISSING=\"two\"\n",
    );
    let o = case.run(&["--env-file", "secrets.env"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(server.seen()[0].header("b"), Some("two"));
}

#[test]
fn secrets_never_leak_even_when_the_server_echoes_them() {
    use base64::Engine as _;
    let server = Server::start();
    let body = hook(
        "Leaky",
        &server.url("/echo"),
        "        header \"Api-Key\" = secret(\"ONTRAPORT_API_KEY\")\n        header \"Authorization\" = \"Basic \" + secret(\"ONTRAPORT_APP_ID\")\n        retry 0\n",
    );
    let case = case(&script(&body), "Contact ID\n1\n");
    let o = case.run(&["--out", "out.ndjson", "--journal", "j.sqlite"]);
    assert_eq!(o.status.code(), Some(1));
    let report = case.campaign(&["report", "j.sqlite"]);
    let mut everything = o.stdout.clone();
    everything.extend(&o.stderr);
    everything.extend(&report.stdout);
    everything.extend(&report.stderr);
    for entry in std::fs::read_dir(case.path()).unwrap() {
        everything.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&everything);
    assert!(text.contains("HTTP 400"), "the failure is reported");
    for secret in [API_KEY, APP_ID] {
        let forms = [
            secret.to_string(),
            form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        ];
        for form in forms {
            assert!(!text.contains(&form), "secret leaked as {form:?}");
        }
    }
    // The canary campaign file itself never held the secret; the server did get it.
    assert_eq!(server.seen()[0].header("api-key"), Some(API_KEY));
}

#[test]
fn signs_the_standard_webhooks_way() {
    let server = Server::start();
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let case = case(
        &script(&hook(
            "Signed",
            &server.url("/ok"),
            "        json { \"email\": [Email] }\n        sign secret(\"SIGNING_SECRET\")\n",
        )),
        "Email\nada@example.com\n",
    );
    case.write("s.env", format!("SIGNING_SECRET={secret}\n"));
    let o = case.run(&["--env-file", "s.env"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = &server.seen()[0];
    let id = seen.header("webhook-id").unwrap();
    let ts: i64 = seen.header("webhook-timestamp").unwrap().parse().unwrap();
    let sig = seen.header("webhook-signature").unwrap();
    assert_eq!(id, seen.key(), "the message id is the idempotency key");
    assert!(campaign::deliver::sign::verify(
        secret, id, ts, &seen.body, sig
    ));
    assert_eq!(
        campaign::deliver::sign::sign(secret, id, ts, &seen.body).unwrap(),
        sig
    );
}

#[test]
fn contact_data_cannot_reach_private_addresses_without_opt_in() {
    let server = Server::start();
    let case = case(
        &script(&hook(
            "Dyn",
            "http://[Host]/ok",
            "        dynamic host\n        retry 0\n",
        )),
        &format!("Host\n{}\nlocalhost:{}\n", server.addr, server.addr.port()),
    );
    let o = case.run(&["--out", "out.ndjson"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        server.seen().is_empty(),
        "nothing reached the loopback server"
    );
    let out = case.read("out.ndjson");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("\"status\":\"failed\"") && l.contains("private"))
            .count(),
        2,
        "{out}"
    );
    let o = case.run(&["--allow-private"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_bad_contact_fails_alone() {
    let server = Server::start();
    let case = Case::with_contacts(
        &script(&hook(
            "H",
            &server.url("/ok"),
            "        header \"X-Team\" = \"[Team]\"\n",
        )),
        "c.ndjson",
        "{\"Team\": \"a\"}\n{\"Team\": \"b\\r\\nX-Evil: 1\"}\n{\"Team\": \"c\"}\n",
    );
    let o = case.run(&["--out", "out.ndjson"]);
    assert_eq!(o.status.code(), Some(1));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.header("x-evil").is_none()));
}

#[test]
fn large_response_bodies_are_capped() {
    let server = Server::start();
    let case = case(
        &script(&hook("Big", &server.url("/big"), "")),
        "Contact ID\n1\n",
    );
    let o = case.run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn journal_resume_sends_nothing_twice_and_report_summarises() {
    let server = Server::start();
    let body = hook("First", &server.url("/ok"), "")
        + "    wait 1 day\n"
        + &hook("Second", &server.url("/ok"), "");
    let case = case(&script(&body), "Contact ID\n1\n2\n");
    let args = ["--journal", "j.sqlite"];
    let o = case.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 waiting"), "{}", stderr(&o));
    assert_eq!(server.seen().len(), 2);
    // Again: both are still waiting; nothing is re-sent.
    let o = case.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        server.seen().len(),
        2,
        "a 2xx'd request is never sent again"
    );
    let report = case.campaign(&["report", "j.sqlite"]);
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("First"), "{text}");
}

#[test]
fn connection_resets_are_retried_then_reported() {
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // A raw listener that reads the request and drops the connection without
    // answering, for every connection it gets.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buf);
            drop(stream);
        }
    });
    let url = format!("http://{addr}/reset");
    let case = case(
        &script(&hook(
            "Reset",
            &url,
            "        retry 2\n        backoff 5ms\n",
        )),
        "Contact ID\n1\n",
    );
    let o = case.run(&["--out", "out.ndjson"]);
    assert_eq!(o.status.code(), Some(1));
    let out = case.read("out.ndjson");
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["status"], "failed");
    assert_eq!(
        line["attempts"].as_array().unwrap().len(),
        3,
        "a reset is retried: {line}"
    );
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{line}"
    );
    assert!(accepted.load(Ordering::SeqCst) >= 3);
}

/// The figures after `latency:` and per step, from a summary or a report.
fn latency_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            if l.starts_with("latency:") {
                Some(l.to_string())
            } else {
                // `step "W": p95 ...` in the summary, `"W": p95 ...` in the report.
                l.strip_prefix("step ")
                    .or(Some(l))
                    .filter(|l| l.starts_with('"') && l.contains(": p95 "))
                    .map(str::to_string)
            }
        })
        .collect()
}

#[test]
fn the_summary_and_the_report_compute_latency_alike() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    // Failed attempts count too: a flaky endpoint, retried at once, and
    // attempts that get no response at all (nothing listens on port 1).
    let body = hook(
        "Flaky",
        &server.url("/flaky/40"),
        "        retry 3\n        backoff 1ms\n",
    ) + &hook("Slow", &server.url("/slow/3"), "")
        + &hook(
            "Refused",
            "http://127.0.0.1:1/x",
            "        retry 1\n        backoff 1ms\n        on failure continue\n",
        );
    write(dir.path(), "c.campaign", script(&body));
    let contacts: String = (0..60).map(|i| format!("{i}\n")).collect();
    write(dir.path(), "c.csv", format!("Contact ID\n{contacts}"));
    let o = campaign(
        dir.path(),
        &[
            "run",
            "c.campaign",
            "--contacts",
            "c.csv",
            "--journal",
            "run.journal",
        ],
    );
    let summary = stderr(&o);
    let report = campaign(dir.path(), &["report", "run.journal"]);
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    let from_summary = latency_lines(&summary);
    assert_eq!(from_summary.len(), 4, "{summary}");
    assert_eq!(from_summary, latency_lines(&report), "{summary}\n{report}");
    // Both count every attempt: those the server saw, and two per contact
    // that reached the refused endpoint.
    let attempts = |text: &str| {
        let line = text.lines().find(|l| l.starts_with("requests:")).unwrap();
        let count = line.rsplit('(').next().unwrap();
        count
            .trim_end_matches(" attempts)")
            .parse::<usize>()
            .unwrap()
    };
    let reached_refused = stderr(&o)
        .lines()
        .find_map(|l| l.strip_prefix("  step \"Refused\": "))
        .map(|l| {
            l.rsplit('(')
                .next()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .unwrap();
    assert_eq!(attempts(&summary), server.seen().len() + reached_refused);
    assert_eq!(attempts(&summary), attempts(&report));
}

/// Contacts reach the engine in batches (`deliver::BATCH`, 64): whatever
/// the count around a batch's size, and with a refused record inside a
/// batch, every contact runs exactly once and in full.
#[test]
fn every_contact_runs_once_whatever_the_count_around_a_batch() {
    let server = Server::start();
    for count in [1usize, 63, 64, 65, 129, 200] {
        let mut csv = String::from("Contact ID\n");
        for i in 1..=count {
            csv.push_str(&format!("{i}\n"));
        }
        // A repeated id, refused on its own, in the middle of a batch.
        csv.push_str("1\n");
        let before = server.seen().len();
        let case = Case::new(
            &script(&hook(
                "H",
                &server.url("/ok"),
                "        post \"id=[Contact ID]\"\n",
            )),
            &csv,
        );
        let o = case.run(&["--concurrency", "3", "--out", "out.ndjson"]);
        assert_eq!(o.status.code(), Some(1), "{count}: {}", stderr(&o));
        let seen = server.seen();
        let mut ids: Vec<String> = seen[before..]
            .iter()
            .map(|s| String::from_utf8_lossy(&s.body).into_owned())
            .collect();
        ids.sort();
        let mut expected: Vec<String> = (1..=count).map(|i| format!("id={i}")).collect();
        expected.sort();
        assert_eq!(ids, expected, "{count} contacts");
        let results = case.results();
        assert_eq!(results.len(), count + 1, "{count}");
        let failed = results.iter().filter(|r| r["status"] == "failed").count();
        assert_eq!(failed, 1, "{count}: only the repeated id fails");
    }
}
