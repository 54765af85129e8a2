//! The writer thread and its queue: [`Journal::record`] hands entries over
//! without waiting for the disk and returns a [`Ticket`]; the thread commits
//! them continuously (group commit, no timer), and [`Journal::committed`]
//! resolves once a ticket's entry is on disk. See the module docs of
//! [`super`] for when a commit starts and why.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use rusqlite::{params, Connection};

use super::error::{JournalError, WriterFailure};
use super::records::Entry;
use super::schema::end_session;
use super::Journal;

/// How many entries may wait for the writer before [`Journal::record`]
/// blocks. This is back-pressure rather than unbounded memory: it is only
/// reached if the disk is persistently slower than the network, and it caps
/// the queue at a few megabytes. The engine never reaches it: a contact in
/// flight has at most three entries not yet committed before it waits (an
/// attempt, a delivery, its ending), and 4,096 contacts in flight (the most
/// `--concurrency` allows) make 12,288.
pub const QUEUE_CAPACITY: usize = 32_768;

/// The hand-over between [`Journal::record`] and the writer thread.
///
/// Producers push onto a shared vector under a mutex, and the writer swaps
/// the whole vector out at once. Compared with a channel, this costs a
/// wake-up per commit rather than per entry, which matters at ~100k entries
/// a second on a two-core machine.
pub(super) struct Queue {
    state: Mutex<QueueState>,
    /// Wakes an idle writer: a task waits for a ticket, a flush, a producer
    /// blocked on a full queue, or the journal is closing.
    work: Condvar,
    /// Wakes producers blocked on a full queue.
    space: Condvar,
    /// Wakes flushers after a commit, or when the writer stops.
    flushed: Condvar,
}

#[derive(Default)]
struct QueueState {
    /// Entries not yet taken by the writer.
    entries: Vec<Entry>,
    /// Entries accepted so far: the last ticket handed out.
    recorded: u64,
    /// Every ticket up to this one is committed.
    committed: u64,
    /// Tasks waiting in [`Journal::committed`] for a ticket, woken by the
    /// commit that covers it (not by every commit: with thousands of
    /// contacts in flight, waking all of them per commit would cost more
    /// than the commits).
    waiters: Vec<(u64, Waker)>,
    /// The writer waits for a first entry, outside any transaction.
    writer_idle: bool,
    /// Producers waiting for room.
    blocked: usize,
    /// [`Journal::close`] (or drop) asked the writer to finish.
    closing: bool,
    /// The error the writer stopped on; once set, entries are dropped.
    failure: Option<Arc<WriterFailure>>,
}

/// Identifies one recorded entry, to wait until it is committed with
/// [`Journal::committed`]. Tickets increase in recording order, and
/// entries are committed in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

impl Queue {
    pub(super) fn new() -> Queue {
        Queue {
            state: Mutex::new(QueueState::default()),
            work: Condvar::new(),
            space: Condvar::new(),
            flushed: Condvar::new(),
        }
    }
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Nothing here panics while holding the lock, and the state stays
        // consistent at every unlock, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(
        &self,
        condvar: &Condvar,
        guard: MutexGuard<'a, QueueState>,
    ) -> MutexGuard<'a, QueueState> {
        condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the writer to commit what is queued, then return.
    pub(super) fn close(&self) {
        self.lock().closing = true;
        self.work.notify_one();
    }

    /// Records the writer's error and releases everyone waiting on it.
    pub(super) fn fail(&self, failure: WriterFailure) {
        let mut state = self.lock();
        state.failure.get_or_insert(Arc::new(failure));
        state.entries = Vec::new();
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        self.space.notify_all();
        self.flushed.notify_all();
        for (_, waker) in waiters {
            waker.wake();
        }
    }

    /// Marks every ticket up to `upto` committed and wakes whoever waits
    /// for one of them.
    fn committed(&self, upto: u64) {
        let mut state = self.lock();
        state.committed = state.committed.max(upto);
        let mut ready = Vec::new();
        let mut i = 0;
        while i < state.waiters.len() {
            if state.waiters[i].0 <= upto {
                ready.push(state.waiters.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
        drop(state);
        self.flushed.notify_all();
        for waker in ready {
            waker.wake();
        }
    }
}

impl Journal {
    /// Queues an entry for the writer thread and returns its ticket. It
    /// does not wait for the disk; it blocks only if [`QUEUE_CAPACITY`]
    /// entries are already waiting (back-pressure instead of unbounded
    /// memory). The entry is committed by the next commit, which starts when
    /// a task waits for this ticket or a later one ([`Journal::committed`]),
    /// or on [`Journal::flush`] or [`Journal::close`], if the writer is not
    /// already at work.
    ///
    /// Errors are not reported here but by [`Journal::committed`],
    /// [`Journal::check`], [`Journal::flush`] and [`Journal::close`]; after
    /// the writer has stopped on an error, entries are dropped.
    pub fn record(&self, entry: Entry) -> Ticket {
        let queue = &*self.queue;
        let mut state = queue.lock();
        while state.entries.len() >= QUEUE_CAPACITY && state.failure.is_none() {
            state.blocked += 1;
            queue.work.notify_one();
            state = queue.wait(&queue.space, state);
            state.blocked -= 1;
        }
        if state.failure.is_some() || state.closing {
            return Ticket(state.recorded);
        }
        state.entries.push(entry);
        state.recorded += 1;
        Ticket(state.recorded)
    }

    /// Resolves once the entry of `ticket` (and so every entry recorded
    /// before it) is committed to the file, or with the writer's error if
    /// it stopped first. Waiting starts the writer if it is idle, after
    /// letting the other ready tasks run once (see the module docs), and
    /// costs no thread: the writer wakes the task with the commit that
    /// covers the ticket.
    pub fn committed(&self, ticket: Ticket) -> Committed<'_> {
        Committed {
            journal: self,
            ticket,
            yielded: false,
        }
    }

    /// Whether the writer is still healthy: the error it stopped on, if any.
    /// Cheap; the engine may call it now and then to stop early when the
    /// journal can no longer record (disk full, ...).
    pub fn check(&self) -> Result<(), JournalError> {
        match &self.queue.lock().failure {
            Some(failure) => Err(self.writer_error(failure.clone())),
            None => Ok(()),
        }
    }

    /// Blocks until everything recorded before this call is committed to the
    /// file: about one commit. Used at the end of a run. From async code,
    /// wait with [`Journal::committed`] instead.
    pub fn flush(&self) -> Result<(), JournalError> {
        let queue = &*self.queue;
        let mut state = queue.lock();
        let target = state.recorded;
        queue.work.notify_one();
        while state.committed < target && state.failure.is_none() && self.writer.is_some() {
            state = queue.wait(&queue.flushed, state);
        }
        match &state.failure {
            Some(failure) => Err(self.writer_error(failure.clone())),
            None => Ok(()),
        }
    }
}

/// The future of [`Journal::committed`].
#[must_use = "a ticket is only waited for when the future is awaited"]
pub struct Committed<'a> {
    journal: &'a Journal,
    ticket: Ticket,
    /// Whether the task has let the other ready tasks run once.
    yielded: bool,
}

impl Future for Committed<'_> {
    type Output = Result<(), JournalError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let queue = &*self.journal.queue;
        let mut state = queue.lock();
        if let Some(failure) = &state.failure {
            let failure = failure.clone();
            drop(state);
            return Poll::Ready(Err(self.journal.writer_error(failure)));
        }
        if state.committed >= self.ticket.0 {
            return Poll::Ready(Ok(()));
        }
        if !self.yielded {
            // Let the tasks that are ready now record their entries too, so
            // that one commit covers them all.
            drop(state);
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        state.waiters.push((self.ticket.0, cx.waker().clone()));
        // A busy writer takes the entry after its current commit by itself.
        let start = state.writer_idle && !state.entries.is_empty();
        drop(state);
        if start {
            queue.work.notify_one();
        }
        Poll::Pending
    }
}

/// The writer thread's prepared statements, one per entry kind.
struct Statements<'conn> {
    attempt: rusqlite::Statement<'conn>,
    delivered: rusqlite::Statement<'conn>,
    wait: rusqlite::Statement<'conn>,
    finished: rusqlite::Statement<'conn>,
    effects: rusqlite::Statement<'conn>,
    session: i64,
}

impl<'conn> Statements<'conn> {
    fn prepare(conn: &'conn Connection, session: i64) -> rusqlite::Result<Self> {
        Ok(Statements {
            attempt: conn.prepare(
                "INSERT INTO attempts (session, contact, webhook, step, attempt, key, status, error, started_ms, duration_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
            // Appends only; see MERGE for how they reach the lookup tables.
            delivered: conn.prepare(
                "INSERT INTO pending_deliveries (contact, webhook, key, status, captures)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            wait: conn.prepare(
                "INSERT INTO pending_waits (contact, idx, resume_at_ms) VALUES (?1, ?2, ?3)",
            )?,
            finished: conn.prepare(
                "INSERT INTO pending_contacts (contact, status, steps, error, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            effects: conn.prepare(
                "INSERT OR REPLACE INTO contact_effects (contact, effects) VALUES (?1, ?2)",
            )?,
            session,
        })
    }

    fn apply(&mut self, entry: Entry) -> rusqlite::Result<()> {
        match entry {
            Entry::Attempt(a) => {
                let duration_us = i64::try_from(a.duration_us).unwrap_or(i64::MAX);
                self.attempt.execute(params![
                    self.session,
                    a.contact,
                    a.webhook,
                    a.step,
                    a.attempt,
                    a.key,
                    a.status,
                    a.error,
                    a.started_ms,
                    duration_us
                ])?;
            }
            Entry::Delivered(d) => {
                // Serialising pairs of strings cannot fail.
                let captures =
                    serde_json::to_string(&d.captures).unwrap_or_else(|_| "[]".to_string());
                self.delivered
                    .execute(params![d.contact, d.webhook, d.key, d.status, captures])?;
            }
            Entry::Wait(w) => {
                self.wait
                    .execute(params![w.contact, w.index, w.resume_at_ms])?;
            }
            Entry::Finished(c) => {
                self.finished.execute(params![
                    c.contact,
                    c.status.as_str(),
                    c.steps,
                    c.error,
                    c.updated_ms
                ])?;
            }
            Entry::Effects { contact, effects } => {
                self.effects.execute(params![contact, effects])?;
            }
        }
        Ok(())
    }
}

/// The writer thread: waits to be started (see [`Queue::work`]), takes
/// everything queued, applies it in one transaction and commits, and goes
/// straight on with whatever was queued meanwhile (group commit, no timer)
/// until the queue is empty. Returns once the journal is closing and the
/// queue is drained.
fn write_loop(conn: &Connection, queue: &Queue, session: i64) -> rusqlite::Result<()> {
    let mut statements = Statements::prepare(conn, session)?;
    // Swapped with the queue's vector, so both keep their allocation.
    let mut batch: Vec<Entry> = Vec::new();
    loop {
        let upto = {
            let mut state = queue.lock();
            while state.entries.is_empty() && !state.closing {
                state.writer_idle = true;
                state = queue.wait(&queue.work, state);
            }
            state.writer_idle = false;
            if state.entries.is_empty() {
                return Ok(());
            }
            std::mem::swap(&mut state.entries, &mut batch);
            if state.blocked > 0 {
                queue.space.notify_all();
            }
            // Every ticket handed out so far is in this batch or an earlier one.
            state.recorded
        };
        // Cached: at thousands of commits a second, parsing `BEGIN` and
        // `COMMIT` each time shows in a profile.
        conn.prepare_cached("BEGIN")?.execute([])?;
        for entry in batch.drain(..) {
            statements.apply(entry)?;
        }
        conn.prepare_cached("COMMIT")?.execute([])?;
        queue.committed(upto);
    }
}

/// Starts the writer thread on `conn` for session `session`. When it has
/// drained the queue on close, it marks the session ended; on an error it
/// leaves the file at its last commit (and the log in place, as a crash
/// would) and records the failure for every waiter.
pub(super) fn start(
    conn: Connection,
    queue: &Arc<Queue>,
    session: i64,
    path: &Path,
) -> Result<JoinHandle<()>, JournalError> {
    let queue = Arc::clone(queue);
    std::thread::Builder::new()
        .name("campaign-journal".to_string())
        .spawn(move || match write_loop(&conn, &queue, session) {
            Ok(()) => {
                // Everything is committed: mark the session ended. The
                // close that follows folds the log into the file.
                if let Err(e) = end_session(&conn, session) {
                    queue.fail(e.into());
                }
            }
            Err(e) => {
                // Whatever the batch held is lost; leave the file at its
                // last commit (and the log in place, as a crash would).
                let _ = conn.execute_batch("ROLLBACK");
                queue.fail(e.into());
            }
        })
        .map_err(|e| JournalError::Writer {
            path: path.to_path_buf(),
            source: Arc::new(WriterFailure::Start(e)),
        })
}
