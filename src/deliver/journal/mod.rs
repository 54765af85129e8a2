//! The delivery journal: an SQLite file (`--journal FILE`) that records a real
//! run so that it can be resumed after a crash or Ctrl-C, and reported on
//! afterwards (`campaign report FILE`).
//!
//! # What it is for
//!
//! The delivery engine replays every contact deterministically from the start
//! of the campaign. On a resumed run it reads, per contact, its
//! [`History`] ([`Journal::history`], on the thread that reads the contacts,
//! so that SQLite never holds up the requests in flight):
//!
//! - its record: did this contact finish (done or failed)? Then it is
//!   skipped. Is it parked at a `wait`? Then [`History::resume_at_ms`] says
//!   when it may go on.
//! - its deliveries: did a webhook step already get a 2xx for this contact?
//!   Then it is not sent again; its captured values are re-applied.
//! - its waits: when may the contact's n-th `wait` end? The first recorded
//!   time stands, so resuming never pushes a wait further out.
//!
//! Every request attempt is recorded too ([`Entry::Attempt`]), for the report
//! and for audit.
//!
//! # Layout
//!
//! - [`schema`]: the file format, its identity marks and versions, the run's
//!   metadata and sessions.
//! - `lock`: the run lock (below).
//! - `writer`: the writer thread, its queue and tickets (group commit).
//! - `merge`: moving appended rows into the lookup tables at open.
//! - `lookup`: [`Journal::history`].
//! - [`records`]: the record types, one set for writing, reading and the
//!   report.
//! - [`report`]: [`summary`], what `campaign report` prints.
//!
//! # Durability model
//!
//! [`Journal::record`] never waits for the disk: it hands the entry to a
//! background writer thread and returns a [`Ticket`], and
//! [`Journal::committed`] resolves once the ticket's entry is committed. The
//! engine waits on it before it sends a contact's next request, before a
//! retry's backoff, and before it gives the contact's concurrency slot to
//! another contact, so a request counts as in flight until its outcome is on
//! disk: after `kill -9`, at most one answered-but-unrecorded request per
//! slot (`--concurrency` in all) is sent again on resume, with the same
//! idempotency key (derived from [`Journal::run_id`]).
//!
//! The writer commits continuously (group commit), with no timer: as soon
//! as a task waits for a ticket, or [`Journal::flush`] is called, it takes
//! everything queued, applies it in one transaction and commits, then goes
//! straight on with whatever was queued meanwhile, until the queue is empty.
//! A waiting task first lets the other tasks that are ready at that moment
//! run (it yields once), so the contacts whose responses arrived together
//! record their outcomes before the commit that covers them all starts:
//! starting the writer at the first entry of such a burst instead measured
//! five times as many commits, each with a fixed cost in system calls, and
//! cost a fifth of the throughput on a busy two-core machine. The file is in
//! WAL mode with `synchronous=NORMAL`: a commit is a `write` to the log, not
//! an fsync, so a killed process loses nothing committed (a power cut may
//! lose the last commits).
//!
//! # What reads see: earlier sessions
//!
//! During a run the writer only appends: contact statuses, deliveries and
//! waits go to `pending_*` tables in recording order, with no index. When the
//! journal is next opened, [`Journal::open`] merges them, sorted, into the
//! lookup tables that [`Journal::history`] reads by primary key. So reads
//! see everything
//! that earlier sessions committed (a crashed one included), and none of this
//! session's entries.
//!
//! That is all the engine needs, because one run visits each contact once and
//! never asks about what it has just done itself; and it is what makes the
//! journal fast. Contact ids (emails, CRM ids) arrive in no particular key
//! order, and inserting them straight into indexed tables dirties one 4 KiB
//! page per row once the tables outgrow the batch: measured at 200,000
//! contacts with scattered ids, 5,000 contacts/s that way against 30,000 to
//! 90,000 with appends (depending on machine load), a run's worth of rows
//! then being merged at about 3 µs a row at the next open. A run that is
//! never resumed never pays for the merge at all. [`summary`], which cannot
//! merge (it opens read-only), reads pending rows as well as merged ones.
//!
//! Reads use their own connection (WAL lets it read while the writer writes),
//! behind a mutex, with cached prepared statements. Nothing is kept in memory
//! per contact, so memory does not grow with the number of contacts.
//!
//! # The run lock
//!
//! A run holds an exclusive `flock` on the journal file itself while the
//! journal is open, so a second run on it, by whatever path, is refused
//! ([`JournalError::InUse`]); the system releases it however the process
//! ends.
//!
//! # Schema (version 2)
//!
//! The file is marked with `PRAGMA application_id` =
//! [`schema::APPLICATION_ID`] and `PRAGMA user_version` =
//! [`schema::SCHEMA_VERSION`], so that another SQLite database
//! is never mistaken for (or overwritten as) a journal.
//!
//! ```sql
//! CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
//!   -- digest, campaign, contacts, run_id, started_ms, sessions, and
//!   -- log_session: the session whose first commit started the log
//! CREATE TABLE sessions (id INTEGER PRIMARY KEY, started_ms INTEGER NOT NULL,
//!   ended_ms INTEGER);
//!   -- one row per open, checkpointed into the main file at once; ended_ms
//!   -- is set by a clean close, so NULL on the last row means a crash
//! -- Lookup tables, read by primary key, written only by the merge at open:
//! CREATE TABLE contacts (contact TEXT PRIMARY KEY, status TEXT NOT NULL,
//!   steps INTEGER NOT NULL, error TEXT, updated_ms INTEGER NOT NULL) WITHOUT ROWID;
//!   -- status: 'done' | 'failed' | 'waiting'; a later record replaces an earlier one
//! CREATE TABLE deliveries (contact TEXT NOT NULL, webhook INTEGER NOT NULL,
//!   key TEXT NOT NULL, status INTEGER NOT NULL, captures TEXT NOT NULL,
//!   PRIMARY KEY (contact, webhook)) WITHOUT ROWID;
//!   -- captures: JSON [[field, value], ...]; a later 2xx replaces an earlier one
//! CREATE TABLE waits (contact TEXT NOT NULL, idx INTEGER NOT NULL,
//!   resume_at_ms INTEGER NOT NULL, PRIMARY KEY (contact, idx)) WITHOUT ROWID;
//!   -- the first recorded time stands
//! -- Append-only, written by the writer thread (rowid order, no index):
//! CREATE TABLE pending_contacts (id INTEGER PRIMARY KEY, <the columns of contacts>);
//! CREATE TABLE pending_deliveries (id INTEGER PRIMARY KEY, <the columns of deliveries>);
//! CREATE TABLE pending_waits (id INTEGER PRIMARY KEY, <the columns of waits>);
//! CREATE TABLE attempts (id INTEGER PRIMARY KEY, session INTEGER NOT NULL,
//!   contact TEXT NOT NULL, webhook INTEGER NOT NULL, step TEXT NOT NULL,
//!   attempt INTEGER NOT NULL, key TEXT NOT NULL, status INTEGER, error TEXT,
//!   started_ms INTEGER NOT NULL, duration_us INTEGER NOT NULL);
//!   -- never merged: only the report reads it, by full scans
//! ```
//!
//! All text is stored as given: the engine redacts secrets before recording,
//! and this module never logs values.

mod error;
mod lock;
mod lookup;
mod merge;
pub mod records;
pub mod report;
pub mod schema;
mod writer;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags};

pub use error::{JournalError, WriterFailure};
pub use records::{Attempt, ContactRecord, ContactStatus, Delivery, Entry, History, Wait};
pub use report::{summary, Summary, LAST_ERRORS};
pub use writer::{Committed, Ticket, QUEUE_CAPACITY};

use schema::{check_identity, checkpoint, init_meta, keep_log_on_close, wal_path, RunIdentity};
use writer::Queue;

/// How long a connection waits for a lock held by another connection (the
/// checkpointer, or a `campaign report` reading the same file) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The journal of one campaign's run, shared by the engine's tasks (it is
/// `Send + Sync`; wrap it in an `Arc`).
///
/// Dropping it flushes and stops the writer like [`Journal::close`], but
/// without reporting errors: call `close` to learn of them.
pub struct Journal {
    path: PathBuf,
    run_id: String,
    resumed: bool,
    /// Closed before the writer's connection, so that the writer's is the
    /// last and its close folds the log into the file (see `shutdown`).
    reader: Mutex<Option<Connection>>,
    queue: Arc<Queue>,
    /// The writer thread, until the journal is closed.
    writer: Option<JoinHandle<()>>,
    /// An exclusive `flock` on the journal file itself, held while the
    /// journal is open; the system releases it when the process ends,
    /// however it ends. Declared last so that it is closed after every
    /// SQLite connection: closing any descriptor of a file drops the
    /// process's POSIX locks on it, which SQLite's connections rely on.
    /// (An `Option` only so that tests can simulate a crash.)
    _lock: Option<File>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("run_id", &self.run_id)
            .field("resumed", &self.resumed)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens the journal at `path`, creating it if there is no file (or an
    /// empty one).
    ///
    /// A journal belongs to one run: `campaign_digest` identifies the
    /// compiled campaign and `contacts` the contacts file (see
    /// [`crate::deliver::fingerprint`]). Reopening it with another campaign
    /// fails with [`JournalError::OtherCampaign`], with other contacts with
    /// [`JournalError::OtherContacts`]: replaying different steps or
    /// different people against the record would send the wrong requests. A
    /// new journal gets a random 128-bit run id, kept for its lifetime, from
    /// which the engine derives idempotency keys; a reopened one keeps it, so
    /// resumed requests carry the same keys. A file that is not a journal is
    /// refused and left untouched.
    ///
    /// Each open starts a session, written and checkpointed into the main
    /// file before this returns; a clean close marks it ended. A journal
    /// whose last session never ended (a crash) and whose `-wal` file is gone
    /// has lost what that session wrote, so it is refused
    /// ([`JournalError::LostLog`]) rather than resumed from older records.
    ///
    /// On a resume, this merges what earlier sessions recorded into the
    /// lookup tables before returning (about 3 µs per recorded contact status,
    /// delivery or wait; a second or two for a 200,000-contact run), so the
    /// lookups see it. One process at a time may have a journal open,
    /// whatever path it is opened by: a second gets [`JournalError::InUse`].
    pub fn open(
        path: &Path,
        campaign_digest: &str,
        campaign_name: &str,
        contacts: &str,
    ) -> Result<Journal, JournalError> {
        let err = |e| JournalError::from_sqlite(path, e);
        let lock = lock::lock(path)?;
        // Looked at before SQLite opens the file, which would create it
        // (empty) if it were missing.
        let wal_present = std::fs::metadata(wal_path(path)).is_ok_and(|m| m.len() > 0);
        let conn = Connection::open(path).map_err(err)?;
        // Whatever happens next (a refusal included), closing this
        // connection must not fold the log into the file and delete it:
        // only a session that ends cleanly may (see `end_session`).
        keep_log_on_close(&conn);
        lock::still_locked(&lock, path)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // Look before changing anything: never turn someone else's database
        // into WAL mode or add tables to it.
        check_identity(&conn, path, true)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::NoWal {
                path: path.to_path_buf(),
                mode,
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;

        let run = RunIdentity {
            digest: campaign_digest,
            campaign: campaign_name,
            contacts,
        };
        let (run_id, resumed, session) = init_meta(&conn, path, &run, wal_present)?;
        // What earlier sessions recorded, finished or crashed, becomes
        // visible to this session's reads.
        merge::merge(&conn).map_err(err)?;
        // The session row (and on a new journal, the run itself) goes into
        // the main file now, before anything is sent: a main file without
        // it, or with a session that never ended, tells a lost log apart.
        checkpoint(&conn, path)?;
        // And the log gets its first commit, so that from now until the
        // session ends cleanly the log is never empty: an empty or missing
        // log under a session that did not end means a lost one, even if
        // some program (`sqlite3`, a read-only reader) has since made an
        // empty file in its place.
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('log_session', ?1)",
            [session.to_string()],
        )
        .map_err(err)?;

        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        reader.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // The reader only reads; say so, so a bug cannot make it write.
        reader
            .pragma_update(None, "query_only", true)
            .map_err(err)?;
        // Only the writer, which knows whether the session ended cleanly,
        // may fold the log into the file when it closes.
        keep_log_on_close(&reader);

        let queue = Arc::new(Queue::new());
        let writer = writer::start(conn, &queue, session, path)?;

        Ok(Journal {
            path: path.to_path_buf(),
            run_id,
            resumed,
            reader: Mutex::new(Some(reader)),
            queue,
            writer: Some(writer),
            _lock: Some(lock),
        })
    }

    /// The run id (32 lowercase hex digits), the same for every session of
    /// this journal. Idempotency keys derive from it.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether the file already held this run when it was opened, i.e. this
    /// is a resume. On a fresh run [`Journal::history`] finds nothing (it
    /// sees earlier sessions only), so the engine may skip it.
    pub fn is_resume(&self) -> bool {
        self.resumed
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, stops the writer thread and closes the file, reporting any
    /// error the writer met.
    pub fn close(mut self) -> Result<(), JournalError> {
        self.shutdown()
    }

    /// Abandons the journal as a killed process would: nothing flushed, the
    /// writer left as it is, only the run lock released (by the system, in
    /// a real crash).
    #[cfg(test)]
    fn crash(mut self) {
        self._lock = None;
        std::mem::forget(self);
    }

    fn shutdown(&mut self) -> Result<(), JournalError> {
        // The writer's connection must close last (see `reader`).
        drop(self.reader().take());
        if let Some(writer) = self.writer.take() {
            // The writer commits what is queued, then returns.
            self.queue.close();
            if writer.join().is_err() {
                self.queue.fail(WriterFailure::Panicked);
            }
        }
        self.check()
    }

    fn writer_error(&self, failure: Arc<WriterFailure>) -> JournalError {
        JournalError::Writer {
            path: self.path.clone(),
            source: failure,
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Unix time in milliseconds (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
