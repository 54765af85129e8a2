//! What a real run must never do, through the real binary against real
//! servers on 127.0.0.1: write over its own inputs, or leak part of a secret
//! that straddles a cut of an error body.

mod support;

use std::collections::HashMap;
use std::process::Output;
use std::sync::{Arc, Mutex};

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

async fn leak(UrlPath(n): UrlPath<usize>, headers: HeaderMap) -> Response {
    let token = headers
        .get("x-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = format!("{}{token}{}", "#".repeat(n), "#".repeat(50));
    (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
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
