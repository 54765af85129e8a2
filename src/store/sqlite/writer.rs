//! The writer thread of an SQLite store, and its group commit: every write
//! call is queued here, and the thread runs what is queued together in one
//! transaction, each call in its own `SAVEPOINT`, answering each caller
//! only once that transaction has committed.
//!
//! Calls that can run twice ([`shared_job`]: claims and checkpoints) and
//! are queued next to each other share one savepoint instead: a savepoint
//! copies every page a call first touches into its journal, and for a
//! checkpoint that copying cost more than its own statements (measured:
//! 12% of the writer's time with 100,000 timers). Should one of them fail,
//! the shared savepoint is rolled back and each runs again in its own, so a
//! failure still undoes that call alone.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;

use crate::store::StoreError;

/// Most calls committed in one transaction: a bound on how long the first
/// of them waits for its answer.
const MAX_BATCH: usize = 1024;

/// `f` as a queued call, and where its answer arrives.
pub(super) fn job<T, F>(
    f: F,
) -> (
    Box<dyn Job>,
    tokio::sync::oneshot::Receiver<Result<T, StoreError>>,
)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Pending {
        f: Some(f),
        result: None,
        reply,
    };
    (Box::new(job), answer)
}

/// `f` as a queued call that may share a savepoint with its neighbours
/// (see the module's doc): `f` must do the same when run again after a
/// rollback.
pub(super) fn shared_job<T, F>(
    f: F,
) -> (
    Box<dyn Job>,
    tokio::sync::oneshot::Receiver<Result<T, StoreError>>,
)
where
    T: Send + 'static,
    F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Repeatable {
        f,
        result: None,
        reply,
    };
    (Box::new(job), answer)
}

/// A call queued for the writer.
pub(super) trait Job: Send {
    /// Runs the call in its savepoint; returns whether it succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Whether it may run in a savepoint shared with other calls.
    fn shares(&self) -> bool {
        false
    }
    /// Runs the call inside the savepoint it shares (only when
    /// [`Job::shares`]); returns whether it succeeded. After a failure of
    /// any call sharing it, [`Job::run`] runs it again alone.
    fn run_shared(&mut self, _conn: &Connection) -> bool {
        false
    }
    /// Answers the caller, once the transaction's fate is known.
    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
}

struct Repeatable<T, F> {
    f: F,
    result: Option<Result<T, StoreError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Repeatable<T, F>
where
    T: Send,
    F: Fn(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = savepoint(conn, |conn| (self.f)(conn));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn shares(&self) -> bool {
        true
    }

    fn run_shared(&mut self, conn: &Connection) -> bool {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.f)(conn)))
            .unwrap_or(Err(StoreError::Gone));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        answer(self.reply, self.result, committed);
    }
}

/// Sends a call's answer: its result if its transaction committed.
fn answer<T>(
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
    result: Option<Result<T, StoreError>>,
    committed: Result<(), &rusqlite::Error>,
) {
    let result = match (committed, result) {
        (Ok(()), Some(result)) => result,
        (Ok(()), None) => Err(StoreError::Gone),
        (Err(e), _) => Err(StoreError::Sqlite(copy_error(e))),
    };
    // The caller may have gone away (a dropped request): nothing to do.
    let _ = reply.send(result);
}

struct Pending<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let result = savepoint(conn, f);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        answer(self.reply, self.result, committed);
    }
}

/// An error for each caller of a batch that failed as a whole
/// (`rusqlite::Error` is not `Clone`).
fn copy_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// Runs `f` between `SAVEPOINT` and `RELEASE`, rolled back to the
/// savepoint when it fails (or panics: the writer thread goes on).
fn savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.prepare_cached("SAVEPOINT call")?.execute([])?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
        .unwrap_or(Err(StoreError::Gone));
    let released = result.and_then(|value| {
        conn.prepare_cached("RELEASE call")?.execute([])?;
        Ok(value)
    });
    match released {
        Ok(value) => Ok(value),
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK TO call; RELEASE call");
            }
            Err(e)
        }
    }
}

/// The writer thread: takes everything queued when it is free (up to
/// [`MAX_BATCH`] calls), runs it in one immediate transaction, commits,
/// answers; until the store is dropped.
pub(super) fn run(
    conn: Connection,
    mut jobs: tokio::sync::mpsc::UnboundedReceiver<Box<dyn Job>>,
    commits: &AtomicU64,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::new();
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, &mut batch, commits);
    }
}

fn run_batch(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, commits: &AtomicU64) {
    let begin = |conn: &Connection| conn.execute_batch("BEGIN IMMEDIATE");
    if let Err(e) = begin(conn) {
        for job in batch.drain(..) {
            job.finish(Err(&e));
        }
        return;
    }
    // Units to run: one call alone, or neighbours that share a savepoint.
    let mut units: VecDeque<Vec<Box<dyn Job>>> = VecDeque::new();
    for job in batch.drain(..) {
        match units.back_mut() {
            Some(last) if job.shares() && last[0].shares() => last.push(job),
            _ => units.push_back(vec![job]),
        }
    }
    let mut done: Vec<Box<dyn Job>> = Vec::with_capacity(units.len());
    while let Some(mut unit) = units.pop_front() {
        if unit.len() > 1 {
            let held = run_shared(conn, &mut unit);
            if held == Shared::Committed {
                done.append(&mut unit);
                continue;
            }
            // Each on its own now, so that a failure undoes its call alone.
            for job in unit.into_iter().rev() {
                units.push_front(vec![job]);
            }
            if held == Shared::RolledBack {
                continue;
            }
            // The whole transaction was rolled back (below).
            for earlier in done.drain(..) {
                earlier.finish(Err(&lost()));
            }
            if let Err(e) = begin(conn) {
                for job in units.into_iter().flatten() {
                    job.finish(Err(&e));
                }
                return;
            }
            continue;
        }
        let Some(mut job) = unit.pop() else { continue };
        if job.run(conn) || !conn.is_autocommit() {
            done.push(job);
            continue;
        }
        // SQLite rolled the whole transaction back (a full disk, an I/O
        // error): the calls before this one lost their work too.
        for earlier in done.drain(..) {
            earlier.finish(Err(&lost()));
        }
        job.finish(Ok(()));
        if let Err(e) = begin(conn) {
            for job in units.into_iter().flatten() {
                job.finish(Err(&e));
            }
            return;
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            for job in done {
                job.finish(Ok(()));
            }
        }
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            for job in done {
                job.finish(Err(&e));
            }
        }
    }
}

/// The error of calls whose work a rolled-back transaction took with it.
fn lost() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some("the transaction was rolled back".into()),
    )
}

/// How calls sharing a savepoint went.
#[derive(Debug, PartialEq, Eq)]
enum Shared {
    /// All succeeded: their work stands.
    Committed,
    /// One failed: the savepoint was rolled back, nothing of theirs stands.
    RolledBack,
    /// SQLite rolled the whole transaction back.
    Lost,
}

/// Runs `unit` in one savepoint.
fn run_shared(conn: &Connection, unit: &mut [Box<dyn Job>]) -> Shared {
    let ran = (|| {
        conn.prepare_cached("SAVEPOINT calls")?.execute([])?;
        for job in unit.iter_mut() {
            if !job.run_shared(conn) {
                return Ok(false);
            }
        }
        conn.prepare_cached("RELEASE calls")?.execute([])?;
        Ok::<bool, rusqlite::Error>(true)
    })();
    if let Ok(true) = ran {
        return Shared::Committed;
    }
    if conn.is_autocommit() {
        return Shared::Lost;
    }
    let _ = conn.execute_batch("ROLLBACK TO calls; RELEASE calls");
    Shared::RolledBack
}
