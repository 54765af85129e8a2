//! What a real run must never do, through the real binary against real
//! servers on 127.0.0.1: write over its own inputs, leak part of a secret
//! that straddles a cut of an error body, or send again a request a slow
//! server has already accepted.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use support::{command, write, Server};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn script(body: &str) -> String {
    format!("campaign \"Safety\" {{\n{body}}}\n")
}

fn hook(name: &str, url: &str, extra: &str) -> String {
    format!("    webhook \"{name}\" {{\n        url \"{url}\"\n{extra}    }}\n")
}

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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Seen::default());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/stall/:ms", any(stall))
            .route("/huge", any(huge))
            .route("/leak/:n", any(leak))
            .fallback(any(ok))
            .layer(axum::middleware::from_fn_with_state(seen.clone(), count))
            .with_state(seen.clone());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Shaped {
            url,
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

fn results(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("out.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A 2xx whose body stalls past the timeout: the receiver accepted the
/// request, so it is delivered and never sent again; only a `capture ...
/// = json`, which needs the body, fails its step.
#[test]
fn a_slow_body_after_a_2xx_is_delivered_once() {
    let server = Shaped::start();
    let dir = tempfile::tempdir().unwrap();
    let stall = format!("{}/stall/8000", server.url);
    let slow = "        timeout 1s\n        retry 3\n        backoff 5ms\n";
    // No JSON capture: the body is not needed; the contact goes on.
    let body = hook("Notify", &stall, slow) + &hook("Next", &format!("{}/next", server.url), "");
    write(dir.path(), "c.campaign", &script(&body));
    write(dir.path(), "c.csv", "Contact ID\n1\n");
    // The last part merges a field into a URL to 127.0.0.1: such requests
    // go through the private-address guard.
    let args = [
        "run",
        "c.campaign",
        "--contacts",
        "c.csv",
        "--out",
        "out.ndjson",
        "--allow-private",
    ];
    let o = command(dir.path(), &args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(server.seen.count("/stall/8000"), 1, "not sent again");
    assert_eq!(server.seen.count("/next"), 1);
    let line = &results(dir.path())[0];
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
    write(dir.path(), "c.campaign", &script(&body));
    let journaled = [
        "run",
        "c.campaign",
        "--contacts",
        "c.csv",
        "--out",
        "out.ndjson",
        "--journal",
        "j.sqlite",
        "--allow-private",
    ];
    let o = command(dir.path(), &journaled).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(server.seen.count("/stall/8000"), 2, "one more: this run's");
    let line = &results(dir.path())[0];
    assert_eq!(line["status"], "failed", "{line}");
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("did not arrive whole"), "{error}");
    assert!(error.contains("not sent again"), "{error}");
    assert_eq!(line["attempts"].as_array().unwrap().len(), 1, "{line}");
    let o = command(dir.path(), &journaled).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        server.seen.count("/stall/8000"),
        2,
        "a resume does not resend it"
    );
    assert_eq!(results(dir.path())[0]["status"], "skipped");

    // `on failure continue` goes on, without the captured value.
    let body = hook(
        "Create",
        &stall,
        &format!("{slow}        capture [CRM ID] = json \"/id\"\n        on failure continue\n"),
    ) + &hook("Use", &format!("{}/use/x[CRM ID]", server.url), "");
    write(dir.path(), "c.campaign", &script(&body));
    let o = command(dir.path(), &args).output().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let body = hook(
        "Create",
        &format!("{}/huge", server.url),
        "        retry 3\n        backoff 5ms\n        capture [CRM ID] = json \"/id\"\n",
    );
    write(dir.path(), "c.campaign", &script(&body));
    write(dir.path(), "c.csv", "Contact ID\n1\n");
    let args = [
        "run",
        "c.campaign",
        "--contacts",
        "c.csv",
        "--out",
        "out.ndjson",
    ];
    let o = command(dir.path(), &args).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(server.seen.count("/huge"), 1);
    let line = &results(dir.path())[0];
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
    let dir = tempfile::tempdir().unwrap();
    // The error quotes the first 200 characters of the body: the secret
    // starts 15 characters before that cut.
    let body = hook(
        "Leaky",
        &format!("{}/leak/185", server.url),
        "        header \"X-Token\" = secret(\"API_TOKEN\")\n        retry 0\n",
    );
    write(dir.path(), "c.campaign", &script(&body));
    write(dir.path(), "c.csv", "Contact ID\n1\n");
    let o = command(
        dir.path(),
        &[
            "run",
            "c.campaign",
            "--contacts",
            "c.csv",
            "--out",
            "out.ndjson",
            "--journal",
            "j.sqlite",
        ],
    )
    .env("API_TOKEN", SECRET)
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(server.seen.count("/leak/185"), 1);
    let report = command(dir.path(), &["report", "j.sqlite"])
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    let out = std::fs::read(dir.path().join("out.ndjson")).unwrap();
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
    for entry in std::fs::read_dir(dir.path()).unwrap() {
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
    let dir = tempfile::tempdir().unwrap();
    let campaign = script(&hook("W", &server.url("/ok"), ""));
    write(dir.path(), "c.campaign", &campaign);
    write(dir.path(), "c.csv", "Contact ID\n1\n");
    write(dir.path(), "secrets.env", "UNUSED=1\n");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("c.csv", dir.path().join("link.csv")).unwrap();
        std::fs::hard_link(
            dir.path().join("c.campaign"),
            dir.path().join("hard.campaign"),
        )
        .unwrap();
    }
    let base = [
        "run",
        "c.campaign",
        "--contacts",
        "c.csv",
        "--env-file",
        "secrets.env",
    ];
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
        let o = command(dir.path(), &args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert!(err.contains("nothing was written"), "{extra:?}: {err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("c.campaign")).unwrap(),
            campaign
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("c.csv")).unwrap(),
            "Contact ID\n1\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("secrets.env")).unwrap(),
            "UNUSED=1\n"
        );
        assert!(!dir.path().join("j.sqlite").exists(), "{extra:?}");
    }
    assert!(server.seen().is_empty(), "nothing was sent");
    // A new file is fine.
    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--out", "out.ndjson"])
        .collect();
    let o = command(dir.path(), &args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
