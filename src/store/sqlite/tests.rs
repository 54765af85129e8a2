//! Group commit on real SQLite files: calls queued together share one
//! transaction, yet each keeps its own outcome, and nobody hears of a
//! result before it is committed.

use std::time::Duration;

use super::*;

fn event(dedupe: &str, contact: &str) -> Inbound {
    Inbound {
        dedupe: Some(dedupe.to_string()),
        source: "test".into(),
        change: Change {
            contact: contact.to_string(),
            fields: [("Email".to_string(), format!("{contact}@example.com"))].into(),
            ..Change::default()
        },
        enroll: vec![("Campaign".to_string(), 1)],
    }
}

/// Holds the database's write lock from another connection, so that
/// the writer blocks on its next `BEGIN` while calls queue behind it.
struct Held(Connection);

impl Held {
    fn take(path: &Path, setup: &str) -> Held {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        conn.execute_batch(setup).unwrap();
        Held(conn)
    }

    fn release(self) {
        self.0.execute_batch("COMMIT").unwrap();
    }
}

/// Runs `events` as one batch: a first call is taken by the writer
/// alone and blocks on the held lock; `events` queue meanwhile and are
/// all taken together once it commits. Returns each result, in order,
/// and checks that exactly two transactions committed.
async fn one_batch(
    store: &SqliteStore,
    path: &Path,
    setup: &str,
    events: Vec<Inbound>,
) -> Vec<Result<Applied, StoreError>> {
    let store2 = store.clone();
    let calls = futures_util::future::join_all(events.into_iter().map(move |e| {
        let store = store2.clone();
        async move { store.apply(e, &Triggers::default()).await }
    }));
    held_batch(store, path, setup, calls).await
}

/// Runs `calls` (one future polling the calls in order: they queue in the
/// order given, where tasks of their own would race to the queue) while a
/// first call is held by `setup`'s lock, as [`one_batch`] says.
async fn held_batch<T: Send + 'static>(
    store: &SqliteStore,
    path: &Path,
    setup: &str,
    calls: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let held = Held::take(path, setup);
    let before = store.commits();
    let first = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .apply(event("first", "first"), &Triggers::default())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = tokio::spawn(calls);
    tokio::time::sleep(Duration::from_millis(300)).await;
    held.release();
    first.await.unwrap().unwrap();
    let results = calls.await.unwrap();
    assert_eq!(
        store.commits() - before,
        2,
        "the queued calls were not committed as one batch"
    );
    results
}

fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_id_repeated_inside_one_batch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaign.db");
    let store = SqliteStore::open(&path).unwrap();
    let events = vec![
        event("same", "a"),
        event("other", "b"),
        event("same", "c"),
        event("same", "a"),
    ];
    let results = one_batch(&store, &path, "", events).await;
    let duplicate: Vec<bool> = results.into_iter().map(|r| r.unwrap().duplicate).collect();
    assert_eq!(duplicate, [false, false, true, true]);
    assert_eq!(
        count(&path, "SELECT count(*) FROM events WHERE dedupe = 'same'"),
        1
    );
    // The refused ones changed nothing: no contact c.
    assert_eq!(
        count(&path, "SELECT count(*) FROM contacts WHERE id = 'c'"),
        0
    );
    assert_eq!(count(&path, "SELECT count(*) FROM positions"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_fails_inside_a_batch_loses_nothing_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaign.db");
    let store = SqliteStore::open(&path).unwrap();
    // A contact whose stored fields cannot be read: applying an event
    // to it fails after the event's row was inserted.
    let corrupt = "INSERT INTO contacts (id, fields, tags, created_ms, updated_ms)
                   VALUES ('bad', 'not json', '[]', 0, 0)";
    let events = vec![
        event("1", "a"),
        event("2", "bad"),
        event("3", "b"),
        event("4", "bad"),
        event("5", "c"),
    ];
    let results = one_batch(&store, &path, corrupt, events).await;
    let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, false, true, false, true]);
    assert!(matches!(results[1], Err(StoreError::Corrupt { .. })));
    // The failed calls are undone to the last row (their event rows
    // too, so that the sender's retry is not taken for a replay); the
    // others are whole.
    assert_eq!(
        count(&path, "SELECT count(*) FROM events WHERE contact = 'bad'"),
        0
    );
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM events WHERE contact IN ('a', 'b', 'c')"
        ),
        3
    );
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM positions WHERE contact IN ('a', 'b', 'c')"
        ),
        3
    );
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM positions WHERE contact = 'bad'"
        ),
        0
    );
    // And the writer goes on.
    assert!(store
        .apply(event("6", "d"), &Triggers::default())
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_sharing_a_savepoint_fail_and_lose_leases_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaign.db");
    let store = SqliteStore::open(&path).unwrap();
    let names = ["a", "lost", "b", "bad", "c"];
    for (i, name) in names.iter().enumerate() {
        let applied = store
            .apply(event(&format!("e{i}"), name), &Triggers::default())
            .await;
        assert_eq!(applied.unwrap().entered, ["Campaign"]);
    }
    let claimed = store.claim("A", now_ms() + 1000, 10, 60_000).await.unwrap();
    assert_eq!(claimed.len(), names.len());
    // Another worker took `lost` over; `bad`'s stored fields cannot be
    // read, so its checkpoint (which changes a field) fails after its
    // position's row was written.
    let setup = "UPDATE positions SET locked_by = 'B' WHERE contact = 'lost';
                 UPDATE contacts SET fields = 'not json' WHERE id = 'bad'";
    let store2 = store.clone();
    let checkpoints = claimed.into_iter().map(move |c| {
        let store = store2.clone();
        let mut position = c.position;
        position.state = State::Done;
        position.wake_at = None;
        let mut change = Change {
            contact: position.contact.clone(),
            ..Change::default()
        };
        if position.contact == "bad" {
            change.fields.insert("Plan".into(), "pro".into());
        }
        let checkpoint = Checkpoint {
            attempts: vec![crate::store::AttemptRow {
                step: "1".into(),
                attempt: 1,
                key: format!("key-{}", position.contact),
                status: Some(200),
                error: None,
                ms: 1.0,
            }],
            position,
            release: true,
            change,
            claimed_ms: c.claimed_ms,
        };
        async move {
            store
                .checkpoint("A", checkpoint, &Triggers::default(), 60_000)
                .await
        }
    });
    let calls = futures_util::future::join_all(checkpoints);
    let results = held_batch(&store, &path, setup, calls).await;
    let held: Vec<Option<bool>> = results.iter().map(|r| r.as_ref().ok().copied()).collect();
    assert_eq!(
        held,
        [Some(true), Some(false), Some(true), None, Some(true)]
    );
    assert!(matches!(results[3], Err(StoreError::Corrupt { .. })));
    let state = |contact: &str| {
        Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT state || ' ' || COALESCE(locked_by, '-') FROM positions
                 WHERE contact = ?1",
                [contact],
                |r| r.get::<_, String>(0),
            )
            .unwrap()
    };
    for done in ["a", "b", "c"] {
        assert_eq!(state(done), "done -", "{done}");
    }
    // Neither the lost lease nor the failed call wrote anything.
    assert_eq!(state("lost"), "active B");
    assert_eq!(state("bad"), "active A");
    let attempts: String = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT group_concat(contact) FROM (SELECT contact FROM attempts ORDER BY contact)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(attempts, "a,b,c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_caller_hears_of_its_result_after_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaign.db");
    let store = SqliteStore::open(&path).unwrap();
    let calls: Vec<_> = (0..300)
        .map(|i| {
            let (store, path) = (store.clone(), path.clone());
            tokio::spawn(async move {
                let id = format!("id-{i}");
                let applied = store
                    .apply(event(&id, &format!("c{i}")), &Triggers::default())
                    .await;
                assert!(!applied.unwrap().duplicate);
                // Another connection, as another process would look.
                let seen = tokio::task::spawn_blocking(move || {
                    count(
                        &path,
                        &format!("SELECT count(*) FROM events WHERE dedupe = '{id}'"),
                    )
                })
                .await
                .unwrap();
                assert_eq!(seen, 1, "answered before its commit");
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    // Calls arriving together were grouped.
    assert!(
        store.commits() < 300,
        "{} commits for 300 calls",
        store.commits()
    );
}
