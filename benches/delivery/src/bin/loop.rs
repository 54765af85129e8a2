//! The bare baseline for benches/delivery.sh: the least a Rust program can do
//! to send N form posts with reqwest, 64 (or C) in flight, over one shared
//! keep-alive client. `campaign run` is measured against it.
//!
//! Each request is `POST URL` with `Content-Type:
//! application/x-www-form-urlencoded` and the body
//! `email=person{i}%40example.com` (what the bench campaign's
//! `post "email=[Email]"` produces for contact i); the response body is read
//! to the end and non-2xx answers are counted.
//!
//! Usage: loop URL [N=200000] [CONCURRENCY=64] [RUNTIME=multi|current]
//! (tokio's multi-threaded runtime, or its current-thread one, which
//! `campaign run` uses; on 2 shared cores neither is consistently faster).
//! Prints one line: `requests N seconds S req_per_s R non_2xx K errors E`
//! (its own timing, from the first request to the last answer; the bench
//! uses the process's wall time from /usr/bin/time instead). Exits 1 if any
//! request failed or got a non-2xx answer.

use std::time::Instant;

use futures::stream::{self, StreamExt};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match args.get(3).map(String::as_str) {
        Some("current") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        None | Some("multi") => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        Some(other) => {
            eprintln!("loop: the runtime is `current` or `multi`, not {other:?}");
            std::process::exit(2);
        }
    };
    runtime.expect("tokio runtime").block_on(run(args));
}

async fn run(args: Vec<String>) {
    let Some(url) = args.first().cloned() else {
        eprintln!("usage: loop URL [N] [CONCURRENCY]");
        std::process::exit(2);
    };
    let n: u64 = args.get(1).map_or(200_000, |v| v.parse().expect("N"));
    let concurrency: usize = args.get(2).map_or(64, |v| v.parse().expect("CONCURRENCY"));

    let client = reqwest::Client::builder().build().expect("reqwest client");
    let started = Instant::now();
    let results: Vec<Result<u16, String>> = stream::iter(0..n)
        .map(|i| {
            let req = client
                .post(url.as_str())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("email=person{i}%40example.com"))
                .send();
            async move {
                let resp = req.await.map_err(|e| e.to_string())?;
                let status = resp.status().as_u16();
                resp.bytes().await.map_err(|e| e.to_string())?;
                Ok(status)
            }
        })
        .buffer_unordered(concurrency)
        .fold(Vec::new(), |mut acc, r| async move {
            // Keep only what is not a 2xx, so memory stays flat.
            if !matches!(r, Ok(200..=299)) {
                acc.push(r);
            }
            acc
        })
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let non_2xx = results.iter().filter(|r| r.is_ok()).count();
    let errors = results.len() - non_2xx;
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("loop: first error: {e}");
    }
    println!(
        "requests {n} seconds {seconds:.3} req_per_s {:.0} non_2xx {non_2xx} errors {errors}",
        n as f64 / seconds
    );
    if !results.is_empty() {
        std::process::exit(1);
    }
}
