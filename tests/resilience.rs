//! Failure under load: a 30%-failing server, a `kill -9` mid-run, and SIGINT.
//! Every contact must end accounted for, and no idempotency key may see more
//! than one 2xx or more attempts than its retries allow.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{campaign as run, command, stderr, write, Case, Server};

fn contacts(n: usize) -> String {
    let mut csv = String::from("Contact ID,Email\n");
    for i in 1..=n {
        csv.push_str(&format!("{i},person{i}@example.com\n"));
    }
    csv
}

/// Requests per key, and 2xx per key.
fn per_key(server: &Server) -> (HashMap<String, usize>, HashMap<String, usize>) {
    let mut all = HashMap::new();
    let mut ok = HashMap::new();
    for s in server.seen() {
        *all.entry(s.key()).or_default() += 1;
        if (200..300).contains(&s.status) {
            *ok.entry(s.key()).or_default() += 1;
        }
    }
    (all, ok)
}

#[test]
fn a_flaky_server_loses_nothing() {
    let server = Server::start();
    let case = Case::new(
        &format!(
            "campaign \"Fault\" {{\n    webhook \"Flaky\" {{\n        url \"{}\"\n        post \"email=[Email]\"\n        retry 3\n        backoff 1ms\n    }}\n}}\n",
            server.url("/flaky/30")
        ),
        &contacts(2000),
    );
    let o = case.run(&["--out", "out.ndjson", "--concurrency", "64"]);
    let lines = case.results();
    assert_eq!(lines.len(), 2000, "one result per contact");
    let failed = lines.iter().filter(|l| l["status"] == "failed").count();
    for l in &lines {
        match l["status"].as_str().unwrap() {
            "done" => {}
            "failed" => assert!(
                l["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("gave up after 4 attempts")),
                "{l}"
            ),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(o.status.code(), Some(if failed > 0 { 1 } else { 0 }));
    let (all, ok) = per_key(&server);
    assert_eq!(all.len(), 2000, "every contact reached the server");
    assert!(
        all.values().all(|&n| n <= 4),
        "at most 1 + 3 retries per key"
    );
    assert!(
        ok.values().all(|&n| n == 1),
        "exactly one 2xx per key that succeeded"
    );
    assert_eq!(ok.len(), 2000 - failed);
}

fn wait_for_requests(server: &Server, at_least: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.seen().len() < at_least {
        assert!(Instant::now() < deadline, "the run made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A journaled run of `n` contacts through one webhook to `path` on the
/// test server (`extra`: more settings), started in the background and
/// returned once the server has seen `started` requests, with the arguments
/// that run the same command again.
fn start_journaled_run(
    server: &Server,
    dir: &Path,
    path: &str,
    extra: &str,
    n: usize,
    concurrency: &'static str,
    started: usize,
) -> (Child, [&'static str; 8]) {
    write(
        dir,
        "c.campaign",
        format!(
            "campaign \"Journaled\" {{\n    webhook \"Slow\" {{\n        url \"{}\"\n{extra}    }}\n}}\n",
            server.url(path)
        ),
    );
    write(dir, "c.csv", contacts(n));
    let args = [
        "run",
        "c.campaign",
        "--contacts",
        "c.csv",
        "--journal",
        "j.sqlite",
        "--concurrency",
        concurrency,
    ];
    let mut child = command(dir, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_requests(server, started, &mut child);
    (child, args)
}

#[test]
fn kill_9_then_resume_delivers_every_contact_exactly_once() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let extra = "        post \"email=[Email]\"\n";
    let (mut child, args) =
        start_journaled_run(&server, dir.path(), "/slow/20", extra, 400, "8", 100);
    child.kill().unwrap(); // SIGKILL: no chance to flush anything
    child.wait().unwrap();
    let before = server.seen().len();
    assert!(before < 400, "killed mid-run");
    let o = run(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (all, ok) = per_key(&server);
    assert_eq!(ok.len(), 400, "every contact got a 2xx, none missing");
    // Re-sent requests reuse their key, so a receiver deduplicating by key
    // sees each contact exactly once.
    let resent: usize = all.values().map(|n| n - 1).sum();
    assert!(
        resent <= 8 + 1_000,
        "only requests in flight or unflushed are re-sent ({resent})"
    );
    // A third run sends nothing.
    let count = server.seen().len();
    let o = run(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        server.seen().len(),
        count,
        "a finished journal sends nothing again"
    );
}

#[cfg(unix)]
#[test]
fn sigint_stops_cleanly_and_says_how_to_resume() {
    stops_cleanly_on("-INT", 130, "interrupted");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_cleanly_like_sigint() {
    stops_cleanly_on("-TERM", 143, "terminated (SIGTERM)");
}

/// Sends `signal` to a journaled run: it exits with `status` (128 + the
/// signal's number), says `says` and how to resume, and the resume sends
/// each contact once.
#[cfg(unix)]
fn stops_cleanly_on(signal: &str, status: i32, says: &str) {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (child, args) = start_journaled_run(&server, dir.path(), "/slow/50", "", 300, "4", 20);
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "128 + the signal: {err}");
    assert!(err.contains(says), "{err}");
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    let sent = server.seen().len();
    assert!(sent < 300);
    let o = run(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (_, ok) = per_key(&server);
    assert_eq!(ok.len(), 300);
    assert_eq!(
        server.seen().len(),
        300,
        "requests finished before the signal were journaled, none sent twice"
    );
}

#[test]
fn a_second_run_on_a_journal_in_use_is_refused_before_sending() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (first, args) = start_journaled_run(&server, dir.path(), "/slow/50", "", 200, "4", 20);
    let second = run(dir.path(), &args);
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("in use by another `campaign run`"), "{err}");
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, ok) = per_key(&server);
    assert_eq!(ok.len(), 200);
    assert_eq!(server.seen().len(), 200, "the refused run sent nothing");
}

/// A journaled run at full speed (no server delay, 64 in flight) killed
/// with SIGKILL, then resumed: a request counts as in flight until its
/// outcome is committed, so at most one 2xx per concurrency slot can be
/// lost, and sent again, whenever the kill lands. The bound is an
/// invariant, not a timing, so a slow or loaded machine only moves where
/// the kill lands.
#[test]
fn kill_9_at_full_speed_resends_at_most_concurrency() {
    const N: usize = 20_000;
    const CONCURRENCY: usize = 64;
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let extra = "        post \"email=[Email]\"\n";
    let (mut child, args) = start_journaled_run(&server, dir.path(), "/ok", extra, N, "64", 2_000);
    child.kill().unwrap();
    child.wait().unwrap();
    let before = server.seen().len();
    assert!(before < N, "killed mid-run");
    let o = run(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (_, ok) = per_key(&server);
    assert_eq!(ok.len(), N, "every contact got a 2xx, none missing");
    let duplicates: usize = ok.values().map(|n| n - 1).sum();
    eprintln!("killed after {before} requests; {duplicates} duplicate 2xx deliveries");
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} requests that had a 2xx were sent again; at most {CONCURRENCY} may be"
    );
    // Every contact is done exactly once over both sessions.
    let report = run(dir.path(), &["report", "j.sqlite"]);
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains(&format!("contacts: {N} done, 0 failed, 0 waiting")),
        "{text}"
    );
    let sent = server.seen().len();
    let o = run(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(server.seen().len(), sent, "a finished run sends nothing");
}

/// Kills a journaled run of `n` contacts to a slow endpoint once `started`
/// requests have arrived; returns the arguments that resume it.
fn killed_run(server: &Server, dir: &Path, n: usize, started: usize) -> [&'static str; 8] {
    let (mut child, args) = start_journaled_run(server, dir, "/slow/20", "", n, "4", started);
    child.kill().unwrap();
    child.wait().unwrap();
    args
}

#[test]
fn a_lost_write_ahead_log_is_refused_not_restarted() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let args = killed_run(&server, dir.path(), 200, 30);
    let wal = dir.path().join("j.sqlite-wal");
    assert!(wal.exists(), "a killed run leaves its log");
    let kept = dir.path().join("kept-wal");
    std::fs::rename(&wal, &kept).unwrap();
    let sent = server.seen().len();
    let o = run(dir.path(), &args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is missing data"), "{err}");
    assert!(err.contains("j.sqlite-wal"), "{err}");
    assert_eq!(server.seen().len(), sent, "the refused run sent nothing");
    // Refused again, not turned into a new run by the first refusal.
    assert_eq!(run(dir.path(), &args).status.code(), Some(1));
    // With the log back, the run resumes with its keys, and completes.
    std::fs::rename(&kept, &wal).unwrap();
    let o = run(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (all, ok) = per_key(&server);
    assert_eq!(ok.len(), 200);
    assert_eq!(all.len(), 200, "the same keys: no new run");
}

#[test]
fn a_resume_with_changed_contacts_is_refused() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let args = killed_run(&server, dir.path(), 100, 10);
    let original = std::fs::read_to_string(dir.path().join("c.csv")).unwrap();
    let sent = server.seen().len();
    let inserted = original.replacen("1,person1@", "0,someone@example.com\n1,person1@", 1);
    let removed = original.replacen("2,person2@example.com\n", "", 1);
    let edited = original.replacen("person50@", "other50@", 1);
    for changed in [
        inserted,
        removed,
        edited,
        original.clone() + "101,late@example.com\n",
    ] {
        write(dir.path(), "c.csv", &changed);
        let o = run(dir.path(), &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("the contacts file changed"), "{err}");
        assert_eq!(server.seen().len(), sent, "the refused run sent nothing");
    }
    write(dir.path(), "c.csv", &original);
    let o = run(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (all, _) = per_key(&server);
    assert_eq!(all.len(), 100);
}

#[cfg(unix)]
#[test]
fn a_journal_in_use_is_refused_by_any_path_to_it() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    // Slow enough to be still running whatever the machine's load: it is
    // stopped with SIGINT once the other paths have been tried.
    let (first, args) = start_journaled_run(&server, dir.path(), "/slow/1000", "", 200, "4", 4);
    std::os::unix::fs::symlink("j.sqlite", dir.path().join("link.sqlite")).unwrap();
    std::fs::hard_link(dir.path().join("j.sqlite"), dir.path().join("hard.sqlite")).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for journal in [
        "link.sqlite",
        "hard.sqlite",
        "sub/../j.sqlite",
        "./j.sqlite",
    ] {
        let mut other = args;
        other[5] = journal;
        let second = run(dir.path(), &other);
        let err = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(1), "{journal}: {err}");
        assert!(
            err.contains("in use by another `campaign run`"),
            "{journal}: {err}"
        );
    }
    let status = Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "the first run was still going: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every request came from the first run: each key once.
    let (all, _) = per_key(&server);
    assert!(all.values().all(|&n| n == 1), "{all:?}");
}
