//! The delivery journal: an SQLite file (`--journal FILE`) that records a real
//! run so that it can be resumed after a crash or Ctrl-C, and reported on
//! afterwards (`campaign report FILE`).
//!
//! # What it is for
//!
//! The delivery engine replays every contact deterministically from the start
//! of the campaign. On a resumed run it asks the journal, per contact:
//!
//! - [`Journal::contact`]: did this contact finish (done or failed)? Then it is
//!   skipped. Is it parked at a `wait`? Then [`ContactRecord::resume_at_ms`]
//!   says when it may go on.
//! - [`Journal::delivery`]: did this webhook step already get a 2xx for this
//!   contact? Then it is not sent again; its captured values are re-applied.
//! - [`Journal::wait`]: when may the contact's n-th `wait` end? The first
//!   recorded time stands, so resuming never pushes a wait further out.
//!
//! Every request attempt is recorded too ([`Entry::Attempt`]), for the report
//! and for audit.
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
//! lookup tables that [`Journal::contact`], [`Journal::delivery`] and
//! [`Journal::wait`] read by primary key. So the read methods see everything
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
//! # Schema (version 2)
//!
//! The file is marked with `PRAGMA application_id` = [`APPLICATION_ID`] and
//! `PRAGMA user_version` = [`SCHEMA_VERSION`], so that another SQLite database
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

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use serde::Serialize;

/// `PRAGMA application_id` of a journal file ("CPJ1"), so that `campaign
/// report` and `--journal` recognise their own files and refuse others.
pub const APPLICATION_ID: i32 = 0x4350_4A31;

/// `PRAGMA user_version` of the schema this build writes and reads.
/// Version 2 added the `sessions` table and the contacts fingerprint;
/// `campaign report` still reads version 1, a run does not resume it.
pub const SCHEMA_VERSION: i32 = 2;

/// How many entries may wait for the writer before [`Journal::record`]
/// blocks. This is back-pressure rather than unbounded memory: it is only
/// reached if the disk is persistently slower than the network, and it caps
/// the queue at a few megabytes.
pub const QUEUE_CAPACITY: usize = 32_768;

/// How long a connection waits for a lock held by another connection (the
/// checkpointer, or a `campaign report` reading the same file) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    ended_ms   INTEGER
);
CREATE TABLE contacts (
    contact    TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    steps      INTEGER NOT NULL,
    error      TEXT,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE deliveries (
    contact  TEXT NOT NULL,
    webhook  INTEGER NOT NULL,
    key      TEXT NOT NULL,
    status   INTEGER NOT NULL,
    captures TEXT NOT NULL,
    PRIMARY KEY (contact, webhook)
) WITHOUT ROWID;
CREATE TABLE waits (
    contact      TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    resume_at_ms INTEGER NOT NULL,
    PRIMARY KEY (contact, idx)
) WITHOUT ROWID;
CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    session     INTEGER NOT NULL,
    contact     TEXT NOT NULL,
    webhook     INTEGER NOT NULL,
    step        TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    key         TEXT NOT NULL,
    status      INTEGER,
    error       TEXT,
    started_ms  INTEGER NOT NULL,
    duration_us INTEGER NOT NULL
);
CREATE TABLE pending_contacts (
    id         INTEGER PRIMARY KEY,
    contact    TEXT NOT NULL,
    status     TEXT NOT NULL,
    steps      INTEGER NOT NULL,
    error      TEXT,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE pending_deliveries (
    id       INTEGER PRIMARY KEY,
    contact  TEXT NOT NULL,
    webhook  INTEGER NOT NULL,
    key      TEXT NOT NULL,
    status   INTEGER NOT NULL,
    captures TEXT NOT NULL
);
CREATE TABLE pending_waits (
    id           INTEGER PRIMARY KEY,
    contact      TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    resume_at_ms INTEGER NOT NULL
);
";

/// Moves the pending rows into the lookup tables, in key order (so each
/// lookup page is written once per merge) and, for one key, in recording
/// order: a later contact status or delivery replaces an earlier one, while
/// the first recorded time of a wait stands. `WHERE true` is SQLite's
/// required disambiguation for an upsert fed by a SELECT.
const MERGE: &str = "
INSERT INTO contacts (contact, status, steps, error, updated_ms)
    SELECT contact, status, steps, error, updated_ms FROM pending_contacts
    WHERE true ORDER BY contact, id
    ON CONFLICT (contact) DO UPDATE
    SET status = excluded.status, steps = excluded.steps,
        error = excluded.error, updated_ms = excluded.updated_ms;
DELETE FROM pending_contacts;
INSERT INTO deliveries (contact, webhook, key, status, captures)
    SELECT contact, webhook, key, status, captures FROM pending_deliveries
    WHERE true ORDER BY contact, webhook, id
    ON CONFLICT (contact, webhook) DO UPDATE
    SET key = excluded.key, status = excluded.status, captures = excluded.captures;
DELETE FROM pending_deliveries;
INSERT INTO waits (contact, idx, resume_at_ms)
    SELECT contact, idx, resume_at_ms FROM pending_waits
    WHERE true ORDER BY contact, idx, id
    ON CONFLICT (contact, idx) DO NOTHING;
DELETE FROM pending_waits;
";

/// Every contact's current record, whether merged or still pending (the
/// latest pending row wins: SQLite takes bare columns from the `MAX(id)` row).
/// For readers that cannot merge, i.e. [`summary`] on a read-only connection.
const CURRENT_CONTACTS: &str = "
WITH latest AS (
    SELECT contact, status, steps, error, updated_ms, MAX(id)
    FROM pending_contacts GROUP BY contact
),
current AS (
    SELECT contact, status, steps, error, updated_ms FROM contacts
    WHERE contact NOT IN (SELECT contact FROM latest)
    UNION ALL
    SELECT contact, status, steps, error, updated_ms FROM latest
)";

/// Why a journal could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// `campaign report` was given a path where there is no file.
    #[error("journal {} does not exist", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The file is not a campaign journal (not SQLite at all, or another
    /// program's database). It is left untouched.
    #[error("{} is not a campaign journal ({reason})", path.display())]
    NotAJournal {
        /// The path given.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The journal was written by a newer `campaign` with a schema this
    /// build does not know.
    #[error(
        "journal {} has format version {found}, but this build of campaign reads version {SCHEMA_VERSION}",
        path.display()
    )]
    UnsupportedVersion {
        /// The journal's path.
        path: PathBuf,
        /// The version in the file.
        found: i64,
    },
    /// The journal belongs to a different compiled campaign. Resuming would
    /// replay contacts against steps they never ran, so it is refused.
    #[error(
        "journal {} records a run of campaign \"{campaign}\" compiled from different source; use another journal file, or restore that campaign to resume it",
        path.display()
    )]
    OtherCampaign {
        /// The journal's path.
        path: PathBuf,
        /// The campaign name stored in the journal.
        campaign: String,
        /// The digest stored in the journal.
        found: String,
        /// The digest of the campaign being run.
        expected: String,
    },
    /// The journal records a run over a different contacts file. Resuming
    /// would skip, replay or send to records by ids that now mean other
    /// people, or send with new keys, so it is refused.
    #[error(
        "journal {} records a run over different contacts (the contacts file changed since the run began: records inserted, removed or edited); restore the original file to resume, or start a new journal for the new one (recorded {found}; now {expected})",
        path.display()
    )]
    OtherContacts {
        /// The journal's path.
        path: PathBuf,
        /// The fingerprint stored in the journal.
        found: String,
        /// The fingerprint of the contacts given now.
        expected: String,
    },
    /// The last session of the journal did not end (the process was killed
    /// or crashed) and its write-ahead log, which held what that session
    /// recorded since it began, is missing. Resuming from the older records
    /// in the main file would send again what was already delivered, so it
    /// is refused.
    #[error(
        "journal {} is missing data: its last session did not end cleanly and its write-ahead log {} is gone, so what that session recorded is lost; put the -wal file back beside the journal to resume (a journal and its -wal file must be kept, moved and copied together)",
        path.display(),
        wal.display()
    )]
    LostLog {
        /// The journal's path.
        path: PathBuf,
        /// Where the log should be.
        wal: PathBuf,
    },
    /// A journal of an older format that a run cannot resume (it does not
    /// record its contacts file); `campaign report` still reads it.
    #[error(
        "journal {} has format version {found}, which this build of campaign can report on but not resume; finish it with the build that started it, or start a new journal",
        path.display()
    )]
    OldVersion {
        /// The journal's path.
        path: PathBuf,
        /// The version in the file.
        found: i64,
    },
    /// Another connection kept the session from being written into the main
    /// file (a long read by another program).
    #[error(
        "journal {}: another program is reading it and kept the run from saving its start; try again",
        path.display()
    )]
    Busy {
        /// The journal's path.
        path: PathBuf,
    },
    /// The file is a journal but holds something this build cannot read
    /// (a damaged page, an impossible value).
    #[error("journal {} is damaged: {detail}", path.display())]
    Corrupt {
        /// The journal's path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// SQLite would not put the file in write-ahead-log mode (some network
    /// file systems cannot), without which the writer would block readers.
    #[error(
        "journal {}: cannot use write-ahead logging (journal mode stayed {mode}); put the journal on a local disk",
        path.display()
    )]
    NoWal {
        /// The journal's path.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// Another process has this journal open for a run. Two runs on one
    /// journal could each send what the other has not yet recorded.
    #[error(
        "journal {} is in use by another `campaign run`; let it finish (or stop it with Ctrl-C), then run again to resume",
        path.display()
    )]
    InUse {
        /// The journal's path.
        path: PathBuf,
    },
    /// The journal file could not be opened or locked.
    #[error("journal {}: cannot open and lock it: {source}", path.display())]
    Lock {
        /// The journal's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed (I/O error, disk full, locked by another process...).
    #[error("journal {}: {source}", path.display())]
    Sqlite {
        /// The journal's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The background writer stopped after an error; entries recorded since
    /// its last commit are lost (their requests will be re-sent on resume with
    /// the same idempotency keys).
    #[error("journal {} stopped recording: {message}", path.display())]
    Writer {
        /// The journal's path.
        path: PathBuf,
        /// The writer's error.
        message: String,
    },
}

impl JournalError {
    /// Classifies an SQLite error: "not a database" and corruption get their
    /// own variants so the user is told what is wrong with the file rather
    /// than an SQLite code.
    fn from_sqlite(path: &Path, source: rusqlite::Error) -> Self {
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => JournalError::NotAJournal {
                path: path.to_path_buf(),
                reason: "not an SQLite database".to_string(),
            },
            Some(ErrorCode::DatabaseCorrupt) => JournalError::Corrupt {
                path: path.to_path_buf(),
                detail: source.to_string(),
            },
            _ => match source {
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::InvalidColumnType(..) => JournalError::Corrupt {
                    path: path.to_path_buf(),
                    detail: source.to_string(),
                },
                source => JournalError::Sqlite {
                    path: path.to_path_buf(),
                    source,
                },
            },
        }
    }

    fn corrupt(path: &Path, detail: impl Into<String>) -> Self {
        JournalError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// Where a contact ended up in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactStatus {
    /// Ran to the end of the campaign. Skipped on resume.
    Done,
    /// Stopped on an error. Skipped on resume.
    Failed,
    /// Parked at a `wait`; a later run replays it and goes on once the wait's
    /// time has come, then replaces this status.
    Waiting,
}

impl ContactStatus {
    /// The text stored in the `contacts.status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactStatus::Done => "done",
            ContactStatus::Failed => "failed",
            ContactStatus::Waiting => "waiting",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "done" => Some(ContactStatus::Done),
            "failed" => Some(ContactStatus::Failed),
            "waiting" => Some(ContactStatus::Waiting),
            _ => None,
        }
    }

    /// Whether a resumed run skips the contact entirely.
    pub fn is_finished(self) -> bool {
        matches!(self, ContactStatus::Done | ContactStatus::Failed)
    }
}

/// Something that happened in a run, queued by [`Journal::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// One HTTP request attempt, successful or not (audit and report).
    Attempt {
        /// Contact id.
        contact: String,
        /// Index of the webhook step in the compiled program.
        webhook: u32,
        /// The step's name, as shown in reports.
        step: String,
        /// 1 for the first try, 2 for the first retry, ...
        attempt: u32,
        /// The request's idempotency key.
        key: String,
        /// The HTTP status, if a response arrived.
        status: Option<u16>,
        /// Why the attempt failed (connect error, timeout, ...), redacted.
        error: Option<String>,
        /// When the request started, unix milliseconds.
        started_ms: i64,
        /// How long it took, microseconds (a timeout counts in full).
        duration_us: u64,
    },
    /// A webhook step got a 2xx for a contact: it must never be sent again
    /// for that contact, and its captures are re-applied on replay.
    Delivered {
        /// Contact id.
        contact: String,
        /// Index of the webhook step in the compiled program.
        webhook: u32,
        /// The idempotency key of the request that succeeded.
        key: String,
        /// The 2xx status.
        status: u16,
        /// Captured `(field, value)` pairs, in capture order.
        captures: Vec<(String, String)>,
    },
    /// A contact reached its `index`-th wait (the engine's numbering, in
    /// execution order) and may go past it at `resume_at_ms` (unix
    /// milliseconds). If the wait was already recorded, the first time stands.
    Wait {
        /// Contact id.
        contact: String,
        /// Which wait of this contact's run, in execution order.
        index: u32,
        /// When the wait is over, unix milliseconds.
        resume_at_ms: i64,
    },
    /// Where a contact stands at the end of this run; replaces an earlier
    /// record (a `Waiting` contact later becomes `Done` or `Failed`).
    Finished {
        /// Contact id.
        contact: String,
        /// Done, failed or waiting.
        status: ContactStatus,
        /// How many steps the contact completed.
        steps: u32,
        /// Why it failed, redacted.
        error: Option<String>,
    },
}

/// A contact's recorded position, as read back by [`Journal::contact`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactRecord {
    /// Done, failed or waiting.
    pub status: ContactStatus,
    /// Steps completed.
    pub steps: u32,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// For a waiting contact: when its latest recorded wait ends (unix ms).
    /// `None` for finished contacts.
    pub resume_at_ms: Option<i64>,
    /// When the record was written (unix ms).
    pub updated_ms: i64,
}

/// A recorded 2xx, as read back by [`Journal::delivery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The 2xx status.
    pub status: u16,
    /// The idempotency key of the request that succeeded.
    pub key: String,
    /// Captured `(field, value)` pairs, in capture order.
    pub captures: Vec<(String, String)>,
}

/// The hand-over between [`Journal::record`] and the writer thread.
///
/// Producers push onto a shared vector under a mutex, and the writer swaps
/// the whole vector out at once. Compared with a channel, this costs a
/// wake-up per commit rather than per entry, which matters at ~100k entries
/// a second on a two-core machine.
struct Queue {
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
    failure: Option<String>,
}

/// Identifies one recorded entry, to wait until it is committed with
/// [`Journal::committed`]. Tickets increase in recording order, and
/// entries are committed in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

impl Queue {
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

    /// Records the writer's error and releases everyone waiting on it.
    fn fail(&self, message: String) {
        let mut state = self.lock();
        state.failure.get_or_insert(message);
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

/// Takes the run lock of the journal at `path`: an exclusive `flock` on the
/// file itself (created empty if missing, which SQLite reads as a new
/// database). A lock on the file rather than on a name beside it means that
/// every path to the journal (a symlink, a hard link, `dir/../journal`) is
/// the same journal. `flock` locks are independent of the POSIX record
/// locks SQLite takes, so the two do not disturb each other.
fn lock(path: &Path) -> Result<File, JournalError> {
    let failed = |source| JournalError::Lock {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::InUse {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
    }
}

/// Device and inode: the identity of a file, whatever path reaches it.
#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The write-ahead log SQLite keeps beside the journal: `-wal` appended to
/// the file's real path (SQLite resolves symlinks before naming it).
fn wal_path(path: &Path) -> PathBuf {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut name = real.into_os_string();
    name.push("-wal");
    PathBuf::from(name)
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
    /// read methods see it. One process at a time may have a journal open,
    /// whatever path it is opened by: a second gets [`JournalError::InUse`].
    pub fn open(
        path: &Path,
        campaign_digest: &str,
        campaign_name: &str,
        contacts: &str,
    ) -> Result<Journal, JournalError> {
        let err = |e| JournalError::from_sqlite(path, e);
        let lock = lock(path)?;
        // Looked at before SQLite opens the file, which would create it
        // (empty) if it were missing.
        let wal_present = std::fs::metadata(wal_path(path)).is_ok_and(|m| m.len() > 0);
        let conn = Connection::open(path).map_err(err)?;
        // Whatever happens next (a refusal included), closing this
        // connection must not fold the log into the file and delete it:
        // only a session that ends cleanly may (see `end_session`).
        keep_log_on_close(&conn);
        // The file SQLite opened must be the one locked: the path could
        // have been switched to another file in between.
        let opened = std::fs::metadata(path).ok();
        let locked = lock.metadata().ok();
        if opened.as_ref().and_then(file_id) != locked.as_ref().and_then(file_id) {
            return Err(JournalError::InUse {
                path: path.to_path_buf(),
            });
        }
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
        merge(&conn).map_err(err)?;
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

        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState::default()),
            work: Condvar::new(),
            space: Condvar::new(),
            flushed: Condvar::new(),
        });
        let writer_queue = Arc::clone(&queue);
        let writer = std::thread::Builder::new()
            .name("campaign-journal".to_string())
            .spawn(move || match write_loop(&conn, &writer_queue, session) {
                Ok(()) => {
                    // Everything is committed: mark the session ended. The
                    // close that follows folds the log into the file.
                    if let Err(e) = end_session(&conn, session) {
                        writer_queue.fail(e.to_string());
                    }
                }
                Err(e) => {
                    // Whatever the batch held is lost; leave the file at its
                    // last commit (and the log in place, as a crash would).
                    let _ = conn.execute_batch("ROLLBACK");
                    writer_queue.fail(e.to_string());
                }
            })
            .map_err(|e| JournalError::Writer {
                path: path.to_path_buf(),
                message: format!("cannot start the writer thread: {e}"),
            })?;

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
    /// is a resume. On a fresh run the read methods find nothing (they see
    /// earlier sessions only), so the engine may skip them.
    pub fn is_resume(&self) -> bool {
        self.resumed
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A contact's position as earlier sessions left it, if they recorded one
    /// (see the module docs: this session's own entries are not visible).
    pub fn contact(&self, contact: &str) -> Result<Option<ContactRecord>, JournalError> {
        let row = self.read(|reader| {
            reader
                .prepare_cached(
                    "SELECT status, steps, error, updated_ms,
                        CASE WHEN status = 'waiting' THEN
                            (SELECT resume_at_ms FROM waits w
                             WHERE w.contact = c.contact ORDER BY idx DESC LIMIT 1)
                        END
                 FROM contacts c WHERE contact = ?1",
                )
                .and_then(|mut statement| {
                    statement
                        .query_row([contact], |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                row.get::<_, u32>(1)?,
                                row.get::<_, Option<String>>(2)?,
                                row.get::<_, i64>(3)?,
                                row.get::<_, Option<i64>>(4)?,
                            ))
                        })
                        .optional()
                })
        })?;
        let Some((status, steps, error, updated_ms, resume_at_ms)) = row else {
            return Ok(None);
        };
        let status = ContactStatus::parse(&status).ok_or_else(|| {
            JournalError::corrupt(&self.path, format!("unknown contact status {status:?}"))
        })?;
        Ok(Some(ContactRecord {
            status,
            steps,
            error,
            resume_at_ms,
            updated_ms,
        }))
    }

    /// The 2xx of webhook step `webhook` for `contact` that an earlier
    /// session recorded, if any: the engine must not send that step again and
    /// re-applies its captures.
    pub fn delivery(&self, contact: &str, webhook: u32) -> Result<Option<Delivery>, JournalError> {
        let row = self.read(|reader| {
            reader
            .prepare_cached(
                "SELECT status, key, captures FROM deliveries WHERE contact = ?1 AND webhook = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![contact, webhook], |row| {
                        Ok((
                            row.get::<_, u16>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                        ))
                    })
                    .optional()
            })
        })?;
        let Some((status, key, captures)) = row else {
            return Ok(None);
        };
        let captures: Vec<(String, String)> = serde_json::from_str(&captures)
            .map_err(|e| JournalError::corrupt(&self.path, format!("unreadable captures: {e}")))?;
        Ok(Some(Delivery {
            status,
            key,
            captures,
        }))
    }

    /// When the contact's `index`-th wait ends, unix milliseconds, if an
    /// earlier session recorded that wait. `index` is the engine's own
    /// numbering of a contact's waits in execution order, which replay keeps.
    pub fn wait(&self, contact: &str, index: u32) -> Result<Option<i64>, JournalError> {
        self.read(|reader| {
            reader
                .prepare_cached("SELECT resume_at_ms FROM waits WHERE contact = ?1 AND idx = ?2")
                .and_then(|mut statement| {
                    statement
                        .query_row(params![contact, index], |row| row.get(0))
                        .optional()
                })
        })
    }

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
            Some(message) => Err(self.writer_error(message.clone())),
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
            Some(message) => Err(self.writer_error(message.clone())),
            None => Ok(()),
        }
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
            self.queue.lock().closing = true;
            self.queue.work.notify_one();
            if writer.join().is_err() {
                self.queue.fail("the writer thread panicked".to_string());
            }
        }
        self.check()
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        // A panic elsewhere while holding the lock leaves the connection
        // itself intact, so a poisoned lock is still usable.
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `read` on the reader connection. It is only gone once the
    /// journal is closing, when nothing reads any more.
    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        match self.reader().as_ref() {
            Some(conn) => read(conn).map_err(|e| JournalError::from_sqlite(&self.path, e)),
            None => Err(self.writer_error("the journal is closed".to_string())),
        }
    }

    fn writer_error(&self, message: String) -> JournalError {
        JournalError::Writer {
            path: self.path.clone(),
            message,
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.shutdown();
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
        if let Some(message) = &state.failure {
            let message = message.clone();
            drop(state);
            return Poll::Ready(Err(self.journal.writer_error(message)));
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

/// Checks that `conn` holds a journal of a version we read, or (when
/// `allow_new`) an empty database that may become one.
fn check_identity(conn: &Connection, path: &Path, allow_new: bool) -> Result<(), JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let application_id: i64 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(err)?;
    if application_id == i64::from(APPLICATION_ID) {
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(err)?;
        if version > i64::from(SCHEMA_VERSION) {
            return Err(JournalError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version,
            });
        }
        if version < 1 {
            return Err(JournalError::corrupt(
                path,
                format!("impossible format version {version}"),
            ));
        }
        return Ok(());
    }
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(err)?;
    if application_id == 0 && objects == 0 && allow_new {
        return Ok(());
    }
    Err(JournalError::NotAJournal {
        path: path.to_path_buf(),
        reason: if application_id == 0 && objects == 0 {
            "an empty database".to_string()
        } else {
            "another program's SQLite database".to_string()
        },
    })
}

/// What a journal belongs to; a resume must match all of it.
struct RunIdentity<'a> {
    /// The compiled campaign's digest.
    digest: &'a str,
    /// The campaign's name, for messages.
    campaign: &'a str,
    /// The contacts file's fingerprint.
    contacts: &'a str,
}

/// Creates the schema and run metadata in a new journal, or checks and
/// updates them in an existing one, and starts a session. Returns the run
/// id, whether the run was already there, and this session's number (1 for
/// the first). `wal_present`: whether the `-wal` file held anything before
/// the journal was opened.
fn init_meta(
    conn: &Connection,
    path: &Path,
    run: &RunIdentity<'_>,
    wal_present: bool,
) -> Result<(String, bool, i64), JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    // IMMEDIATE takes the write lock first, so two processes creating the
    // same journal at once cannot both create it.
    conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
    let result = init_meta_in_transaction(conn, path, run, wal_present);
    match result {
        Ok(found) => {
            conn.execute_batch("COMMIT").map_err(err)?;
            Ok(found)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn init_meta_in_transaction(
    conn: &Connection,
    path: &Path,
    run: &RunIdentity<'_>,
    wal_present: bool,
) -> Result<(String, bool, i64), JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    // Re-check under the lock: another process may have created it.
    check_identity(conn, path, true)?;
    let application_id: i64 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(err)?;
    let started = now_ms();
    if application_id != i64::from(APPLICATION_ID) {
        conn.execute_batch(SCHEMA).map_err(err)?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(err)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(err)?;
        let run_id = new_run_id();
        let started_text = started.to_string();
        let mut insert = conn
            .prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")
            .map_err(err)?;
        for (key, value) in [
            ("digest", run.digest),
            ("campaign", run.campaign),
            ("contacts", run.contacts),
            ("run_id", run_id.as_str()),
            ("started_ms", started_text.as_str()),
            ("sessions", "1"),
        ] {
            insert.execute([key, value]).map_err(err)?;
        }
        conn.execute(
            "INSERT INTO sessions (id, started_ms) VALUES (1, ?1)",
            [started],
        )
        .map_err(err)?;
        return Ok((run_id, false, 1));
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(err)?;
    if version < i64::from(SCHEMA_VERSION) {
        return Err(JournalError::OldVersion {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let meta = read_meta(conn, path)?;
    if meta.digest != run.digest {
        return Err(JournalError::OtherCampaign {
            path: path.to_path_buf(),
            campaign: meta.campaign,
            found: meta.digest,
            expected: run.digest.to_string(),
        });
    }
    let recorded = meta
        .contacts
        .ok_or_else(|| JournalError::corrupt(path, "run metadata lacks contacts"))?;
    if recorded != run.contacts {
        return Err(JournalError::OtherContacts {
            path: path.to_path_buf(),
            found: recorded,
            expected: run.contacts.to_string(),
        });
    }
    let last: Option<(i64, Option<i64>)> = conn
        .query_row(
            "SELECT id, ended_ms FROM sessions ORDER BY id DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(err)?;
    let Some((last, ended)) = last else {
        return Err(JournalError::corrupt(path, "no session recorded"));
    };
    if ended.is_none() && !wal_present {
        return Err(JournalError::LostLog {
            path: path.to_path_buf(),
            wal: wal_path(path),
        });
    }
    let session = last + 1;
    conn.execute(
        "INSERT INTO sessions (id, started_ms) VALUES (?1, ?2)",
        [session, started],
    )
    .map_err(err)?;
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'sessions'",
        [session.to_string()],
    )
    .map_err(err)?;
    Ok((meta.run_id, true, session))
}

/// Copies everything committed into the main file and empties the log
/// (SQLite syncs the file first), waiting for readers of older snapshots.
fn checkpoint(conn: &Connection, path: &Path) -> Result<(), JournalError> {
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
        .map_err(|e| JournalError::from_sqlite(path, e))?;
    if busy != 0 {
        return Err(JournalError::Busy {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Marks a session ended: everything it recorded is committed. Then, and
/// only then, closing the connection (the last one) may fold the log into
/// the file and delete it, leaving the journal a single file.
fn end_session(conn: &Connection, session: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sessions SET ended_ms = ?1 WHERE id = ?2",
        [now_ms(), session],
    )?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)?;
    Ok(())
}

/// Keeps SQLite from folding the log into the file and deleting it when
/// this connection closes (as the last one): a session that did not end
/// cleanly, or an open that was refused, must leave the log in place as a
/// crash would, or the next open would take the missing log for lost data.
fn keep_log_on_close(conn: &Connection) {
    let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
}

/// The run's metadata row set.
struct Meta {
    digest: String,
    campaign: String,
    /// The contacts fingerprint; absent in version 1.
    contacts: Option<String>,
    run_id: String,
    started_ms: i64,
    sessions: i64,
}

fn read_meta(conn: &Connection, path: &Path) -> Result<Meta, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let mut statement = conn.prepare("SELECT key, value FROM meta").map_err(err)?;
    let mut rows = statement.query([]).map_err(err)?;
    let mut values: HashMap<String, String> = HashMap::new();
    while let Some(row) = rows.next().map_err(err)? {
        values.insert(row.get(0).map_err(err)?, row.get(1).map_err(err)?);
    }
    let contacts = values.remove("contacts");
    let mut take = |key: &str| {
        values
            .remove(key)
            .ok_or_else(|| JournalError::corrupt(path, format!("run metadata lacks {key}")))
    };
    let digest = take("digest")?;
    let campaign = take("campaign")?;
    let run_id = take("run_id")?;
    let number = |key: &str, text: String| {
        text.parse::<i64>()
            .map_err(|_| JournalError::corrupt(path, format!("run metadata {key} is not a number")))
    };
    let started_ms = number("started_ms", take("started_ms")?)?;
    let sessions = number("sessions", take("sessions")?)?;
    Ok(Meta {
        digest,
        campaign,
        contacts,
        run_id,
        started_ms,
        sessions,
    })
}

/// The writer thread's prepared statements, one per entry kind.
struct Statements<'conn> {
    attempt: rusqlite::Statement<'conn>,
    delivered: rusqlite::Statement<'conn>,
    wait: rusqlite::Statement<'conn>,
    finished: rusqlite::Statement<'conn>,
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
            session,
        })
    }

    fn apply(&mut self, entry: Entry) -> rusqlite::Result<()> {
        match entry {
            Entry::Attempt {
                contact,
                webhook,
                step,
                attempt,
                key,
                status,
                error,
                started_ms,
                duration_us,
            } => {
                let duration_us = i64::try_from(duration_us).unwrap_or(i64::MAX);
                self.attempt.execute(params![
                    self.session,
                    contact,
                    webhook,
                    step,
                    attempt,
                    key,
                    status,
                    error,
                    started_ms,
                    duration_us
                ])?;
            }
            Entry::Delivered {
                contact,
                webhook,
                key,
                status,
                captures,
            } => {
                // Serialising pairs of strings cannot fail.
                let captures =
                    serde_json::to_string(&captures).unwrap_or_else(|_| "[]".to_string());
                self.delivered
                    .execute(params![contact, webhook, key, status, captures])?;
            }
            Entry::Wait {
                contact,
                index,
                resume_at_ms,
            } => {
                self.wait.execute(params![contact, index, resume_at_ms])?;
            }
            Entry::Finished {
                contact,
                status,
                steps,
                error,
            } => {
                self.finished
                    .execute(params![contact, status.as_str(), steps, error, now_ms()])?;
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

/// Moves all pending rows into the lookup tables, in one transaction.
fn merge(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN")?;
    conn.execute_batch(MERGE)?;
    conn.execute_batch("COMMIT")
}

/// A random 128-bit run id in lowercase hex, from the OS's random source, or
/// (where there is none) from a generator seeded by time, process id and the
/// standard library's per-process hash keys.
fn new_run_id() -> String {
    let mut bytes = [0u8; 16];
    let from_os = File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes));
    if from_os.is_err() {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        fastrand::Rng::with_seed(hasher.finish()).fill(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unix time in milliseconds (0 if the clock is before 1970).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Latency percentiles in microseconds, nearest-rank over every recorded
/// attempt, failed ones included (a timeout counts as its full duration), so
/// a slow or hanging endpoint shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
}

/// Statistics of one webhook step over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepStats {
    /// Index of the webhook step in the compiled program.
    pub webhook: u32,
    /// The step's name.
    pub step: String,
    /// Request attempts, retries included.
    pub attempts: u64,
    /// Attempts without a 2xx.
    pub failures: u64,
    /// Mean attempt duration, microseconds.
    pub mean_us: u64,
    /// 95th percentile attempt duration, microseconds (nearest rank).
    pub p95_us: u64,
}

/// A failed request attempt, for the report's "last errors".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptError {
    /// Contact id.
    pub contact: String,
    /// The step's name.
    pub step: String,
    /// Which try it was (1 = first).
    pub attempt: u32,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// The error, if there was one beyond the status.
    pub error: Option<String>,
    /// When the attempt started, unix ms.
    pub started_ms: i64,
}

/// A contact that failed, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactError {
    /// Contact id.
    pub contact: String,
    /// Steps it completed before failing.
    pub steps: u32,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was recorded, unix ms.
    pub updated_ms: i64,
}

/// A run's summary, read from its journal by [`summary`] for `campaign
/// report`. Counts cover every session of the run (the first and each resume).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The run id.
    pub run_id: String,
    /// The campaign's name.
    pub campaign: String,
    /// The compiled campaign's digest.
    pub digest: String,
    /// When the first session started, unix ms.
    pub started_ms: i64,
    /// How many times the journal was opened for a run (1 + resumes).
    pub sessions: u32,
    /// Contacts that ran to the end.
    pub contacts_done: u64,
    /// Contacts that failed.
    pub contacts_failed: u64,
    /// Contacts parked at a wait.
    pub contacts_waiting: u64,
    /// Request attempts, retries and re-sends after a resume included.
    pub attempts: u64,
    /// Attempts without a 2xx.
    pub attempts_failed: u64,
    /// Distinct requests (idempotency keys).
    pub requests: u64,
    /// Requests that got a 2xx.
    pub requests_ok: u64,
    /// Requests that never got a 2xx.
    pub requests_failed: u64,
    /// Attempts beyond the first per request (`attempts - requests`).
    pub retries: u64,
    /// Latency percentiles over all attempts; `None` if there were none.
    pub latency: Option<Latency>,
    /// Per webhook step, slowest (by p95, then mean) first.
    pub steps: Vec<StepStats>,
    /// The last failed attempts, most recent first (at most
    /// [`LAST_ERRORS`]).
    pub last_errors: Vec<AttemptError>,
    /// The last failed contacts, most recent first (at most
    /// [`LAST_ERRORS`]).
    pub contact_errors: Vec<ContactError>,
}

/// How many recent errors a [`Summary`] lists.
pub const LAST_ERRORS: usize = 10;

/// SQL for "this attempt got a 2xx" (0 or 1, never NULL).
const OK_SQL: &str = "(CASE WHEN status BETWEEN 200 AND 299 THEN 1 ELSE 0 END)";

/// Reads a run's summary from the journal at `path`, read-only, for
/// `campaign report`. Works while a run is still writing to it (it sees the
/// last commit). Memory stays bounded however large the run: percentiles
/// stream through SQLite's external sort, and only per-step figures are held.
pub fn summary(path: &Path) -> Result<Summary, JournalError> {
    if !path.exists() {
        return Err(JournalError::Missing {
            path: path.to_path_buf(),
        });
    }
    let err = |e| JournalError::from_sqlite(path, e);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    check_identity(&conn, path, false)?;
    // One read transaction, so every figure comes from the same snapshot.
    conn.execute_batch("BEGIN").map_err(err)?;
    let meta = read_meta(&conn, path)?;

    let (contacts_done, contacts_failed, contacts_waiting): (u64, u64, u64) = conn
        .query_row(
            &format!(
                "{CURRENT_CONTACTS}
                 SELECT COALESCE(SUM(status = 'done'), 0), COALESCE(SUM(status = 'failed'), 0),
                        COALESCE(SUM(status = 'waiting'), 0) FROM current"
            ),
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(err)?;
    let (attempts, attempts_failed): (u64, u64) = conn
        .query_row(
            &format!("SELECT COUNT(*), COALESCE(SUM(1 - {OK_SQL}), 0) FROM attempts"),
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(err)?;
    let (requests, requests_ok): (u64, u64) = conn
        .query_row(
            &format!(
                "SELECT COUNT(*), COALESCE(SUM(ok), 0)
                 FROM (SELECT MAX({OK_SQL}) AS ok FROM attempts GROUP BY key)"
            ),
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(err)?;

    let latency = if attempts == 0 {
        None
    } else {
        let mut picker = RankPicker::new(attempts);
        let mut statement = conn
            .prepare("SELECT duration_us FROM attempts ORDER BY duration_us")
            .map_err(err)?;
        let mut rows = statement.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            if picker.push(row.get(0).map_err(err)?) {
                break;
            }
        }
        Some(picker.latency())
    };

    let steps = step_stats(&conn, path)?;
    let last_errors = last_errors(&conn, path)?;
    let contact_errors = contact_errors(&conn, path)?;
    conn.execute_batch("COMMIT").map_err(err)?;

    Ok(Summary {
        run_id: meta.run_id,
        campaign: meta.campaign,
        digest: meta.digest,
        started_ms: meta.started_ms,
        sessions: u32::try_from(meta.sessions).unwrap_or(u32::MAX),
        contacts_done,
        contacts_failed,
        contacts_waiting,
        attempts,
        attempts_failed,
        requests,
        requests_ok,
        requests_failed: requests - requests_ok.min(requests),
        retries: attempts.saturating_sub(requests),
        latency,
        steps,
        last_errors,
        contact_errors,
    })
}

/// Nearest-rank rank (1-based) of percentile `percent` among `count` sorted
/// values: the smallest rank whose share of values is at least `percent`.
fn nearest_rank(percent: u64, count: u64) -> u64 {
    (percent * count).div_ceil(100).max(1)
}

/// Picks the p50, p95 and p99 values out of a sorted stream of known length.
struct RankPicker {
    ranks: [u64; 3],
    values: [u64; 3],
    seen: u64,
}

impl RankPicker {
    fn new(count: u64) -> Self {
        RankPicker {
            ranks: [50, 95, 99].map(|p| nearest_rank(p, count)),
            values: [0; 3],
            seen: 0,
        }
    }

    /// Takes the next value in ascending order; true once all ranks are
    /// filled, so the caller can stop reading.
    fn push(&mut self, value: u64) -> bool {
        self.seen += 1;
        for (rank, slot) in self.ranks.iter().zip(self.values.iter_mut()) {
            if *rank == self.seen {
                *slot = value;
            }
        }
        self.seen >= self.ranks[2]
    }

    fn latency(&self) -> Latency {
        Latency {
            p50_us: self.values[0],
            p95_us: self.values[1],
            p99_us: self.values[2],
        }
    }
}

fn step_stats(conn: &Connection, path: &Path) -> Result<Vec<StepStats>, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let mut steps = Vec::new();
    let mut index: HashMap<(u32, String), usize> = HashMap::new();
    {
        let mut statement = conn
            .prepare(&format!(
                "SELECT webhook, step, COUNT(*), SUM(1 - {OK_SQL}), AVG(duration_us)
                 FROM attempts GROUP BY webhook, step"
            ))
            .map_err(err)?;
        let mut rows = statement.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let webhook: u32 = row.get(0).map_err(err)?;
            let step: String = row.get(1).map_err(err)?;
            let mean: f64 = row.get(4).map_err(err)?;
            index.insert((webhook, step.clone()), steps.len());
            steps.push(StepStats {
                webhook,
                step,
                attempts: row.get(2).map_err(err)?,
                failures: row.get(3).map_err(err)?,
                // A mean of non-negative integers; `as` saturates.
                mean_us: mean.round() as u64,
                p95_us: 0,
            });
        }
    }
    // Second pass, sorted within each step, to pick each step's p95.
    let mut statement = conn
        .prepare(
            "SELECT webhook, step, duration_us FROM attempts ORDER BY webhook, step, duration_us",
        )
        .map_err(err)?;
    let mut rows = statement.query([]).map_err(err)?;
    let mut current: Option<(usize, u64, u64)> = None; // (step, rank wanted, seen)
    while let Some(row) = rows.next().map_err(err)? {
        let webhook: u32 = row.get(0).map_err(err)?;
        let step: String = row.get(1).map_err(err)?;
        let duration: u64 = row.get(2).map_err(err)?;
        let Some(&at) = index.get(&(webhook, step)) else {
            continue; // cannot happen within one snapshot
        };
        let (position, rank, seen) = match current {
            Some((position, rank, seen)) if position == at => (position, rank, seen + 1),
            _ => (at, nearest_rank(95, steps[at].attempts), 1),
        };
        if seen == rank {
            steps[position].p95_us = duration;
        }
        current = Some((position, rank, seen));
    }
    steps.sort_by(|a, b| {
        (b.p95_us, b.mean_us)
            .cmp(&(a.p95_us, a.mean_us))
            .then_with(|| a.webhook.cmp(&b.webhook))
    });
    Ok(steps)
}

fn last_errors(conn: &Connection, path: &Path) -> Result<Vec<AttemptError>, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let mut statement = conn
        .prepare(&format!(
            "SELECT contact, step, attempt, status, error, started_ms FROM attempts
             WHERE {OK_SQL} = 0 ORDER BY started_ms DESC, id DESC LIMIT {LAST_ERRORS}"
        ))
        .map_err(err)?;
    let rows = statement
        .query_map([], |row| {
            Ok(AttemptError {
                contact: row.get(0)?,
                step: row.get(1)?,
                attempt: row.get(2)?,
                status: row.get(3)?,
                error: row.get(4)?,
                started_ms: row.get(5)?,
            })
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

fn contact_errors(conn: &Connection, path: &Path) -> Result<Vec<ContactError>, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let mut statement = conn
        .prepare(&format!(
            "{CURRENT_CONTACTS}
             SELECT contact, steps, error, updated_ms FROM current
             WHERE status = 'failed' ORDER BY updated_ms DESC, contact LIMIT {LAST_ERRORS}"
        ))
        .map_err(err)?;
    let rows = statement
        .query_map([], |row| {
            Ok(ContactError {
                contact: row.get(0)?,
                steps: row.get(1)?,
                error: row.get(2)?,
                updated_ms: row.get(3)?,
            })
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const DIGEST: &str = "sha256:aaaa";
    const CONTACTS: &str = "csv, 10 bytes, sha256 aaaa";

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
        Entry::Attempt {
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
        }
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
        assert_eq!(summary(&path).unwrap().sessions, 2);

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
        assert_eq!(summary(&path).unwrap().sessions, 1);
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
            journal.record(Entry::Delivered {
                contact: format!("c{i}"),
                webhook: 0,
                key: format!("key-c{i}-0"),
                status: 200,
                captures: vec![],
            });
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
        assert!(resumed.delivery("c99", 0).unwrap().is_some());
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
        assert_eq!(summary(&lost).unwrap().run_id, run_id);
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
        journal.record(Entry::Delivered {
            contact: "c1".to_string(),
            webhook: 0,
            key: "key-c1-0".to_string(),
            status: 200,
            captures: vec![],
        });
        journal.close().unwrap();
        assert!(!wal_path(&path).exists(), "the log was folded in");
        // So the main file alone is the whole journal.
        let copy = dir.path().join("copy.journal");
        copy_journal(&path, &copy, false);
        let journal = Journal::open(&copy, DIGEST, "Welcome", CONTACTS).unwrap();
        assert!(journal.delivery("c1", 0).unwrap().is_some());
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
        assert_eq!(summary(&path).unwrap().sessions, 1);
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
        assert_eq!(journal.contact("c1").unwrap(), None);
        assert_eq!(journal.delivery("c1", 0).unwrap(), None);
        assert_eq!(journal.wait("c1", 0).unwrap(), None);

        journal.record(attempt("c1", 0, "Create", 1, Some(200), 1_500));
        journal.record(Entry::Delivered {
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
        });
        journal.record(Entry::Delivered {
            contact: "c1".to_string(),
            webhook: 3,
            key: "key-c1-3".to_string(),
            status: 204,
            captures: vec![],
        });
        journal.record(Entry::Wait {
            contact: "c1".to_string(),
            index: 0,
            resume_at_ms: 5_000,
        });
        journal.record(Entry::Finished {
            contact: "c1".to_string(),
            status: ContactStatus::Waiting,
            steps: 2,
            error: None,
        });
        journal.record(Entry::Finished {
            contact: "c2".to_string(),
            status: ContactStatus::Failed,
            steps: 0,
            error: Some("header X contains a line break".to_string()),
        });
        journal.flush().unwrap();
        // This session does not read its own entries back.
        assert_eq!(journal.delivery("c1", 0).unwrap(), None);
        // Flushed means durable: lose the process right after the flush.
        journal.crash();

        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        let delivery = journal.delivery("c1", 0).unwrap().unwrap();
        assert_eq!(delivery.status, 201);
        assert_eq!(delivery.key, "key-c1-0");
        assert_eq!(delivery.captures[1].1, "https://crm.test/c/42 \"é\"");
        assert_eq!(journal.delivery("c1", 3).unwrap().unwrap().captures, vec![]);
        assert_eq!(journal.delivery("c1", 1).unwrap(), None);
        assert_eq!(journal.delivery("c2", 0).unwrap(), None);
        assert_eq!(journal.wait("c1", 0).unwrap(), Some(5_000));
        assert_eq!(journal.wait("c1", 1).unwrap(), None);

        let c1 = journal.contact("c1").unwrap().unwrap();
        assert_eq!(c1.status, ContactStatus::Waiting);
        assert_eq!(c1.steps, 2);
        assert_eq!(c1.resume_at_ms, Some(5_000));
        let c2 = journal.contact("c2").unwrap().unwrap();
        assert_eq!(c2.status, ContactStatus::Failed);
        assert!(c2.status.is_finished());
        assert_eq!(c2.error.as_deref(), Some("header X contains a line break"));
        assert_eq!(c2.resume_at_ms, None);
        journal.close().unwrap();

        // Merged rows stay put across further sessions.
        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        assert_eq!(journal.delivery("c1", 0).unwrap(), Some(delivery));
        assert_eq!(journal.contact("c2").unwrap(), Some(c2));
    }

    #[test]
    fn finished_is_upserted_and_the_first_wait_stands() {
        let (_dir, path) = temp();
        let finished = |status, steps| Entry::Finished {
            contact: "c1".to_string(),
            status,
            steps,
            error: None,
        };
        let wait = |index, resume_at_ms| Entry::Wait {
            contact: "c1".to_string(),
            index,
            resume_at_ms,
        };
        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        journal.record(wait(0, 5_000));
        journal.record(finished(ContactStatus::Waiting, 1));
        journal.close().unwrap();

        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        let record = journal.contact("c1").unwrap().unwrap();
        assert_eq!(
            (record.status, record.steps, record.resume_at_ms),
            (ContactStatus::Waiting, 1, Some(5_000))
        );
        // The resumed run replays the first wait and records it again, later,
        // then parks at the next one.
        journal.record(wait(0, 9_000));
        journal.record(wait(1, 12_000));
        journal.record(finished(ContactStatus::Waiting, 3));
        journal.close().unwrap();

        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        assert_eq!(journal.wait("c1", 0).unwrap(), Some(5_000));
        assert_eq!(journal.wait("c1", 1).unwrap(), Some(12_000));
        let record = journal.contact("c1").unwrap().unwrap();
        assert_eq!((record.steps, record.resume_at_ms), (3, Some(12_000)));
        // Two records in one session: the later wins.
        journal.record(finished(ContactStatus::Waiting, 4));
        journal.record(finished(ContactStatus::Done, 5));
        journal.close().unwrap();
        // The report sees it before any merge...
        let before = summary(&path).unwrap();
        assert_eq!((before.contacts_done, before.contacts_waiting), (1, 0));

        // ...and the next session after it.
        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        let record = journal.contact("c1").unwrap().unwrap();
        assert_eq!(
            (record.status, record.steps, record.resume_at_ms),
            (ContactStatus::Done, 5, None)
        );
        journal.close().unwrap();
        let after = summary(&path).unwrap();
        assert_eq!((after.contacts_done, after.contacts_waiting), (1, 0));
        assert_eq!(after.sessions, 4);
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
        let ticket = journal.record(Entry::Finished {
            contact: "c9".to_string(),
            status: ContactStatus::Done,
            steps: 1,
            error: None,
        });
        let later = journal.record(attempt("c10", 0, "Create", 1, Some(500), 10));
        assert!(later > ticket);
        block_on(journal.committed(ticket)).unwrap();
        let seen = summary(&path).unwrap();
        assert_eq!(seen.contacts_done, 1);
        assert!(seen.attempts >= 10, "{}", seen.attempts);
        // Many tasks waiting at once: every one is woken by the commit
        // that covers its ticket.
        let tickets: Vec<Ticket> = (0..200)
            .map(|i| {
                journal.record(Entry::Finished {
                    contact: format!("w{i}"),
                    status: ContactStatus::Done,
                    steps: 1,
                    error: None,
                })
            })
            .collect();
        block_on(async {
            let waits = tickets.iter().map(|t| journal.committed(*t));
            for result in futures_util::future::join_all(waits).await {
                result.unwrap();
            }
        });
        assert_eq!(summary(&path).unwrap().contacts_done, 201);
    }

    #[test]
    fn a_ticket_resolves_only_once_its_entry_is_committed() {
        let (_dir, path) = temp();
        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        // Another connection holds the write lock, so the writer cannot commit.
        let blocker = Connection::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let ticket = journal.record(Entry::Finished {
            contact: "c1".to_string(),
            status: ContactStatus::Done,
            steps: 1,
            error: None,
        });
        let mut pending = Box::pin(journal.committed(ticket));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        // The first poll yields, the second starts the writer.
        for _ in 0..20 {
            assert!(pending.as_mut().poll(&mut cx).is_pending());
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(summary(&path).unwrap().contacts_done, 0);
        blocker.execute_batch("COMMIT").unwrap();
        block_on(pending).unwrap();
        // Committed means readable by another connection at once.
        assert_eq!(summary(&path).unwrap().contacts_done, 1);
        // Earlier tickets resolve at once too.
        block_on(journal.committed(ticket)).unwrap();
    }

    #[test]
    fn a_crashed_session_is_resumed_from_its_last_commit() {
        let (_dir, path) = temp();
        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        let run_id = journal.run_id().to_string();
        journal.record(attempt("c1", 0, "Create", 1, Some(200), 10));
        journal.record(Entry::Delivered {
            contact: "c1".to_string(),
            webhook: 0,
            key: "key-c1-0".to_string(),
            status: 200,
            captures: vec![("CRM ID".to_string(), "7".to_string())],
        });
        journal.record(Entry::Wait {
            contact: "c1".to_string(),
            index: 0,
            resume_at_ms: 5_000,
        });
        journal.record(Entry::Finished {
            contact: "c1".to_string(),
            status: ContactStatus::Waiting,
            steps: 1,
            error: None,
        });
        let last = journal.record(Entry::Finished {
            contact: "c2".to_string(),
            status: ContactStatus::Done,
            steps: 2,
            error: None,
        });
        block_on(journal.committed(last)).unwrap();
        // No flush, no close: like `kill -9` after the commit (the leaked
        // writer thread sits idle, holding no lock).
        journal.crash();
        let crashed = summary(&path).unwrap();
        assert_eq!((crashed.contacts_done, crashed.contacts_waiting), (1, 1));

        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        assert!(journal.is_resume());
        assert_eq!(journal.run_id(), run_id);
        assert_eq!(
            journal.contact("c2").unwrap().unwrap().status,
            ContactStatus::Done
        );
        let c1 = journal.contact("c1").unwrap().unwrap();
        assert_eq!(
            (c1.status, c1.resume_at_ms),
            (ContactStatus::Waiting, Some(5_000))
        );
        let delivery = journal.delivery("c1", 0).unwrap().unwrap();
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
            journal.record(Entry::Finished {
                contact: contact.to_string(),
                status,
                steps: 1,
                error: None,
            });
        }
        journal.record(Entry::Finished {
            contact: "s2".to_string(),
            status: ContactStatus::Failed,
            steps: 0,
            error: Some("Slow: 400 Bad Request".to_string()),
        });
        journal.close().unwrap();

        let summary = summary(&path).unwrap();
        assert_eq!(summary.campaign, "Welcome");
        assert_eq!(summary.digest, DIGEST);
        assert_eq!(summary.run_id.len(), 32);
        assert_eq!(summary.sessions, 1);
        assert_eq!(
            (
                summary.contacts_done,
                summary.contacts_failed,
                summary.contacts_waiting
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
            let _ = journal.contact("c1");
            let _ = journal.delivery("c1", 0);
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
                 INSERT INTO contacts VALUES ('c2', 'done', 1, NULL, 0);
                 INSERT INTO deliveries VALUES ('c1', 0, 'k', 99999, '[]');
                 INSERT INTO deliveries VALUES ('c2', 0, 'k', 200, 'not json');",
            )
            .unwrap();
        }
        let journal = Journal::open(&odd, DIGEST, "Welcome", CONTACTS).unwrap();
        assert!(matches!(
            journal.contact("c1"),
            Err(JournalError::Corrupt { .. })
        ));
        assert!(matches!(
            journal.delivery("c1", 0),
            Err(JournalError::Corrupt { .. })
        ));
        assert!(matches!(
            journal.delivery("c2", 0),
            Err(JournalError::Corrupt { .. })
        ));
        assert!(journal.contact("c2").unwrap().is_some());
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
                        journal.record(Entry::Delivered {
                            contact: contact.clone(),
                            webhook: 0,
                            key: format!("key-{contact}-0"),
                            status: 200,
                            captures: vec![],
                        });
                        // Reads interleave with the writer.
                        if i % 500 == 0 {
                            journal.contact(&contact).unwrap();
                        }
                        journal.record(Entry::Finished {
                            contact,
                            status: ContactStatus::Done,
                            steps: 1,
                            error: None,
                        });
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
        assert_eq!(summary.contacts_done, 20_000);
        let journal = Journal::open(&path, DIGEST, "Welcome", CONTACTS).unwrap();
        for contact in ["t0-c0", "t3-c1234", "t7-c2499"] {
            assert!(journal.delivery(contact, 0).unwrap().is_some());
            assert!(journal
                .contact(contact)
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
        journal.record(Entry::Finished {
            contact: "c1".to_string(),
            status: ContactStatus::Done,
            steps: 1,
            error: None,
        });
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
            journal.record(Entry::Attempt {
                contact: format!("contact-{i:07}"),
                webhook: 0,
                step: "Create CRM contact".to_string(),
                attempt: 1,
                key: format!("0123456789abcdef0123456789abcdef-{i:07}-0"),
                status: Some(200),
                error: None,
                started_ms: 1_700_000_000_000 + i64::from(i),
                duration_us: u64::from(i % 5_000),
            });
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
            journal.record(Entry::Attempt {
                contact: contact.clone(),
                webhook: 0,
                step: "Create CRM contact".to_string(),
                attempt: 1,
                key: format!("0123456789abcdef0123456789abcdef-{i:07}-0"),
                status: Some(201),
                error: None,
                started_ms: 1_700_000_000_000 + i64::from(i),
                duration_us: 900,
            });
            journal.record(Entry::Delivered {
                contact: contact.clone(),
                webhook: 0,
                key: format!("0123456789abcdef0123456789abcdef-{i:07}-0"),
                status: 201,
                captures: vec![("CRM ID".to_string(), i.to_string())],
            });
            journal.record(Entry::Finished {
                contact,
                status: ContactStatus::Done,
                steps: 1,
                error: None,
            });
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
            pending.contacts_done,
            start.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(pending.contacts_done, u64::from(N));

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
            assert!(journal.contact(&contact).unwrap().is_some());
            assert!(journal.delivery(&contact, 0).unwrap().is_some());
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
            summary.contacts_done,
            start.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(summary.attempts, u64::from(2 * N));
        assert_eq!(summary.contacts_done, u64::from(N));
    }
}
