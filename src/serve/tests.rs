//! The engine on a manual clock: waits of days run without sleeping them,
//! never early, and goals pull contacts forward. A real SQLite file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::engine::{Clock, DEFAULT_RETRY_SCHEDULE};
use super::{engine, Options, Source};
use crate::diagnostics::SourceFile;
use crate::store::sqlite::SqliteStore;
use crate::store::{Change, Inbound, State, Store, Triggers};

const DAY_MS: i64 = 24 * 3600 * 1000;

fn source(text: &str) -> Source {
    Source {
        file: PathBuf::from("test.campaign"),
        campaign: crate::syntax::parser::parse(text).expect("parses"),
        program: crate::compile(text, None).expect("compiles").program,
        source: SourceFile::new("test.campaign", text),
    }
}

fn options(clock: Clock) -> Options {
    Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        concurrency: 4,
        rate: None,
        env_file: None,
        allow_private: false,
        token: None,
        map_token: None,
        retry_schedule: DEFAULT_RETRY_SCHEDULE.to_vec(),
        grace: Duration::from_secs(1),
        retention: None,
        clock,
        lease: super::engine::DEFAULT_LEASE,
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_of_days_ends_exactly_on_time_and_a_goal_cuts_it_short() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let now = Arc::new(AtomicI64::new(start));
    let text = r#"campaign "Days" {
    wait 3 days
    tag add "Woke"
    wait 30 days
    tag add "Never"
    goal "Bought" when has tag "Customer"
    tag add "Thanked"
}
"#;
    let engine = engine(
        store.clone(),
        vec![source(text)],
        &options(Clock::Manual(now.clone())),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    for id in ["a", "b"] {
        store
            .apply(enroll("Days", id), &Triggers::default())
            .await
            .unwrap();
    }
    // Entries are due at the database's time; the engine's clock is set a
    // second past it, and every wait is measured from there.
    let t0 = start + 1000;
    now.store(t0, Ordering::SeqCst);
    engine.run_due().await.unwrap();
    let state = |id: &'static str| {
        let store = store.clone();
        async move {
            let (data, positions) = store.contact(id).await.unwrap().unwrap();
            (positions[0].state, positions[0].step.clone(), data.tags)
        }
    };
    assert_eq!(state("a").await, (State::Waiting, Some("1".into()), vec![]));

    // One millisecond early: still waiting.
    now.store(t0 + 3 * DAY_MS - 1, Ordering::SeqCst);
    engine.run_due().await.unwrap();
    assert_eq!(state("a").await.0, State::Waiting);

    // On time: it goes on to the next wait.
    now.store(t0 + 3 * DAY_MS + 5, Ordering::SeqCst);
    engine.run_due().await.unwrap();
    assert_eq!(
        state("a").await,
        (State::Waiting, Some("3".into()), vec!["Woke".to_string()])
    );

    // A tag lands on `a` during its 30-day wait: the goal pulls it forward
    // at once, skipping the tag before the goal.
    let tag = Inbound {
        dedupe: None,
        source: "test".into(),
        change: Change {
            contact: "a".into(),
            add_tags: vec!["Customer".into()],
            ..Change::default()
        },
        enroll: Vec::new(),
    };
    store.apply(tag, &Triggers::default()).await.unwrap();
    engine.run_due().await.unwrap();
    let (state_a, _, tags) = state("a").await;
    assert_eq!(state_a, State::Done);
    assert!(
        tags.contains(&"Thanked".to_string()) && !tags.contains(&"Never".to_string()),
        "{tags:?}"
    );

    // `b`, with no such tag, is woken by nothing and stays in its wait
    // until the 30 days are over.
    assert_eq!(state("b").await.1, Some("3".into()));
    now.store(t0 + 3 * DAY_MS + 5 + 30 * DAY_MS - 1, Ordering::SeqCst);
    engine.run_due().await.unwrap();
    assert_eq!(state("b").await.1, Some("3".into()));
    now.store(t0 + 3 * DAY_MS + 5 + 30 * DAY_MS, Ordering::SeqCst);
    engine.run_due().await.unwrap();
    let (state_b, _, tags) = state("b").await;
    assert_eq!(state_b, State::Done);
    assert_eq!(tags, vec!["Woke", "Never", "Thanked"]);
}
