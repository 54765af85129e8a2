//! The storage contract, one suite run on both backends: every case below is
//! a generic function of a [`Store`], and `backends!` runs each on a fresh
//! SQLite file and on a fresh PostgreSQL database (skipped with a note
//! without `CAMPAIGN_TEST_POSTGRES`, failing in CI; see
//! `support/postgres.rs`).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use campaign::store::any::Database;
use campaign::store::postgres::{PostgresStore, SCHEMA_VERSION};
use campaign::store::{
    AttemptRow, Change, Checkpoint, FailureRow, Inbound, Position, SendCount, State, Store,
    StoreError, Triggers,
};
use support::postgres::TestDb;

/// A store of each kind, kept alive with what it lives in.
enum Home {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] TestDb),
}

async fn sqlite() -> (Arc<Database>, Home) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("t.db")).await.unwrap();
    (Arc::new(db), Home::Sqlite(dir))
}

async fn postgres() -> Option<(Arc<Database>, Home)> {
    let test = TestDb::create()?;
    let db = Database::open(std::path::Path::new(&test.url))
        .await
        .unwrap();
    assert!(db.shared());
    Some((Arc::new(db), Home::Postgres(test)))
}

macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _home) = super::sqlite().await;
                    super::$case(store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some((store, _home)) = super::postgres().await else { return };
                    super::$case(store).await;
                }
            )*
        }
    };
}

backends!(
    a_delivery_id_is_applied_once_even_when_raced,
    a_claim_leases_and_an_expired_lease_passes_to_another_worker,
    concurrent_claims_never_hand_out_a_position_twice,
    a_renewed_lease_is_not_taken_over,
    a_change_to_a_contact_wakes_its_waiting_positions_and_enters_triggers,
    revisions_are_numbered_once_per_text_even_when_raced,
    migrate_moves_waiting_positions_but_not_leased_ones,
    finished_positions_past_retention_are_pruned_and_waiting_ones_kept,
    checkpoints_committed_together_each_keep_to_their_own_lease,
    the_map_counts_one_revision_where_its_contacts_stand_and_what_they_sent,
);

const START: i64 = 1_000_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn enroll(campaign: &str, contact: &str) -> Inbound {
    Inbound {
        dedupe: None,
        source: "test".into(),
        change: Change {
            contact: contact.into(),
            ..Change::default()
        },
        enroll: vec![(campaign.into(), 1)],
    }
}

fn tag(contact: &str, tag: &str) -> Inbound {
    Inbound {
        dedupe: None,
        source: "test".into(),
        change: Change {
            contact: contact.into(),
            add_tags: vec![tag.into()],
            ..Change::default()
        },
        enroll: Vec::new(),
    }
}

/// The position parked at a wait until `until`, released.
fn parked(mut p: Position, until: i64) -> Checkpoint {
    p.state = State::Waiting;
    p.pc = 3;
    p.step = Some("2".into());
    p.wake_at = Some(until);
    p.resume_at = Some(until);
    Checkpoint {
        position: p,
        release: true,
        change: Change::default(),
        attempts: Vec::new(),
        claimed_ms: i64::MAX,
    }
}

async fn position(store: &Database, contact: &str) -> Position {
    store.contact(contact).await.unwrap().unwrap().1.remove(0)
}

async fn a_delivery_id_is_applied_once_even_when_raced(store: Arc<Database>) {
    let event = |id: &str| Inbound {
        dedupe: Some(id.into()),
        ..enroll("C", "c1")
    };
    let first = store
        .apply(event("d1"), &Triggers::default())
        .await
        .unwrap();
    assert!(!first.duplicate && first.created);
    assert_eq!(first.entered, vec!["C".to_string()]);
    let again = store
        .apply(event("d1"), &Triggers::default())
        .await
        .unwrap();
    assert!(again.duplicate && again.entered.is_empty());
    // Eight deliveries of one new id at once: the database's constraint
    // lets exactly one through.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .apply(event("d2"), &Triggers::default())
                .await
                .unwrap()
                .duplicate
        });
    }
    let mut fresh = 0;
    while let Some(duplicate) = tasks.join_next().await {
        fresh += usize::from(!duplicate.unwrap());
    }
    assert_eq!(fresh, 1);
}

async fn a_claim_leases_and_an_expired_lease_passes_to_another_worker(store: Arc<Database>) {
    store
        .apply(enroll("C", "c1"), &Triggers::default())
        .await
        .unwrap();
    let t = now() + 1000;
    let a = store.claim("A", t, 10, 1000).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].position.contact, "c1");
    // Held: B gets nothing while A's lease runs, nor A itself again.
    assert!(store
        .claim("B", t + 999, 10, 1000)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .claim("A", t + 500, 10, 1000)
        .await
        .unwrap()
        .is_empty());
    // Expired: B takes it over.
    let b = store.claim("B", t + 1001, 10, 1000).await.unwrap();
    assert_eq!(b.len(), 1);
    // A, paused past its lease, comes back: its checkpoint is refused and
    // its renewal holds nothing; B's work stands.
    let late = parked(a[0].position.clone(), t + 50_000);
    assert!(!store
        .checkpoint("A", late, &Triggers::default(), 1000)
        .await
        .unwrap());
    assert_eq!(store.renew("A", t + 99_999).await.unwrap(), 0);
    let mut done = b[0].position.clone();
    done.state = State::Done;
    done.wake_at = None;
    done.pc = 9;
    let cp = Checkpoint {
        position: done,
        release: true,
        change: Change::default(),
        attempts: Vec::new(),
        claimed_ms: i64::MAX,
    };
    assert!(store
        .checkpoint("B", cp.clone(), &Triggers::default(), 1000)
        .await
        .unwrap());
    let p = position(&store, "c1").await;
    assert_eq!((p.state, p.pc), (State::Done, 9));
    // Released: even B's repeated checkpoint is refused now.
    assert!(!store
        .checkpoint("B", cp, &Triggers::default(), 1000)
        .await
        .unwrap());
    assert!(store
        .claim("C", t + 10_000, 10, 1000)
        .await
        .unwrap()
        .is_empty());
}

async fn concurrent_claims_never_hand_out_a_position_twice(store: Arc<Database>) {
    for i in 0..60 {
        store
            .apply(enroll("C", &format!("c{i:02}")), &Triggers::default())
            .await
            .unwrap();
    }
    let t = now() + 1000;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim(&format!("w{w}"), t, 7, 60_000).await.unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.into_iter().map(|c| c.position.contact));
            }
        });
    }
    let mut all = Vec::new();
    while let Some(mine) = tasks.join_next().await {
        all.extend(mine.unwrap());
    }
    let unique: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 60, "claimed: {all:?}");
    assert_eq!(unique.len(), 60);
    assert_eq!(store.backlog(t).await.unwrap(), 0);
}

async fn a_renewed_lease_is_not_taken_over(store: Arc<Database>) {
    store
        .apply(enroll("C", "c1"), &Triggers::default())
        .await
        .unwrap();
    let t = now() + 1000;
    assert_eq!(store.claim("A", t, 10, 1000).await.unwrap().len(), 1);
    assert_eq!(store.renew("A", t + 5000).await.unwrap(), 1);
    assert!(store
        .claim("B", t + 2000, 10, 1000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.claim("B", t + 5001, 10, 1000).await.unwrap().len(), 1);
}

async fn a_change_to_a_contact_wakes_its_waiting_positions_and_enters_triggers(
    store: Arc<Database>,
) {
    store
        .apply(enroll("C", "c1"), &Triggers::default())
        .await
        .unwrap();
    let t = now() + 1000;
    let claimed = store.claim("A", t, 10, 60_000).await.unwrap();
    let far = t + 30 * 24 * 3600 * 1000;
    assert!(store
        .checkpoint(
            "A",
            parked(claimed[0].position.clone(), far),
            &Triggers::default(),
            60_000
        )
        .await
        .unwrap());
    assert_eq!(store.next_due().await.unwrap(), Some(far));
    assert!(store
        .claim("B", t + 2000, 10, 1000)
        .await
        .unwrap()
        .is_empty());
    // A tag lands: the waiting position is due at once (its goals are
    // checked), and the tag's trigger enters the contact into D.
    let triggers = Triggers {
        contact_added: Vec::new(),
        tag_added: vec![("Customer".into(), "D".into(), 1)],
    };
    let applied = store.apply(tag("c1", "Customer"), &triggers).await.unwrap();
    assert_eq!(applied.entered, vec!["D".to_string()]);
    let p = position(&store, "c1").await;
    assert_eq!(p.state, State::Waiting);
    assert!(p.wake_at.unwrap() <= now(), "{p:?}");
    assert_eq!(p.resume_at, Some(far));
    let woken = store.claim("B", now() + 10, 10, 1000).await.unwrap();
    let names: BTreeSet<_> = woken.iter().map(|c| c.position.campaign.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["C", "D"]));
    let c = woken.iter().find(|c| c.position.campaign == "C").unwrap();
    assert_eq!(c.contact.tags, vec!["Customer".to_string()]);
    // The same tag again changes nothing and wakes nothing.
    let back = parked(c.position.clone(), far);
    assert!(store
        .checkpoint("B", back, &Triggers::default(), 1000)
        .await
        .unwrap());
    store.apply(tag("c1", "Customer"), &triggers).await.unwrap();
    assert_eq!(position(&store, "c1").await.wake_at, Some(far));
    // A campaign's own change (a checkpoint that tags) wakes the contact's
    // waiting position in another campaign.
    let d = woken.iter().find(|c| c.position.campaign == "D").unwrap();
    let mut cp = parked(d.position.clone(), far + 1000);
    cp.change.contact = "c1".into();
    cp.change.add_tags = vec!["Thanked".into()];
    assert!(store
        .checkpoint("B", cp, &Triggers::default(), 1000)
        .await
        .unwrap());
    let (data, positions) = store.contact("c1").await.unwrap().unwrap();
    assert_eq!(
        data.tags,
        vec!["Customer".to_string(), "Thanked".to_string()]
    );
    let c = positions.iter().find(|p| p.campaign == "C").unwrap();
    assert!(c.wake_at.unwrap() <= now(), "{c:?}");
    assert_eq!(c.resume_at, Some(far));
    // ...but not its own: it checks its goals after its wait, as the dry
    // run does.
    let d = positions.iter().find(|p| p.campaign == "D").unwrap();
    assert_eq!(d.wake_at, Some(far + 1000), "{d:?}");
    // A change that lands while a worker runs the position is not lost when
    // the worker parks it: it is due again at once.
    let running = store.claim("B", now() + 10, 10, 60_000).await.unwrap();
    let c = running.iter().find(|c| c.position.campaign == "C").unwrap();
    store
        .apply(tag("c1", "Late"), &Triggers::default())
        .await
        .unwrap();
    let mut back = parked(c.position.clone(), far);
    back.claimed_ms = c.claimed_ms;
    assert!(store
        .checkpoint("B", back, &Triggers::default(), 1000)
        .await
        .unwrap());
    let c = position(&store, "c1").await;
    assert!(c.wake_at.unwrap() <= now(), "{c:?}");
    assert_eq!(c.resume_at, Some(far));
}

async fn revisions_are_numbered_once_per_text_even_when_raced(store: Arc<Database>) {
    assert_eq!(store.save_revision("C", "h1", "s1", "b1").await.unwrap(), 1);
    assert_eq!(store.save_revision("C", "h1", "s1", "b1").await.unwrap(), 1);
    assert_eq!(store.save_revision("D", "h1", "s1", "b1").await.unwrap(), 1);
    // Four workers start at once with the same new text: one number.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.spawn(async move { store.save_revision("C", "h2", "s2", "b2").await.unwrap() });
    }
    while let Some(n) = tasks.join_next().await {
        assert_eq!(n.unwrap(), 2);
    }
    let revs = store.revisions(Some("C")).await.unwrap();
    let list: Vec<_> = revs.iter().map(|r| (r.revision, r.hash.as_str())).collect();
    assert_eq!(list, vec![(1, "h1"), (2, "h2")]);
    assert_eq!(revs[1].source, "s2");
    assert_eq!(store.revisions(None).await.unwrap().len(), 3);
    // Pruning keeps the newest and every revision a contact is in.
    store
        .apply(enroll("C", "c1"), &Triggers::default())
        .await
        .unwrap();
    store.save_revision("C", "h3", "s3", "b3").await.unwrap();
    store.prune(START, None).await.unwrap();
    let left: Vec<_> = store
        .revisions(Some("C"))
        .await
        .unwrap()
        .iter()
        .map(|r| r.revision)
        .collect();
    assert_eq!(left, vec![1, 3]);
}

async fn migrate_moves_waiting_positions_but_not_leased_ones(store: Arc<Database>) {
    for id in ["a", "b"] {
        store
            .apply(enroll("C", id), &Triggers::default())
            .await
            .unwrap();
    }
    let t = now() + 1000;
    let far = t + 3_600_000;
    for c in store.claim("A", t, 10, 60_000).await.unwrap() {
        assert!(store
            .checkpoint("A", parked(c.position, far), &Triggers::default(), 60_000)
            .await
            .unwrap());
    }
    // `b` is woken and claimed (running) when the move comes.
    store
        .apply(tag("b", "X"), &Triggers::default())
        .await
        .unwrap();
    assert_eq!(
        store
            .claim("B", now() + 10, 10, 600_000)
            .await
            .unwrap()
            .len(),
        1
    );
    let waiting = store.waiting("C", 1).await.unwrap();
    assert_eq!(waiting.len(), 2);
    let moves: Vec<Position> = waiting
        .into_iter()
        .map(|mut p| {
            p.revision = 2;
            p.pc = 7;
            p.step = Some("3".into());
            p
        })
        .collect();
    assert_eq!(store.move_positions(1, &moves).await.unwrap(), 1);
    let a = position(&store, "a").await;
    assert_eq!((a.revision, a.pc, a.step.as_deref()), (2, 7, Some("3")));
    assert_eq!(
        a.resume_at,
        Some(far),
        "a moved contact keeps its wait's end"
    );
    let b = position(&store, "b").await;
    assert_eq!((b.revision, b.pc), (1, 3));
    let status = store.status().await.unwrap();
    let rows: Vec<_> = status
        .iter()
        .map(|r| (r.revision, r.state, r.step.clone(), r.count))
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, State::Waiting, Some("2".to_string()), 1),
            (2, State::Waiting, Some("3".to_string()), 1)
        ]
    );
}

/// Migrations: an empty database gets the whole schema, a second start
/// applies nothing, and a database from a newer build is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_apply_once_and_refuse_a_newer_schema() {
    let Some(test) = TestDb::create() else { return };
    // Three workers starting at once on an empty database.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let url = test.url.clone();
        tasks.spawn(async move { PostgresStore::connect(&url).await.map(|_| ()) });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let store = PostgresStore::connect(&test.url).await.unwrap();
    let versions = store.schema_versions().await.unwrap();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    store
        .apply(enroll("C", "c1"), &Triggers::default())
        .await
        .unwrap();
    // Re-applied: a no-op that keeps the data.
    let again = PostgresStore::connect(&test.url).await.unwrap();
    assert_eq!(again.schema_versions().await.unwrap(), versions);
    assert!(again.contact("c1").await.unwrap().is_some());
    // A newer build's schema.
    let (client, conn) = tokio_postgres::connect(&test.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute(
            "INSERT INTO campaign_schema (version, name, applied_ms) VALUES ($1, 'future', 0)",
            &[&(SCHEMA_VERSION + 1)],
        )
        .await
        .unwrap();
    drop(client);
    match PostgresStore::connect(&test.url).await {
        Err(StoreError::Newer { found, known }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

async fn finished_positions_past_retention_are_pruned_and_waiting_ones_kept(store: Arc<Database>) {
    for id in ["done", "waits"] {
        store
            .apply(enroll("C", id), &Triggers::default())
            .await
            .unwrap();
    }
    let claimed = store.claim("A", now() + 1000, 10, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 2);
    for c in claimed {
        let cp = if c.position.contact == "done" {
            let mut p = c.position.clone();
            p.state = State::Done;
            p.wake_at = None;
            Checkpoint {
                position: p,
                release: true,
                change: Change::default(),
                attempts: Vec::new(),
                claimed_ms: i64::MAX,
            }
        } else {
            parked(c.position.clone(), now() + 3_600_000)
        };
        assert!(store
            .checkpoint("A", cp, &Triggers::default(), 60_000)
            .await
            .unwrap());
    }
    // Not yet past retention: both stay.
    store.prune(START, Some(now() - 60_000)).await.unwrap();
    assert!(store.contact("done").await.unwrap().unwrap().1.len() == 1);
    // Past it: the finished one goes, the waiting one stays, and so does
    // the contact's data.
    store.prune(START, Some(now() + 60_000)).await.unwrap();
    let (data, positions) = store.contact("done").await.unwrap().unwrap();
    assert_eq!(data.id, "done");
    assert!(positions.is_empty(), "{positions:?}");
    assert_eq!(store.contact("waits").await.unwrap().unwrap().1.len(), 1);
}

/// Many checkpoints at once (PostgreSQL commits them as one batch): each
/// is written only if its worker still holds that position, whatever the
/// others in the same commit do.
async fn checkpoints_committed_together_each_keep_to_their_own_lease(store: Arc<Database>) {
    for i in 0..40 {
        store
            .apply(enroll("C", &format!("c{i:02}")), &Triggers::default())
            .await
            .unwrap();
    }
    let t = now() + 1000;
    let a = store.claim("A", t, 40, 1000).await.unwrap();
    assert_eq!(a.len(), 40);
    // A's leases expire; B takes over 15 of them.
    let b = store.claim("B", t + 1001, 15, 60_000).await.unwrap();
    assert_eq!(b.len(), 15);
    let taken: BTreeSet<String> = b.iter().map(|c| c.position.contact.clone()).collect();
    let far = t + 1_000_000;
    let held = futures_util::future::join_all(a.iter().map(|c| {
        let store = store.clone();
        let cp = parked(c.position.clone(), far);
        async move {
            let contact = cp.position.contact.clone();
            let held = store
                .checkpoint("A", cp, &Triggers::default(), 1000)
                .await
                .unwrap();
            (contact, held)
        }
    }))
    .await;
    for (contact, held) in held {
        assert_eq!(held, !taken.contains(&contact), "{contact}");
        let p = position(&store, &contact).await;
        if taken.contains(&contact) {
            assert_eq!(p.state, State::Active, "{contact}: B's lease, untouched");
        } else {
            assert_eq!(
                (p.state, p.wake_at),
                (State::Waiting, Some(far)),
                "{contact}"
            );
        }
    }
}

/// The live map's read: positions of one revision per state (and step, for
/// waiting and failed ones), the attempts per webhook, and the newest
/// failures first; other campaigns and revisions do not count.
async fn the_map_counts_one_revision_where_its_contacts_stand_and_what_they_sent(
    store: Arc<Database>,
) {
    for c in ["a", "b", "c", "d", "e"] {
        store
            .apply(enroll("C", c), &Triggers::default())
            .await
            .unwrap();
    }
    store
        .apply(enroll("Other", "z"), &Triggers::default())
        .await
        .unwrap();
    let t = now() + 1000;
    let claimed = store.claim("A", t, 10, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 6);
    let attempt = |n: u32, key: &str, status: Option<u16>| AttemptRow {
        step: "Create".into(),
        attempt: n,
        key: key.into(),
        status,
        error: status.is_none().then(|| "connection refused".to_string()),
        ms: 1.0,
    };
    let mut at = 0;
    for c in claimed {
        let mut p = c.position;
        let mut attempts = Vec::new();
        match p.contact.as_str() {
            "a" | "b" => {
                p.state = State::Waiting;
                p.step = Some("2".into());
                p.wake_at = Some(t + 1_000_000);
                p.resume_at = p.wake_at;
                attempts.push(attempt(1, &format!("k-{}", p.contact), Some(200)));
            }
            "c" | "d" => {
                // Failed at step 1 after a refused connection and a 500;
                // `d` fails later, so it is listed first.
                at += 1;
                std::thread::sleep(std::time::Duration::from_millis(5 * at));
                p.state = State::Failed;
                p.step = Some("1".into());
                p.wake_at = None;
                p.error_code = Some("campaign::deliver::status".into());
                p.error = Some(format!("HTTP 500 for {}", p.contact));
                let key = format!("k-{}", p.contact);
                attempts.push(attempt(1, &key, None));
                attempts.push(attempt(2, &key, Some(500)));
            }
            _ => {
                p.state = State::Done;
                p.step = None;
                p.wake_at = None;
            }
        }
        let cp = Checkpoint {
            position: p,
            release: true,
            change: Change::default(),
            attempts,
            claimed_ms: i64::MAX,
        };
        assert!(store
            .checkpoint("A", cp, &Triggers::default(), 60_000)
            .await
            .unwrap());
    }
    let map = store.map_counts("C", 1, 10).await.unwrap();
    let positions: Vec<_> = map
        .positions
        .iter()
        .map(|r| (r.state, r.step.as_deref(), r.count))
        .collect();
    assert_eq!(
        positions,
        vec![
            (State::Done, None, 1),
            (State::Failed, Some("1"), 2),
            (State::Waiting, Some("2"), 2),
        ]
    );
    assert_eq!(
        map.sends,
        vec![SendCount {
            webhook: "Create".into(),
            requests: 4,
            delivered: 2,
            failed_attempts: 4,
        }]
    );
    let failed: Vec<&str> = map.failures.iter().map(|f| f.contact.as_str()).collect();
    assert_eq!(failed, ["d", "c"]);
    let FailureRow {
        step, code, error, ..
    } = &map.failures[0];
    assert_eq!(
        (step.as_deref(), code.as_deref(), error.as_deref()),
        (
            Some("1"),
            Some("campaign::deliver::status"),
            Some("HTTP 500 for d")
        )
    );
    let one = store.map_counts("C", 1, 1).await.unwrap();
    assert_eq!(one.failures.len(), 1, "the limit holds");
    let other = store.map_counts("C", 2, 10).await.unwrap();
    assert!(other.positions.is_empty() && other.sends.is_empty() && other.failures.is_empty());
}

/// An SQLite file from the first schema is brought to the newest on open,
/// once, keeping its rows; the indexes the live map needs exist after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_file_of_schema_1_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let store = campaign::store::sqlite::SqliteStore::open(&path).unwrap();
        store
            .apply(enroll("C", "kept"), &Triggers::default())
            .await
            .unwrap();
    }
    let indexes = |conn: &rusqlite::Connection| -> Vec<String> {
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('attempts_revision', 'positions_failed') ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let version = |conn: &rusqlite::Connection| -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    };
    // Take it back to what the first build wrote.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(version(&conn), 2);
        assert_eq!(indexes(&conn), ["attempts_revision", "positions_failed"]);
        conn.execute_batch(
            "DROP INDEX attempts_revision; DROP INDEX positions_failed; PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    for _ in 0..2 {
        let store = campaign::store::sqlite::SqliteStore::open(&path).unwrap();
        assert!(store.contact("kept").await.unwrap().is_some());
        drop(store);
        let conn = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(version(&conn), 2);
        assert_eq!(indexes(&conn), ["attempts_revision", "positions_failed"]);
    }
}
