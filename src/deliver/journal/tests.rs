//! The journal end to end: open, record, crash, resume, report.

use super::*;
use std::future::Future;
use std::task::Context;
use std::time::Instant;

use crate::deliver::stats::Latency;
use schema::SCHEMA_VERSION;

const DIGEST: &str = "sha256:aaaa";
const CONTACTS: &str = "csv, 10 bytes, sha256 aaaa";

/// What `history` says of a contact's record, as the one-item lookups did.
fn contact_of(journal: &Journal, contact: &str) -> Result<Option<ContactRecord>, JournalError> {
    journal.history(contact).map(|h| h.record)
}

fn delivery_of(
    journal: &Journal,
    contact: &str,
    webhook: u32,
) -> Result<Option<Delivery>, JournalError> {
    journal
        .history(contact)
        .map(|h| h.delivery(webhook).cloned())
}

fn wait_of(journal: &Journal, contact: &str, index: u32) -> Result<Option<i64>, JournalError> {
    journal.history(contact).map(|h| h.wait(index))
}

/// Whether the lookup tables hold a delivery, for contacts whose history
/// does not read them (finished ones).
fn merged_delivery(journal: &Journal, contact: &str, webhook: u32) -> bool {
    journal
        .reader()
        .as_ref()
        .unwrap()
        .prepare_cached("SELECT 1 FROM deliveries WHERE contact = ?1 AND webhook = ?2")
        .unwrap()
        .exists(rusqlite::params![contact, webhook])
        .unwrap()
}

fn resume_at(journal: &Journal, contact: &str) -> Option<i64> {
    journal.history(contact).unwrap().resume_at_ms()
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    (dir, path)
}

fn attempt(
    contact: &str,
    webhook: u32,
    step: &str,
    n: u32,
    status: Option<u16>,
    duration_us: u64,
) -> Entry {
    Entry::Attempt(Attempt {
        contact: contact.to_string(),
        webhook,
        step: step.to_string(),
        attempt: n,
        key: format!("key-{contact}-{webhook}"),
        status,
        error: if status.is_none() {
            Some("timed out".to_string())
        } else {
            None
        },
        started_ms: 1_000 + i64::from(n),
        duration_us,
    })
}

#[test]
fn journal_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Journal>();
}

#[test]
fn reopening_keeps_the_run_id() {
    let (_dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(!journal.is_resume());
    let run_id = journal.run_id().to_string();
    assert_eq!(run_id.len(), 32);
    assert!(run_id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    journal.close().unwrap();

    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(journal.is_resume());
    assert_eq!(journal.run_id(), run_id);
    journal.close().unwrap();
    assert_eq!(summary(&path).unwrap().standing.sessions, 2);

    let (_other_dir, other) = temp();
    let journal = Journal::open(&other, DIGEST, "Welcome", CONTACTS).unwrap();
    assert_ne!(journal.run_id(), run_id);
}

#[test]
fn one_process_at_a_time_may_have_a_journal_open() {
    let (_dir, path) = temp();
    let first = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    // flock locks belong to an open file, so a second open in the same
    // process is refused just as another process would be.
    let error = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap_err();
    assert!(matches!(error, JournalError::InUse { .. }), "{error:?}");
    assert!(error
        .to_string()
        .contains("in use by another `campaign run`"));
    first.close().unwrap();
    let again = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(again.is_resume());
    drop(again);
    // A run refused for another reason does not keep the lock.
    assert!(Journal::open(&path, "sha256:bbbb", "Other", CONTACTS).is_err());
    Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();

    // A journal that cannot be opened is reported as such.
    let (_dir, other) = temp();
    std::fs::create_dir(&other).unwrap();
    let error = Journal::open(&other, DIGEST, "Welcome", CONTACTS).unwrap_err();
    assert!(matches!(error, JournalError::Lock { .. }), "{error:?}");
    assert!(
        error.to_string().contains("cannot open and lock"),
        "{error}"
    );
}

#[cfg(unix)]
#[test]
fn every_path_to_a_journal_is_the_same_journal() {
    let (dir, path) = temp();
    let first = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    let symlink = dir.path().join("link.journal");
    std::os::unix::fs::symlink(&path, &symlink).unwrap();
    let hard_link = dir.path().join("hard.journal");
    std::fs::hard_link(&path, &hard_link).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let dotted = dir.path().join("sub/../run.journal");
    let relative_dir = dir.path().join("sub");
    for other in [&symlink, &hard_link, &dotted] {
        let error = Journal::open(other, DIGEST, "Welcome", CONTACTS).unwrap_err();
        assert!(
            matches!(error, JournalError::InUse { .. }),
            "{}: {error:?}",
            other.display()
        );
    }
    // A symlink to the symlink, relative to where it lives.
    let chain = relative_dir.join("chain.journal");
    std::os::unix::fs::symlink("../link.journal", &chain).unwrap();
    assert!(matches!(
        Journal::open(&chain, DIGEST, "Welcome", CONTACTS),
        Err(JournalError::InUse { .. })
    ));
    first.close().unwrap();
    // Free again: by any path, and it is the same run.
    let again = Journal::open(&symlink, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(again.is_resume());
    assert!(matches!(
        Journal::open(&path, DIGEST, "Welcome", CONTACTS),
        Err(JournalError::InUse { .. })
    ));
}

#[test]
fn other_contacts_are_refused() {
    let (_dir, path) = temp();
    Journal::open(&path, DIGEST, "Welcome", CONTACTS)
        .unwrap()
        .close()
        .unwrap();
    let other = "csv, 11 bytes, sha256 bbbb";
    let error = Journal::open(&path, DIGEST, "Welcome", other).unwrap_err();
    match &error {
        JournalError::OtherContacts {
            found, expected, ..
        } => {
            assert_eq!(found, CONTACTS);
            assert_eq!(expected, other);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        error.to_string().contains("the contacts file changed"),
        "{error}"
    );
    // The refusal changed nothing.
    assert_eq!(summary(&path).unwrap().standing.sessions, 1);
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(journal.is_resume());
}

/// Copies the journal's main file, and its `-wal` file if `with_log`,
/// as they are on disk now, to `to`.
fn copy_journal(from: &Path, to: &Path, with_log: bool) {
    std::fs::copy(from, to).unwrap();
    if with_log {
        std::fs::copy(wal_path(from), wal_path(to)).unwrap();
    }
}

#[test]
fn a_crashed_journal_without_its_log_is_refused() {
    let (dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    let run_id = journal.run_id().to_string();
    for i in 0..100 {
        journal.record(Entry::Delivered(Delivery {
            contact: format!("c{i}"),
            webhook: 0,
            key: format!("key-c{i}-0"),
            status: 200,
            captures: vec![],
        }));
    }
    journal.flush().unwrap();
    // The files as `kill -9` leaves them: the session never ended.
    let crashed = dir.path().join("crashed.journal");
    copy_journal(&path, &crashed, true);
    let lost = dir.path().join("lost.journal");
    copy_journal(&path, &lost, false);
    journal.crash();

    // With its log, the crashed run resumes with everything it recorded.
    let resumed = Journal::open(&crashed, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(resumed.is_resume());
    assert_eq!(resumed.run_id(), run_id);
    assert!(delivery_of(&resumed, "c99", 0).unwrap().is_some());
    resumed.close().unwrap();

    // Without it, the main file holds the run but not what the session
    // recorded: refused, and not turned into a new run either.
    let error = Journal::open(&lost, DIGEST, "Welcome", CONTACTS).unwrap_err();
    assert!(matches!(error, JournalError::LostLog { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(shown.contains("is missing data"), "{shown}");
    assert!(shown.contains("lost.journal-wal"), "{shown}");
    let again = Journal::open(&lost, DIGEST, "Welcome", CONTACTS).unwrap_err();
    assert!(matches!(again, JournalError::LostLog { .. }), "{again:?}");
    // The report still reads what is there...
    assert_eq!(summary(&lost).unwrap().standing.run_id, run_id);
    // ...and an empty log put in place of the lost one (as SQLite
    // readers make) does not pass for the real one.
    std::fs::write(wal_path(&lost), b"").unwrap();
    assert!(matches!(
        Journal::open(&lost, DIGEST, "Welcome", CONTACTS),
        Err(JournalError::LostLog { .. })
    ));
}

#[test]
fn a_cleanly_closed_journal_is_one_file() {
    let (dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    journal.record(Entry::Delivered(Delivery {
        contact: "c1".to_string(),
        webhook: 0,
        key: "key-c1-0".to_string(),
        status: 200,
        captures: vec![],
    }));
    journal.close().unwrap();
    assert!(!wal_path(&path).exists(), "the log was folded in");
    // So the main file alone is the whole journal.
    let copy = dir.path().join("copy.journal");
    copy_journal(&path, &copy, false);
    let journal = Journal::open(&copy, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(delivery_of(&journal, "c1", 0).unwrap().is_some());
    journal.close().unwrap();
    // A session that crashed before recording anything resumes from
    // its log, and without it is refused: the journal cannot tell that
    // nothing was lost.
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    let kept = dir.path().join("kept.journal");
    copy_journal(&path, &kept, true);
    let lost = dir.path().join("lost.journal");
    copy_journal(&path, &lost, false);
    journal.crash();
    assert!(Journal::open(&kept, DIGEST, "Welcome", CONTACTS)
        .unwrap()
        .is_resume());
    assert!(matches!(
        Journal::open(&lost, DIGEST, "Welcome", CONTACTS),
        Err(JournalError::LostLog { .. })
    ));
}

#[test]
fn a_version_1_journal_is_reported_on_but_not_resumed() {
    let (_dir, path) = temp();
    Journal::open(&path, DIGEST, "Welcome", CONTACTS)
        .unwrap()
        .close()
        .unwrap();
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 1)
        .unwrap();
    let error = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap_err();
    assert!(
        matches!(error, JournalError::OldVersion { found: 1, .. }),
        "{error:?}"
    );
    assert_eq!(summary(&path).unwrap().standing.sessions, 1);
}

#[test]
fn another_campaign_is_refused() {
    let (_dir, path) = temp();
    Journal::open(&path, DIGEST, "Welcome", CONTACTS)
        .unwrap()
        .close()
        .unwrap();
    let error = Journal::open(&path, "sha256:bbbb", "Welcome v2", CONTACTS).unwrap_err();
    match &error {
        JournalError::OtherCampaign {
            campaign,
            found,
            expected,
            ..
        } => {
            assert_eq!(campaign, "Welcome");
            assert_eq!(found, DIGEST);
            assert_eq!(expected, "sha256:bbbb");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.to_string().contains("\"Welcome\""), "{error}");
    // The refusal changed nothing.
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(journal.is_resume());
}

#[test]
fn recorded_entries_read_back() {
    let (_dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert_eq!(contact_of(&journal, "c1").unwrap(), None);
    assert_eq!(delivery_of(&journal, "c1", 0).unwrap(), None);
    assert_eq!(wait_of(&journal, "c1", 0).unwrap(), None);

    journal.record(attempt("c1", 0, "Create", 1, Some(200), 1_500));
    journal.record(Entry::Delivered(Delivery {
        contact: "c1".to_string(),
        webhook: 0,
        key: "key-c1-0".to_string(),
        status: 201,
        captures: vec![
            ("CRM ID".to_string(), "42".to_string()),
            (
                "Location".to_string(),
                "https://crm.test/c/42 \"é\"".to_string(),
            ),
        ],
    }));
    journal.record(Entry::Delivered(Delivery {
        contact: "c1".to_string(),
        webhook: 3,
        key: "key-c1-3".to_string(),
        status: 204,
        captures: vec![],
    }));
    journal.record(Entry::Wait(Wait {
        contact: "c1".to_string(),
        index: 0,
        resume_at_ms: 5_000,
    }));
    journal.record(Entry::Finished(ContactRecord {
        contact: "c1".to_string(),
        status: ContactStatus::Waiting,
        steps: 2,
        error: None,
        updated_ms: now_ms(),
    }));
    journal.record(Entry::Finished(ContactRecord {
        contact: "c2".to_string(),
        status: ContactStatus::Failed,
        steps: 0,
        error: Some("header X contains a line break".to_string()),
        updated_ms: now_ms(),
    }));
    journal.flush().unwrap();
    // This session does not read its own entries back.
    assert_eq!(delivery_of(&journal, "c1", 0).unwrap(), None);
    // Flushed means durable: lose the process right after the flush.
    journal.crash();

    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    let delivery = delivery_of(&journal, "c1", 0).unwrap().unwrap();
    assert_eq!(delivery.status, 201);
    assert_eq!(delivery.key, "key-c1-0");
    assert_eq!(delivery.captures[1].1, "https://crm.test/c/42 \"é\"");
    assert_eq!(
        delivery_of(&journal, "c1", 3).unwrap().unwrap().captures,
        vec![]
    );
    assert_eq!(delivery_of(&journal, "c1", 1).unwrap(), None);
    assert_eq!(delivery_of(&journal, "c2", 0).unwrap(), None);
    assert_eq!(wait_of(&journal, "c1", 0).unwrap(), Some(5_000));
    assert_eq!(wait_of(&journal, "c1", 1).unwrap(), None);

    let c1 = contact_of(&journal, "c1").unwrap().unwrap();
    assert_eq!(c1.status, ContactStatus::Waiting);
    assert_eq!(c1.steps, 2);
    assert_eq!(resume_at(&journal, "c1"), Some(5_000));
    let c2 = contact_of(&journal, "c2").unwrap().unwrap();
    assert_eq!(c2.status, ContactStatus::Failed);
    assert!(c2.status.is_finished());
    assert_eq!(c2.error.as_deref(), Some("header X contains a line break"));
    assert_eq!(resume_at(&journal, "c2"), None);
    journal.close().unwrap();

    // Merged rows stay put across further sessions.
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert_eq!(delivery_of(&journal, "c1", 0).unwrap(), Some(delivery));
    assert_eq!(contact_of(&journal, "c2").unwrap(), Some(c2));
}

#[test]
fn finished_is_upserted_and_the_first_wait_stands() {
    let (_dir, path) = temp();
    let finished = |status, steps| {
        Entry::Finished(ContactRecord {
            contact: "c1".to_string(),
            status,
            steps,
            error: None,
            updated_ms: now_ms(),
        })
    };
    let wait_entry = |index, resume_at_ms| {
        Entry::Wait(Wait {
            contact: "c1".to_string(),
            index,
            resume_at_ms,
        })
    };
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    journal.record(wait_entry(0, 5_000));
    journal.record(finished(ContactStatus::Waiting, 1));
    journal.close().unwrap();

    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    let record = contact_of(&journal, "c1").unwrap().unwrap();
    assert_eq!(
        (record.status, record.steps, resume_at(&journal, "c1")),
        (ContactStatus::Waiting, 1, Some(5_000))
    );
    // The resumed run replays the first wait and records it again, later,
    // then parks at the next one.
    journal.record(wait_entry(0, 9_000));
    journal.record(wait_entry(1, 12_000));
    journal.record(finished(ContactStatus::Waiting, 3));
    journal.close().unwrap();

    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert_eq!(wait_of(&journal, "c1", 0).unwrap(), Some(5_000));
    assert_eq!(wait_of(&journal, "c1", 1).unwrap(), Some(12_000));
    let record = contact_of(&journal, "c1").unwrap().unwrap();
    assert_eq!((record.steps, resume_at(&journal, "c1")), (3, Some(12_000)));
    // Two records in one session: the later wins.
    journal.record(finished(ContactStatus::Waiting, 4));
    journal.record(finished(ContactStatus::Done, 5));
    journal.close().unwrap();
    // The report sees it before any merge...
    let before = summary(&path).unwrap();
    assert_eq!(
        (
            before.standing.contacts_done,
            before.standing.contacts_waiting
        ),
        (1, 0)
    );

    // ...and the next session after it.
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    let record = contact_of(&journal, "c1").unwrap().unwrap();
    assert_eq!(
        (record.status, record.steps, resume_at(&journal, "c1")),
        (ContactStatus::Done, 5, None)
    );
    journal.close().unwrap();
    let after = summary(&path).unwrap();
    assert_eq!(
        (
            after.standing.contacts_done,
            after.standing.contacts_waiting
        ),
        (1, 0)
    );
    assert_eq!(after.standing.sessions, 4);
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn waiting_for_a_ticket_commits_everything_recorded_before_it() {
    let (_dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    for i in 0..10 {
        journal.record(attempt(&format!("c{i}"), 0, "Create", 1, Some(500), 10));
    }
    let ticket = journal.record(Entry::Finished(ContactRecord {
        contact: "c9".to_string(),
        status: ContactStatus::Done,
        steps: 1,
        error: None,
        updated_ms: now_ms(),
    }));
    let later = journal.record(attempt("c10", 0, "Create", 1, Some(500), 10));
    assert!(later > ticket);
    block_on(journal.committed(ticket)).unwrap();
    let seen = summary(&path).unwrap();
    assert_eq!(seen.standing.contacts_done, 1);
    assert!(seen.attempts >= 10, "{}", seen.attempts);
    // Many tasks waiting at once: every one is woken by the commit
    // that covers its ticket.
    let tickets: Vec<Ticket> = (0..200)
        .map(|i| {
            journal.record(Entry::Finished(ContactRecord {
                contact: format!("w{i}"),
                status: ContactStatus::Done,
                steps: 1,
                error: None,
                updated_ms: now_ms(),
            }))
        })
        .collect();
    block_on(async {
        let waits = tickets.iter().map(|t| journal.committed(*t));
        for result in futures_util::future::join_all(waits).await {
            result.unwrap();
        }
    });
    assert_eq!(summary(&path).unwrap().standing.contacts_done, 201);
}

#[test]
fn a_ticket_resolves_only_once_its_entry_is_committed() {
    let (_dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    // Another connection holds the write lock, so the writer cannot commit.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let ticket = journal.record(Entry::Finished(ContactRecord {
        contact: "c1".to_string(),
        status: ContactStatus::Done,
        steps: 1,
        error: None,
        updated_ms: now_ms(),
    }));
    let mut pending = Box::pin(journal.committed(ticket));
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    // The first poll yields, the second starts the writer.
    for _ in 0..20 {
        assert!(pending.as_mut().poll(&mut cx).is_pending());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(summary(&path).unwrap().standing.contacts_done, 0);
    blocker.execute_batch("COMMIT").unwrap();
    block_on(pending).unwrap();
    // Committed means readable by another connection at once.
    assert_eq!(summary(&path).unwrap().standing.contacts_done, 1);
    // Earlier tickets resolve at once too.
    block_on(journal.committed(ticket)).unwrap();
}

#[test]
fn a_crashed_session_is_resumed_from_its_last_commit() {
    let (_dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    let run_id = journal.run_id().to_string();
    journal.record(attempt("c1", 0, "Create", 1, Some(200), 10));
    journal.record(Entry::Delivered(Delivery {
        contact: "c1".to_string(),
        webhook: 0,
        key: "key-c1-0".to_string(),
        status: 200,
        captures: vec![("CRM ID".to_string(), "7".to_string())],
    }));
    journal.record(Entry::Wait(Wait {
        contact: "c1".to_string(),
        index: 0,
        resume_at_ms: 5_000,
    }));
    journal.record(Entry::Finished(ContactRecord {
        contact: "c1".to_string(),
        status: ContactStatus::Waiting,
        steps: 1,
        error: None,
        updated_ms: now_ms(),
    }));
    let last = journal.record(Entry::Finished(ContactRecord {
        contact: "c2".to_string(),
        status: ContactStatus::Done,
        steps: 2,
        error: None,
        updated_ms: now_ms(),
    }));
    block_on(journal.committed(last)).unwrap();
    // No flush, no close: like `kill -9` after the commit (the leaked
    // writer thread sits idle, holding no lock).
    journal.crash();
    let crashed = summary(&path).unwrap();
    assert_eq!(
        (
            crashed.standing.contacts_done,
            crashed.standing.contacts_waiting
        ),
        (1, 1)
    );

    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(journal.is_resume());
    assert_eq!(journal.run_id(), run_id);
    assert_eq!(
        contact_of(&journal, "c2").unwrap().unwrap().status,
        ContactStatus::Done
    );
    let c1 = contact_of(&journal, "c1").unwrap().unwrap();
    assert_eq!(
        (c1.status, resume_at(&journal, "c1")),
        (ContactStatus::Waiting, Some(5_000))
    );
    let delivery = delivery_of(&journal, "c1", 0).unwrap().unwrap();
    assert_eq!(
        delivery.captures,
        vec![("CRM ID".to_string(), "7".to_string())]
    );
    journal.close().unwrap();
}

#[test]
fn summary_of_known_data() {
    let (_dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    // Step "Fast": 100 requests of 1..=100 us, one attempt each, all 2xx.
    for i in 1..=100u32 {
        journal.record(attempt(
            &format!("c{i}"),
            0,
            "Fast",
            1,
            Some(200),
            u64::from(i),
        ));
    }
    // Step "Slow": contact s1 fails twice (timeout, 503) then succeeds;
    // contact s2 gets a 400 and gives up.
    journal.record(attempt("s1", 1, "Slow", 1, None, 30_000));
    journal.record(attempt("s1", 1, "Slow", 2, Some(503), 2_000));
    journal.record(attempt("s1", 1, "Slow", 3, Some(200), 4_000));
    journal.record(attempt("s2", 1, "Slow", 1, Some(400), 1_000));
    for (contact, status) in [("c1", ContactStatus::Done), ("c2", ContactStatus::Waiting)] {
        journal.record(Entry::Finished(ContactRecord {
            contact: contact.to_string(),
            status,
            steps: 1,
            error: None,
            updated_ms: now_ms(),
        }));
    }
    journal.record(Entry::Finished(ContactRecord {
        contact: "s2".to_string(),
        status: ContactStatus::Failed,
        steps: 0,
        error: Some("Slow: 400 Bad Request".to_string()),
        updated_ms: now_ms(),
    }));
    journal.close().unwrap();

    let summary = summary(&path).unwrap();
    assert_eq!(summary.standing.campaign, "Welcome");
    assert_eq!(summary.standing.digest, DIGEST);
    assert_eq!(summary.standing.run_id.len(), 32);
    assert_eq!(summary.standing.sessions, 1);
    assert_eq!(
        (
            summary.standing.contacts_done,
            summary.standing.contacts_failed,
            summary.standing.contacts_waiting
        ),
        (1, 1, 1)
    );
    assert_eq!((summary.attempts, summary.attempts_failed), (104, 3));
    assert_eq!(
        (
            summary.requests,
            summary.requests_ok,
            summary.requests_failed
        ),
        (102, 101, 1)
    );
    assert_eq!(summary.retries, 2);
    // 104 sorted durations: 1..=100, then 1000, 2000, 4000, 30000.
    // Ranks: p50 = 52, p95 = ceil(98.8) = 99, p99 = ceil(102.96) = 103.
    assert_eq!(
        summary.latency,
        Some(Latency {
            p50_us: 52,
            p95_us: 99,
            p99_us: 4_000
        })
    );
    assert_eq!(summary.steps.len(), 2);
    let slow = &summary.steps[0];
    assert_eq!((slow.step.as_str(), slow.webhook), ("Slow", 1));
    assert_eq!((slow.attempts, slow.failures), (4, 3));
    assert_eq!(slow.mean_us, 9_250);
    assert_eq!(slow.p95_us, 30_000);
    let fast = &summary.steps[1];
    assert_eq!(
        (fast.step.as_str(), fast.attempts, fast.failures),
        ("Fast", 100, 0)
    );
    assert_eq!((fast.mean_us, fast.p95_us), (51, 95)); // mean 50.5 rounds up
    assert_eq!(summary.last_errors.len(), 3);
    assert_eq!(summary.last_errors[0].status, Some(503)); // started latest
    assert!(summary
        .last_errors
        .iter()
        .any(|e| e.status.is_none() && e.error.as_deref() == Some("timed out")));
    assert_eq!(summary.contact_errors.len(), 1);
    assert_eq!(summary.contact_errors[0].contact, "s2");
}

#[test]
fn percentiles_of_one_value_and_an_empty_run() {
    let (_dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    journal.flush().unwrap();
    let empty = summary(&path).unwrap();
    assert_eq!(empty.latency, None);
    assert_eq!((empty.attempts, empty.requests, empty.retries), (0, 0, 0));
    assert!(empty.steps.is_empty());

    journal.record(attempt("c1", 0, "Only", 1, Some(200), 7));
    journal.flush().unwrap();
    // Readable while the journal is still open for writing.
    let one = summary(&path).unwrap();
    assert_eq!(
        one.latency,
        Some(Latency {
            p50_us: 7,
            p95_us: 7,
            p99_us: 7
        })
    );
    assert_eq!(one.steps[0].p95_us, 7);
}

#[test]
fn bad_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("missing.journal");
    assert!(matches!(
        summary(&missing),
        Err(JournalError::Missing { .. })
    ));

    let garbage = dir.path().join("garbage.journal");
    let bytes: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &bytes).unwrap();
    assert!(matches!(
        summary(&garbage),
        Err(JournalError::NotAJournal { .. })
    ));
    let error = Journal::open(&garbage, DIGEST, "Welcome", CONTACTS).unwrap_err();
    assert!(
        matches!(error, JournalError::NotAJournal { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("is not a campaign journal"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        bytes,
        "garbage file was modified"
    );

    let text = dir.path().join("contacts.csv");
    std::fs::write(&text, "id,email\n1,a@example.com\n").unwrap();
    assert!(matches!(
        summary(&text),
        Err(JournalError::NotAJournal { .. })
    ));
    assert!(matches!(
        Journal::open(&text, DIGEST, "Welcome", CONTACTS),
        Err(JournalError::NotAJournal { .. })
    ));

    let empty = dir.path().join("empty.journal");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        summary(&empty),
        Err(JournalError::NotAJournal { .. })
    ));

    let other = dir.path().join("other.sqlite");
    {
        let conn = Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    assert!(matches!(
        summary(&other),
        Err(JournalError::NotAJournal { .. })
    ));
    assert!(matches!(
        Journal::open(&other, DIGEST, "Welcome", CONTACTS),
        Err(JournalError::NotAJournal { .. })
    ));
    assert_eq!(
        std::fs::read(&other).unwrap(),
        before,
        "another database was modified"
    );

    let newer = dir.path().join("newer.journal");
    Journal::open(&newer, DIGEST, "Welcome", CONTACTS)
        .unwrap()
        .close()
        .unwrap();
    Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    assert!(matches!(
        summary(&newer),
        Err(JournalError::UnsupportedVersion { .. })
    ));
    assert!(matches!(
        Journal::open(&newer, DIGEST, "Welcome", CONTACTS),
        Err(JournalError::UnsupportedVersion { .. })
    ));

    // A real journal cut short: an error (which one depends on where
    // the cut falls), never a panic.
    let cut = dir.path().join("cut.journal");
    let journal = Journal::open(&cut, DIGEST, "Welcome", CONTACTS).unwrap();
    for i in 0..5_000 {
        journal.record(attempt(&format!("c{i}"), 0, "Create", 1, Some(200), i));
    }
    journal.close().unwrap();
    let full = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    assert!(summary(&cut).is_err());
    // Damage inside the pages too.
    let mut scrambled = full.clone();
    for byte in scrambled.iter_mut().skip(4_096).step_by(7) {
        *byte ^= 0x5a;
    }
    std::fs::write(&cut, &scrambled).unwrap();
    assert!(summary(&cut).is_err());
    if let Ok(journal) = Journal::open(&cut, DIGEST, "Welcome", CONTACTS) {
        let _ = contact_of(&journal, "c1");
        let _ = delivery_of(&journal, "c1", 0);
        let _ = journal.close();
    }

    // Impossible values in a well-formed journal.
    let odd = dir.path().join("odd.journal");
    Journal::open(&odd, DIGEST, "Welcome", CONTACTS)
        .unwrap()
        .close()
        .unwrap();
    {
        let conn = Connection::open(&odd).unwrap();
        conn.execute_batch(
            "INSERT INTO contacts VALUES ('c1', 'exploded', -1, NULL, 0);
             INSERT INTO contacts VALUES ('c2', 'waiting', 1, NULL, 0);
             INSERT INTO contacts VALUES ('c3', 'done', 1, NULL, 0);
             INSERT INTO deliveries VALUES ('c4', 0, 'k', 99999, '[]');
             INSERT INTO deliveries VALUES ('c2', 0, 'k', 200, 'not json');",
        )
        .unwrap();
    }
    let journal = Journal::open(&odd, DIGEST, "Welcome", CONTACTS).unwrap();
    // An impossible status, an out-of-range HTTP status, unreadable
    // captures (read for a contact still waiting).
    for id in ["c1", "c4", "c2"] {
        assert!(
            matches!(journal.history(id), Err(JournalError::Corrupt { .. })),
            "{id}"
        );
    }
    assert!(contact_of(&journal, "c3").unwrap().is_some());
}

#[test]
fn concurrent_records_from_several_threads() {
    let (_dir, path) = temp();
    let journal = Arc::new(Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                for i in 0..2_500u32 {
                    let contact = format!("t{t}-c{i}");
                    journal.record(attempt(&contact, 0, "Create", 1, Some(200), 10));
                    journal.record(Entry::Delivered(Delivery {
                        contact: contact.clone(),
                        webhook: 0,
                        key: format!("key-{contact}-0"),
                        status: 200,
                        captures: vec![],
                    }));
                    // Reads interleave with the writer.
                    if i % 500 == 0 {
                        contact_of(&journal, &contact).unwrap();
                    }
                    journal.record(Entry::Finished(ContactRecord {
                        contact,
                        status: ContactStatus::Done,
                        steps: 1,
                        error: None,
                        updated_ms: now_ms(),
                    }));
                }
                journal.flush().unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    Arc::try_unwrap(journal).unwrap().close().unwrap();
    let summary = summary(&path).unwrap();
    assert_eq!(summary.attempts, 20_000);
    assert_eq!(summary.requests_ok, 20_000);
    assert_eq!(summary.standing.contacts_done, 20_000);
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    for contact in ["t0-c0", "t3-c1234", "t7-c2499"] {
        assert!(merged_delivery(&journal, contact, 0));
        assert!(contact_of(&journal, contact)
            .unwrap()
            .unwrap()
            .status
            .is_finished());
    }
}

#[test]
fn a_writer_error_is_reported_and_recording_goes_on_without_blocking() {
    let (_dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    // Another connection makes every contact record fail, as a full
    // disk would.
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON pending_contacts
             BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
        )
        .unwrap();
    journal.record(Entry::Finished(ContactRecord {
        contact: "c1".to_string(),
        status: ContactStatus::Done,
        steps: 1,
        error: None,
        updated_ms: now_ms(),
    }));
    let error = journal.flush().unwrap_err();
    assert!(matches!(error, JournalError::Writer { .. }), "{error:?}");
    assert!(error.to_string().contains("simulated failure"), "{error}");
    assert!(journal.check().is_err());
    // More than a queue's worth, which would block if anything waited
    // for the dead writer.
    for i in 0..(QUEUE_CAPACITY as u64 + 10) {
        journal.record(attempt("c2", 0, "Create", 1, Some(200), i));
    }
    assert!(matches!(journal.close(), Err(JournalError::Writer { .. })));
    // The session did not end cleanly, so its log stays, as after a
    // crash, and the next session resumes from it.
    assert!(wal_path(&path).exists());
    let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
    assert!(journal.is_resume());
}

#[test]
fn a_dropped_journal_commits_what_was_recorded() {
    let (_dir, path) = temp();
    {
        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        journal.record(attempt("c1", 0, "Create", 1, Some(200), 10));
    }
    assert_eq!(summary(&path).unwrap().attempts, 1);
}

/// A unique contact id for `i`, in scattered order as real ids (emails)
/// are, so that index inserts do not all append at the end.
fn scattered(i: u32) -> String {
    format!("{:08x}@example.com", i.wrapping_mul(2_654_435_761))
}

/// Records 200,000 attempts and flushes, then a run-shaped mix
/// (attempt + delivered + finished per contact, scattered ids), reopens
/// (which merges) and reads every contact and delivery back. Prints the
/// rates; run with `cargo test --release -- --nocapture throughput` for
/// meaningful figures. No timing is asserted.
#[test]
fn throughput_of_200k_attempts() {
    const N: u32 = 200_000;
    let (_dir, path) = temp();
    let journal = Journal::open(&path, DIGEST, "Bench", CONTACTS).unwrap();
    let start = Instant::now();
    for i in 0..N {
        journal.record(Entry::Attempt(Attempt {
            contact: format!("contact-{i:07}"),
            webhook: 0,
            step: "Create CRM contact".to_string(),
            attempt: 1,
            key: format!("0123456789abcdef0123456789abcdef-{i:07}-0"),
            status: Some(200),
            error: None,
            started_ms: 1_700_000_000_000 + i64::from(i),
            duration_us: u64::from(i % 5_000),
        }));
    }
    let queued = start.elapsed();
    journal.flush().unwrap();
    let elapsed = start.elapsed();
    println!(
        "journal: {N} attempts recorded in {:.1} ms, committed in {:.1} ms: {:.0} entries/s",
        queued.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e3,
        f64::from(N) / elapsed.as_secs_f64()
    );

    let start = Instant::now();
    for i in 0..N {
        let contact = scattered(i);
        journal.record(Entry::Attempt(Attempt {
            contact: contact.clone(),
            webhook: 0,
            step: "Create CRM contact".to_string(),
            attempt: 1,
            key: format!("0123456789abcdef0123456789abcdef-{i:07}-0"),
            status: Some(201),
            error: None,
            started_ms: 1_700_000_000_000 + i64::from(i),
            duration_us: 900,
        }));
        journal.record(Entry::Delivered(Delivery {
            contact: contact.clone(),
            webhook: 0,
            key: format!("0123456789abcdef0123456789abcdef-{i:07}-0"),
            status: 201,
            captures: vec![("CRM ID".to_string(), i.to_string())],
        }));
        journal.record(Entry::Finished(ContactRecord {
            contact,
            status: ContactStatus::Done,
            steps: 1,
            error: None,
            updated_ms: now_ms(),
        }));
    }
    let queued = start.elapsed();
    journal.flush().unwrap();
    let elapsed = start.elapsed();
    println!(
        "journal: {N} contacts as attempt+delivered+finished ({} entries) recorded in {:.1} ms, \
         committed in {:.1} ms: {:.0} contacts/s, {:.0} entries/s",
        3 * N,
        queued.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e3,
        f64::from(N) / elapsed.as_secs_f64(),
        f64::from(3 * N) / elapsed.as_secs_f64()
    );
    journal.close().unwrap();

    let start = Instant::now();
    let pending = summary(&path).unwrap();
    println!(
        "journal: summary of {} attempts and {} pending contacts in {:.1} ms",
        pending.attempts,
        pending.standing.contacts_done,
        start.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(pending.standing.contacts_done, u64::from(N));

    let start = Instant::now();
    let journal = Journal::open(&path, DIGEST, "Bench", CONTACTS).unwrap();
    println!(
        "journal: reopened, merging {} rows, in {:.1} ms",
        2 * N,
        start.elapsed().as_secs_f64() * 1e3
    );

    let start = Instant::now();
    for i in (0..N).rev() {
        let contact = scattered(i);
        assert!(contact_of(&journal, &contact).unwrap().is_some());
        assert!(merged_delivery(&journal, &contact, 0));
    }
    let elapsed = start.elapsed();
    println!(
        "journal: {} reads (contact + delivery per contact) in {:.1} ms: {:.0} reads/s",
        2 * N,
        elapsed.as_secs_f64() * 1e3,
        f64::from(2 * N) / elapsed.as_secs_f64()
    );
    journal.close().unwrap();

    let start = Instant::now();
    let summary = summary(&path).unwrap();
    println!(
        "journal: summary of {} attempts and {} merged contacts in {:.1} ms",
        summary.attempts,
        summary.standing.contacts_done,
        start.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(summary.attempts, u64::from(2 * N));
    assert_eq!(summary.standing.contacts_done, u64::from(N));
}
