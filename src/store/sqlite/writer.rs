//! The writer thread of an SQLite store, and its group commit: every write
//! call is queued here, and the thread runs what is queued together in one
//! transaction, each call in its own `SAVEPOINT`, answering each caller
//! only once that transaction has committed.

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

/// A call queued for the writer.
pub(super) trait Job: Send {
    /// Runs the call in its savepoint; returns whether it succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller, once the transaction's fate is known.
    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
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
        let result = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Gone),
            (Err(e), _) => Err(StoreError::Sqlite(copy_error(e))),
        };
        // The caller may have gone away (a dropped request): nothing to do.
        let _ = self.reply.send(result);
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
    let mut done: Vec<Box<dyn Job>> = Vec::with_capacity(batch.len());
    let mut pending = batch.drain(..);
    while let Some(mut job) = pending.next() {
        if job.run(conn) || !conn.is_autocommit() {
            done.push(job);
            continue;
        }
        // SQLite rolled the whole transaction back (a full disk, an I/O
        // error): the calls before this one lost their work too.
        let lost = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
            Some("the transaction was rolled back".into()),
        );
        for earlier in done.drain(..) {
            earlier.finish(Err(&lost));
        }
        job.finish(Ok(()));
        if let Err(e) = begin(conn) {
            for job in pending {
                job.finish(Err(&e));
            }
            return;
        }
    }
    drop(pending);
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
