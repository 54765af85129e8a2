//! `campaign serve` under abuse: kill -9 in the middle of a burst, bad and
//! hostile requests, many connections. The real binary, a real SQLite file,
//! a real receiver on 127.0.0.1.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::served::{api, count, now, sign, status_json, wait_for, Served, SECRET, TOKEN};
use support::Server;

fn burst_campaign(receiver: &Server) -> String {
    format!(
        r#"campaign "Burst" {{
    trigger webhook_received "/hooks/burst" verify standard secret("SIGNUP_SECRET")
    webhook "Forward" {{
        url "{}"
        post "id=[Contact ID]"
    }}
}}
"#,
        receiver.url("/things/burst")
    )
}

/// Sends `n` signed events, `parallel` at a time, until `stop_after` got a
/// 2xx (then the caller kills the server); returns the ids that got one.
fn fire(base: &str, n: usize, parallel: usize, acked_before_kill: Arc<AtomicUsize>) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..parallel {
            let client = client.clone();
            let next = next.clone();
            let acked = acked_before_kill.clone();
            let base = base.to_string();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let id = format!("b{i}");
                    let body = format!(r#"{{"Contact ID": "{id}"}}"#);
                    let ts = now();
                    let msg = format!("msg_{i}");
                    let sent = client
                        .post(format!("{base}/hooks/burst"))
                        .header("content-type", "application/json")
                        .header("webhook-id", &msg)
                        .header("webhook-timestamp", ts.to_string())
                        .header("webhook-signature", sign(&msg, ts, &body))
                        .body(body)
                        .send()
                        .await;
                    if let Ok(res) = sent {
                        if res.status().is_success() {
                            mine.push(id);
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    })
}

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_event_and_sends_few_twice() {
    let receiver = Server::start();
    let dir = tempfile::tempdir().unwrap();
    support::write(dir.path(), "burst.campaign", burst_campaign(&receiver));
    let served = Served::start(dir.path(), &["burst.campaign"], &["-j", "16"]);
    let acked = Arc::new(AtomicUsize::new(0));
    let base = served.base.clone();
    let counter = acked.clone();
    let firing = std::thread::spawn(move || fire(&base, 5_000, 32, counter));
    wait_for("2,000 acknowledged events", || {
        acked.load(Ordering::SeqCst) >= 2_000
    });
    served.kill9();
    let acknowledged = firing.join().unwrap();
    assert!(
        acknowledged.len() >= 2_000 && acknowledged.len() < 5_000,
        "{}",
        acknowledged.len()
    );

    let served = Served::start(dir.path(), &["burst.campaign"], &["-j", "16"]);
    wait_for("every contact to finish", || {
        let rows = status_json(dir.path());
        count(&rows, "active") == 0
            && count(&rows, "waiting") == 0
            && count(&rows, "done") >= acknowledged.len() as u64
    });
    let rows = status_json(dir.path());
    assert_eq!(count(&rows, "failed"), 0, "{rows:?}");
    // Every acknowledged event's contact reached the receiver; repeats are
    // few (at most what was in flight at the kill) and carry the same key.
    let seen = receiver.seen();
    let mut per_contact: HashMap<String, Vec<String>> = HashMap::new();
    for s in &seen {
        let body = String::from_utf8_lossy(&s.body).into_owned();
        per_contact.entry(body).or_default().push(s.key());
    }
    for id in &acknowledged {
        assert!(
            per_contact.contains_key(&format!("id={id}")),
            "{id} was acknowledged but never sent"
        );
    }
    let repeats: usize = per_contact.values().map(|keys| keys.len() - 1).sum();
    assert!(
        repeats <= 16,
        "{repeats} requests were sent twice; at most 16 were in flight"
    );
    for keys in per_contact.values() {
        assert!(
            keys.iter().all(|k| k == &keys[0]),
            "a repeat changed its idempotency key: {keys:?}"
        );
    }
    let (code, _) = served.stop();
    assert_eq!(code, 0);
}

/// Writes `request` on a fresh connection and returns the status line (or
/// what the server did instead).
fn raw(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn bad_requests_get_the_right_status_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    support::write(
        dir.path(),
        "open.campaign",
        "campaign \"Open\" {\n    trigger webhook_received \"/hooks/open\" verify none\n    note \"hello [Contact ID]\"\n}\n",
    );
    let served = Served::start(dir.path(), &["open.campaign"], &["--log-format", "json"]);
    let addr = served.base.trim_start_matches("http://").to_string();
    let post = |content_type: &str, body: &str| {
        raw(
            &addr,
            format!(
                "POST /hooks/open HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    assert!(post("application/json", "{\"Contact ID\": ").contains(" 400 "));
    assert!(post("application/json", "[1, 2]").contains(" 400 "));
    assert!(post("text/plain", "Contact ID=x").contains(" 415 "));
    assert!(post("application/json", "\u{0}\u{1}").contains(" 400 "));
    // A head over the limit: 431, and the server goes on.
    let huge = format!(
        "POST /hooks/open HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\n{{}}",
        "a".repeat(200_000)
    );
    let status = raw(&addr, huge.as_bytes());
    assert!(status.contains(" 431 ") || status.is_empty(), "{status:?}");
    // Unknown paths: 404 with no detail; a GET on a hook: 405.
    let (code, body) = api(&served.base, "GET", "/etc/passwd", None, None);
    assert_eq!((code, body), (404, serde_json::Value::Null));
    assert_eq!(api(&served.base, "GET", "/hooks/open", None, None).0, 405);
    assert_eq!(
        api(
            &served.base,
            "PUT",
            "/v1/contacts/x",
            Some("{"),
            Some(TOKEN)
        )
        .0,
        400
    );
    assert_eq!(
        api(
            &served.base,
            "POST",
            "/v1/contacts/x/tags",
            Some("{\"tags\": 3}"),
            Some(TOKEN)
        )
        .0,
        400
    );
    // Nothing of the above made a contact.
    assert!(
        status_json(dir.path()).is_empty(),
        "{:?}",
        status_json(dir.path())
    );
    // Still serving, and what it said was JSON lines without secrets.
    assert_eq!(
        post("application/json", "{\"Contact ID\": \"ok\"}")
            .split(' ')
            .nth(1),
        Some("202")
    );
    let metrics = support::served::runtime().block_on(async {
        reqwest::get(format!("{}/metrics", served.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains("campaign_events_accepted_total"),
        "{metrics}"
    );
    assert!(!metrics.contains(TOKEN) && !metrics.contains(SECRET));
    let (code, logged) = served.stop();
    assert_eq!(code, 0);
    for line in logged.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
    assert!(!logged.contains(TOKEN) && !logged.contains(SECRET));
}

#[test]
fn slow_clients_and_ten_thousand_connections_neither_block_nor_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    support::write(
        dir.path(),
        "ok.campaign",
        "campaign \"Ok\" {\n    note \"hi\"\n}\n",
    );
    let served = Served::start(dir.path(), &["ok.campaign"], &[]);
    let addr = served.base.trim_start_matches("http://").to_string();
    let before = served.rss();
    // Slow clients: a request head that never ends.
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /hooks/x HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // 10,000 connections at once, most sending nothing.
    let mut idle = Vec::new();
    for _ in 0..10_000 {
        match TcpStream::connect(&addr) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connect failed after {}: {e}", idle.len()),
        }
    }
    // Others are still answered meanwhile.
    let (code, _) = api(&served.base, "GET", "/v1/contacts/none", None, Some(TOKEN));
    assert_eq!(code, 404);
    let during = served.rss();
    assert!(
        during < before + 100_000_000,
        "10,000 connections took {} MB",
        (during - before) / 1_000_000
    );
    // A slow client is cut off within the header timeout.
    let s = &mut slow[0];
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 512];
    let _ = s.read(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
    drop(slow);
    let (code, _) = api(&served.base, "GET", "/v1/contacts/none", None, Some(TOKEN));
    assert_eq!(code, 404);
    let (code, _) = served.stop();
    assert_eq!(code, 0);
}
