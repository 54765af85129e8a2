//! What a real run must never do, through the real binary against real
//! servers on 127.0.0.1: write over its own inputs, leak part of a secret
//! that straddles a cut of an error body, or send again a request a slow
//! server has already accepted.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use support::{hook, script, serve, stderr, Case, Server};

/// Requests seen per path, by a server whose answers these tests shape.
#[derive(Default)]
struct Seen {
    paths: Mutex<HashMap<String, usize>>,
}

impl Seen {
    fn count(&self, path: &str) -> usize {
        self.paths.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// A server on 127.0.0.1 with answers of its own:
/// - `/stall/{ms}`: 200 with the first bytes of a JSON body (and a
///   `Location` header), then nothing for `ms`, then the rest: a slowloris
///   body after a 2xx;
/// - `/huge`: 200 with a 100 KiB JSON body;
/// - `/leak/{n}`: 500 whose body is `n` `#`, the request's `X-Token`
///   header, then more `#`: a server that echoes a secret where the error
///   text is cut;
/// - anything else: 200.
struct Shaped {
    url: String,
    seen: Arc<Seen>,
    _runtime: tokio::runtime::Runtime,
}

impl Shaped {
    fn start() -> Shaped {
        let seen = Arc::new(Seen::default());
        let app = axum::Router::new()
            .route("/stall/:ms", any(stall))
            .route("/huge", any(huge))
            .route("/leak/:n", any(leak))
            .fallback(any(ok))
            .layer(axum::middleware::from_fn_with_state(seen.clone(), count))
            .with_state(seen.clone());
        let (addr, runtime) = serve(app);
        Shaped {
            url: format!("http://{addr}"),
            seen,
            _runtime: runtime,
        }
    }
}

async fn count(
    State(seen): State<Arc<Seen>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    *seen
        .paths
        .lock()
        .unwrap()
        .entry(request.uri().path().to_string())
        .or_default() += 1;
    next.run(request).await
}

async fn ok() -> Response {
    (StatusCode::OK, "ok").into_response()
}

async fn stall(UrlPath(ms): UrlPath<u64>) -> Response {
    let chunks = futures_util::stream::unfold(0, move |step| async move {
        match step {
            0 => Some((Ok::<_, std::io::Error>(Bytes::from("{\"id\": 4")), 1)),
            1 => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Some((Ok(Bytes::from("2}")), 2))
            }
            _ => None,
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    response
        .headers_mut()
        .insert("location", "/things/42".parse().unwrap());
    response
}

async fn huge() -> Response {
    let body = format!("{{\"id\": 42, \"pad\": \"{}\"}}", "x".repeat(100 * 1024));
    (StatusCode::OK, body).into_response()
}

async fn leak(UrlPath(n): UrlPath<usize>, headers: HeaderMap) -> Response {
    let token = headers
        .get("x-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = format!("{}{token}{}", "#".repeat(n), "#".repeat(50));
    (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}

/// A 2xx whose body stalls past the timeout: the receiver accepted the
/// request, so it is delivered and never sent again; only a `capture ...
/// = json`, which needs the body, fails its step.
#[test]
fn a_slow_body_after_a_2xx_is_delivered_once() {
    let server = Shaped::start();
    let stall = format!("{}/stall/8000", server.url);
    let slow = "        timeout 1s\n        retry 3\n        backoff 5ms\n";
    // No JSON capture: the body is not needed; the contact goes on.
    let body = hook("Notify", &stall, slow) + &hook("Next", &format!("{}/next", server.url), "");
    let case = Case::new(&script(&body), "Contact ID\n1\n");
    // The last part merges a field into a URL to 127.0.0.1: such requests
    // go through the private-address guard.
    let args = ["--out", "out.ndjson", "--allow-private"];
    let o = case.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(server.seen.count("/stall/8000"), 1, "not sent again");
    assert_eq!(server.seen.count("/next"), 1);
    let line = &case.results()[0];
    assert_eq!(line["status"], "done", "{line}");
    assert_eq!(line["attempts"][0]["status"], 200, "{line}");
    assert!(
        line["attempts"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "the attempt says what happened: {line}"
    );

    // A JSON capture: the step fails, with the request not sent again,
    // neither by a retry nor by a resume; a header capture still works.
    let body = hook(
        "Create",
        &stall,
        &format!("{slow}        capture [CRM ID] = json \"/id\"\n        capture [Where] = header \"Location\"\n"),
    ) + &hook("Use", &format!("{}/use/[CRM ID]", server.url), "");
    case.write("c.campaign", script(&body));
    let journaled = [
        "--out",
        "out.ndjson",
        "--journal",
        "j.sqlite",
        "--allow-private",
    ];
    let o = case.run(&journaled);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(server.seen.count("/stall/8000"), 2, "one more: this run's");
    let line = &case.results()[0];
    assert_eq!(line["status"], "failed", "{line}");
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("did not arrive whole"), "{error}");
    assert!(error.contains("not sent again"), "{error}");
    assert_eq!(line["attempts"].as_array().unwrap().len(), 1, "{line}");
    let o = case.run(&journaled);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        server.seen.count("/stall/8000"),
        2,
        "a resume does not resend it"
    );
    assert_eq!(case.results()[0]["status"], "skipped");

    // `on failure continue` goes on, without the captured value.
    let body = hook(
        "Create",
        &stall,
        &format!("{slow}        capture [CRM ID] = json \"/id\"\n        on failure continue\n"),
    ) + &hook("Use", &format!("{}/use/x[CRM ID]", server.url), "");
    case.write("c.campaign", script(&body));
    let o = case.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(server.seen.count("/stall/8000"), 3);
    assert_eq!(server.seen.count("/use/x"), 1, "sent without the capture");
    assert_eq!(server.seen.count("/use/x42"), 0);
}

/// The same for a body longer than the 64 KiB read: a JSON capture cannot
/// read it, and the request is not sent again.
#[test]
fn a_2xx_body_too_long_to_capture_from_fails_the_step_not_the_delivery() {
    let server = Shaped::start();
    let body = hook(
        "Create",
        &format!("{}/huge", server.url),
        "        retry 3\n        backoff 5ms\n        capture [CRM ID] = json \"/id\"\n",
    );
    let case = Case::new(&script(&body), "Contact ID\n1\n");
    let args = ["--out", "out.ndjson"];
    let o = case.run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(server.seen.count("/huge"), 1);
    let line = &case.results()[0];
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.contains("longer than 64 KiB")),
        "{line}"
    );
}

/// A secret echoed by the server across the 200-character cut of the error
/// text: no part of it reaches `--out`, the journal, `report` or stderr.
#[test]
fn a_secret_straddling_the_error_cut_leaks_nowhere() {
    const SECRET: &str = "ZqXw-STRADDLE-kanarie-9YvJ";
    // Every 4 characters of it hold a non-hex character, so the run's
    // random hex (ids, keys) cannot produce one by chance.
    let grams: Vec<&str> = (0..=SECRET.len() - 4).map(|i| &SECRET[i..i + 4]).collect();
    assert!(grams
        .iter()
        .all(|g| g.chars().any(|c| !c.is_ascii_hexdigit())));
    let server = Shaped::start();
    // The error quotes the first 200 characters of the body: the secret
    // starts 15 characters before that cut.
    let body = hook(
        "Leaky",
        &format!("{}/leak/185", server.url),
        "        header \"X-Token\" = secret(\"API_TOKEN\")\n        retry 0\n",
    );
    let case = Case::new(&script(&body), "Contact ID\n1\n").env("API_TOKEN", SECRET);
    let o = case.run(&["--out", "out.ndjson", "--journal", "j.sqlite"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(server.seen.count("/leak/185"), 1);
    let report = case.campaign(&["report", "j.sqlite"]);
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    let out = std::fs::read(case.path().join("out.ndjson")).unwrap();
    assert!(
        String::from_utf8_lossy(&out).contains(&format!(
            "HTTP 500 Internal Server Error: {}***{}\"",
            "#".repeat(185),
            "#".repeat(12)
        )),
        "the error keeps the text around the secret: {}",
        String::from_utf8_lossy(&out)
    );
    let mut written = vec![
        ("--out", out),
        ("report", report.stdout),
        ("stderr", o.stderr),
        ("report stderr", report.stderr),
    ];
    for entry in std::fs::read_dir(case.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("j.sqlite") {
            written.push(("journal", std::fs::read(&path).unwrap()));
        }
    }
    for (what, bytes) in &written {
        for gram in &grams {
            assert!(
                !bytes.windows(4).any(|w| w == gram.as_bytes()),
                "{gram:?} of the secret is in {what}"
            );
        }
    }
}

/// `--out` (or `--journal`) naming an input, by any path to it, is refused
/// before anything is written or sent; every input is left as it was.
#[test]
fn outputs_never_overwrite_inputs() {
    let server = Server::start();
    let campaign = script(&hook("W", &server.url("/ok"), ""));
    let case = Case::new(&campaign, "Contact ID\n1\n");
    case.write("secrets.env", "UNUSED=1\n");
    std::fs::create_dir(case.path().join("sub")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("c.csv", case.path().join("link.csv")).unwrap();
        std::fs::hard_link(
            case.path().join("c.campaign"),
            case.path().join("hard.campaign"),
        )
        .unwrap();
    }
    let base = ["--env-file", "secrets.env"];
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--out", "c.csv"], "is the contacts file"),
        (vec!["--out", "sub/../c.csv"], "is the contacts file"),
        (vec!["--out", "c.campaign"], "is the campaign"),
        (vec!["--out", "secrets.env"], "is the env file"),
        (vec!["--journal", "c.csv"], "is the contacts file"),
        (
            vec!["--journal", "j.sqlite", "--out", "j.sqlite"],
            "is --journal",
        ),
        (
            vec!["--journal", "j.sqlite", "--out", "j.sqlite-wal"],
            "is a file of the journal",
        ),
    ];
    #[cfg(unix)]
    {
        cases.push((vec!["--out", "link.csv"], "is the contacts file"));
        cases.push((vec!["--out", "hard.campaign"], "is the campaign"));
    }
    for (extra, says) in cases {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let o = case.run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert!(err.contains("nothing was written"), "{extra:?}: {err}");
        assert_eq!(
            std::fs::read_to_string(case.path().join("c.campaign")).unwrap(),
            campaign
        );
        assert_eq!(
            std::fs::read_to_string(case.path().join("c.csv")).unwrap(),
            "Contact ID\n1\n"
        );
        assert_eq!(
            std::fs::read_to_string(case.path().join("secrets.env")).unwrap(),
            "UNUSED=1\n"
        );
        assert!(!case.path().join("j.sqlite").exists(), "{extra:?}");
    }
    assert!(server.seen().is_empty(), "nothing was sent");
    // A new file is fine.
    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--out", "out.ndjson"])
        .collect();
    let o = case.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
