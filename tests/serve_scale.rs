//! Several `campaign serve` workers on one PostgreSQL database: the real
//! binary, a real cluster (`CAMPAIGN_TEST_POSTGRES`; see
//! `support/postgres.rs` for when these tests skip), a real receiver on
//! 127.0.0.1. One worker is killed with SIGKILL mid-run and another stopped
//! (SIGSTOP) past its lease and continued.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::postgres::TestDb;
use support::served::{api, Served, TOKEN};
use support::Server;

/// Contacts through the API in the multi-worker run; `CAMPAIGN_SCALE_CONTACTS`
/// overrides it.
const CONTACTS: usize = 20_000;
/// Contacts run at once per worker (`-j`): the bound on requests in flight.
const CONCURRENCY: usize = 8;
/// `--lease` in seconds: short, so that the paused worker loses its leases
/// within the test.
const LEASE_S: u64 = 3;

fn status(dir: &std::path::Path, db: &str) -> Vec<serde_json::Value> {
    let out = support::campaign(dir, &["status", "--db", db, "--format", "json"]);
    assert!(out.status.success(), "{}", support::stderr(&out));
    serde_json::from_str(&support::stdout(&out)).unwrap()
}

fn count(rows: &[serde_json::Value], state: &str) -> u64 {
    rows.iter()
        .filter(|r| r["state"] == state)
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

/// PUTs contacts `0..n` through the workers' APIs, `parallel` at a time,
/// round robin; a worker that does not answer (killed) is skipped and the
/// contact is sent to the next one.
fn feed(bases: Vec<String>, n: usize, parallel: usize, sent: Arc<AtomicUsize>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let next = Arc::new(AtomicUsize::new(0));
        let bases = Arc::new(bases);
        let mut tasks = Vec::new();
        for _ in 0..parallel {
            let (client, next, bases, sent) =
                (client.clone(), next.clone(), bases.clone(), sent.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let mut tries = 0;
                    loop {
                        let base = &bases[(i + tries) % bases.len()];
                        let res = client
                            .put(format!("{base}/v1/contacts/c{i:06}"))
                            .bearer_auth(TOKEN)
                            .header("content-type", "application/json")
                            .body(format!(r#"{{"Email": "c{i}@example.com"}}"#))
                            .send()
                            .await;
                        match res {
                            Ok(r) if r.status().is_success() => break,
                            Ok(r) => panic!("PUT c{i}: {}", r.status()),
                            Err(_) => {
                                tries += 1;
                                assert!(tries < 30, "no worker took contact {i}");
                            }
                        }
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn three_workers_survive_a_kill_and_a_pause_without_double_sends() {
    let Some(db) = TestDb::create() else { return };
    let n: usize = std::env::var("CAMPAIGN_SCALE_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CONTACTS);
    let receiver = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"campaign "Scale" {{
    trigger contact_added
    webhook "One" {{
        url "{}"
        post "id=[Contact ID]&hook=one"
    }}
    webhook "Two" {{
        url "{}"
        post "id=[Contact ID]&hook=two"
    }}
}}
"#,
        receiver.url("/slow/5"),
        receiver.url("/slow/5")
    );
    support::write(dir.path(), "scale.campaign", text);
    let j = CONCURRENCY.to_string();
    let lease = LEASE_S.to_string();
    let extra = ["-j", j.as_str(), "--lease", lease.as_str(), "--grace", "5"];
    let mut workers: Vec<Option<Served>> = (0..3)
        .map(|_| {
            Some(Served::start_on(
                dir.path(),
                &["scale.campaign"],
                &db.url,
                &extra,
            ))
        })
        .collect();
    let bases: Vec<String> = workers
        .iter()
        .map(|w| w.as_ref().unwrap().base.clone())
        .collect();
    let started = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    let feeder = {
        let sent = sent.clone();
        std::thread::spawn(move || feed(bases, n, 16, sent))
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let wait_sends = |at_least: usize| {
        while receiver.seen().len() < at_least {
            assert!(Instant::now() < deadline, "the receiver saw too little");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // A third of the way: worker 0 dies with requests in flight.
    wait_sends(2 * n / 3);
    workers[0].take().unwrap().kill9();
    // Two thirds: worker 1 stops past its lease, then goes on.
    wait_sends(4 * n / 3);
    let paused = workers[1].as_ref().unwrap();
    paused.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(LEASE_S * 2));
    paused.signal(libc::SIGCONT);
    feeder.join().unwrap();
    let url = db.url.clone();
    loop {
        let rows = status(dir.path(), &url);
        if count(&rows, "done") == n as u64 {
            break;
        }
        assert_eq!(count(&rows, "failed"), 0, "{rows:?}");
        assert!(Instant::now() < deadline, "not all done: {rows:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let took = started.elapsed();
    // Past another lease: nothing changes any more (a late write that put a
    // contact back would make it run, and send, again).
    let seen_then = receiver.seen().len();
    std::thread::sleep(Duration::from_secs(LEASE_S + 2));
    let rows = status(dir.path(), &url);
    assert_eq!(count(&rows, "done"), n as u64, "{rows:?}");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let seen = receiver.seen();
    assert_eq!(
        seen.len(),
        seen_then,
        "requests after every contact was done"
    );

    // Every key got a 2xx; more than one only for the requests the killed
    // and the paused worker had in flight.
    let mut by_key: HashMap<String, (usize, String)> = HashMap::new();
    let mut first_at: HashMap<(String, String), Instant> = HashMap::new();
    for s in &seen {
        let body = String::from_utf8_lossy(&s.body).into_owned();
        let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let (id, hook) = (form["id"].clone(), form["hook"].clone());
        let entry = by_key.entry(s.key()).or_insert((0, id.clone()));
        assert_eq!(entry.1, id, "one key, one contact");
        if (200..300).contains(&s.status) {
            entry.0 += 1;
        }
        first_at.entry((id, hook)).or_insert(s.at);
    }
    assert_eq!(
        by_key.len(),
        2 * n,
        "each contact's two webhooks, one key each"
    );
    assert!(by_key.values().all(|(ok, _)| *ok >= 1));
    let twice = by_key.values().filter(|(ok, _)| *ok > 1).count();
    assert!(
        twice <= 2 * CONCURRENCY,
        "{twice} keys got more than one 2xx; at most {} were in flight",
        2 * CONCURRENCY
    );
    // No contact went backwards: its second webhook never went out before
    // its first.
    for i in 0..n {
        let id = format!("c{i:06}");
        let one = first_at[&(id.clone(), "one".to_string())];
        let two = first_at[&(id, "two".to_string())];
        assert!(one <= two, "contact {i} sent its second webhook first");
    }
    eprintln!(
        "{n} contacts, {} requests ({twice} keys twice) through 3 workers in {:.1} s",
        seen.len(),
        took.as_secs_f64()
    );
    for w in workers.into_iter().flatten() {
        let (code, log) = w.stop();
        assert_eq!(code, 0, "{log}");
    }
}

#[test]
fn a_tag_through_one_worker_pulls_forward_a_contact_another_worker_parked() {
    let Some(db) = TestDb::create() else { return };
    let receiver = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"campaign "Goal" {{
    trigger contact_added
    wait 1 hours
    tag add "Late"
    goal "Bought" when has tag "Customer"
    webhook "Thanks" {{
        url "{}"
        post "id=[Contact ID]"
    }}
}}
"#,
        receiver.url("/ok")
    );
    support::write(dir.path(), "goal.campaign", text);
    // B alone parks the contact at the wait.
    let b = Served::start_on(dir.path(), &["goal.campaign"], &db.url, &[]);
    let (code, _) = api(&b.base, "PUT", "/v1/contacts/g1", Some("{}"), Some(TOKEN));
    assert_eq!(code, 201);
    let waiting = || {
        let (_, body) = api(&b.base, "GET", "/v1/contacts/g1", None, Some(TOKEN));
        body["campaigns"][0]["state"] == "waiting"
    };
    support::served::wait_for("B to park the contact", waiting);
    // A comes up on the same database; the tag goes in through A's API.
    let a = Served::start_on(dir.path(), &["goal.campaign"], &db.url, &[]);
    let tagged = Instant::now();
    let (code, _) = api(
        &a.base,
        "POST",
        "/v1/contacts/g1/tags",
        Some(r#"{"tags": ["Customer"]}"#),
        Some(TOKEN),
    );
    assert!((200..300).contains(&code), "{code}");
    support::served::wait_for("the goal to pull the contact forward", || {
        receiver.count("/ok") == 1
    });
    let took = tagged.elapsed();
    assert!(took < Duration::from_secs(3), "picked up after {took:?}");
    // The receiver sees the request before the worker commits the end.
    support::served::wait_for("the contact to be done", || {
        let (_, body) = api(&b.base, "GET", "/v1/contacts/g1", None, Some(TOKEN));
        body["campaigns"][0]["state"] == "done"
    });
    let (_, body) = api(&b.base, "GET", "/v1/contacts/g1", None, Some(TOKEN));
    let tags = body["tags"].as_array().unwrap();
    assert!(!tags.iter().any(|t| t == "Late"), "{body}");
    // Once: the other worker does not run it again.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(receiver.count("/ok"), 1);
    for w in [a, b] {
        let (code, log) = w.stop();
        assert_eq!(code, 0, "{log}");
    }
}
