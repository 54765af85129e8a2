//! The [`Store`] on an SQLite file: the embedded default, nothing to
//! install.
//!
//! Writes are group-committed by one writer thread: the calls that arrive
//! together share one transaction, each in its own savepoint (claims and
//! checkpoints side by side share one, see `writer`), and each caller is
//! answered after the commit (see [`SqliteStore`]). Reads use a
//! second connection on tokio's blocking pool. The
//! file is in WAL mode with `synchronous=NORMAL` (a commit is a write to the
//! log, not an fsync: a killed process loses nothing committed) and a busy
//! timeout, so that `campaign enroll` or `campaign status` can use the file
//! while `serve` runs. The SQL is plain enough for PostgreSQL to run as
//! well: `ON CONFLICT`, `RETURNING`, no SQLite-only functions in the
//! queries.
//!
//! `writer` holds the writer thread and its group commit.

mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{
    corrupt, now_ms, Applied, Change, Changed, Checkpoint, Claimed, ContactData, FailureRow,
    Inbound, MapCounts, Position, Revision, SendCount, State, StatusRow, Store, StoreError,
    Triggers, VmState,
};

/// `PRAGMA application_id` of a server database ("CPS1"), so that a
/// journal or any other SQLite file is never taken for one.
pub const APPLICATION_ID: i32 = 0x4350_5331;

/// `PRAGMA user_version`: the schema this build writes.
pub const SCHEMA_VERSION: i64 = 2;

/// What takes a database from each version to the next, oldest first: a
/// new file gets [`SCHEMA`] and then every one. Never edited once
/// released; a change is a new one. The same statements as PostgreSQL's
/// migrations of the same number.
const UPGRADES: &[(i64, &str)] = &[(
    2,
    include_str!("../migrations/postgres/0002_map_indexes.sql"),
)];

const SCHEMA: &str = "
CREATE TABLE revisions (
    campaign  TEXT NOT NULL,
    revision  BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    source    TEXT NOT NULL,
    bytecode  TEXT NOT NULL,
    loaded_ms BIGINT NOT NULL,
    PRIMARY KEY (campaign, revision),
    UNIQUE (campaign, hash)
);
CREATE TABLE contacts (
    id         TEXT PRIMARY KEY,
    fields     TEXT NOT NULL,
    tags       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE positions (
    campaign    TEXT NOT NULL,
    contact     TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    entry       TEXT NOT NULL,
    state       TEXT NOT NULL,
    pc          BIGINT NOT NULL,
    step        TEXT,
    wake_at     BIGINT,
    resume_at   BIGINT,
    locked_by   TEXT,
    lease_until BIGINT,
    attempts    BIGINT NOT NULL,
    vm          TEXT NOT NULL,
    error_code  TEXT,
    error       TEXT,
    entered_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (campaign, contact)
);
CREATE INDEX positions_due ON positions (wake_at) WHERE state IN ('active', 'waiting');
CREATE INDEX positions_contact ON positions (contact);
CREATE INDEX positions_revision ON positions (campaign, revision, state);
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    dedupe      TEXT UNIQUE,
    source      TEXT NOT NULL,
    contact     TEXT NOT NULL,
    received_ms BIGINT NOT NULL
);
CREATE INDEX events_received ON events (received_ms);
CREATE TABLE attempts (
    id       INTEGER PRIMARY KEY,
    campaign TEXT NOT NULL,
    contact  TEXT NOT NULL,
    revision BIGINT NOT NULL,
    step     TEXT NOT NULL,
    attempt  BIGINT NOT NULL,
    key      TEXT NOT NULL,
    status   BIGINT,
    error    TEXT,
    ms       DOUBLE PRECISION NOT NULL,
    at_ms    BIGINT NOT NULL
);
";

const POSITION_COLUMNS: &str = "campaign, contact, revision, entry, state, pc, step, wake_at, \
     resume_at, attempts, vm, error_code, error, entered_ms, updated_ms";

/// A server database in an SQLite file.
///
/// Writes go to one writer thread, which owns the write connection and
/// commits what has been queued together in one transaction (group
/// commit): each call runs inside its own `SAVEPOINT` (or, for claims and
/// checkpoints queued side by side, one they share and that falls back to
/// one each when any of them fails), so a call that fails is rolled back
/// alone and the others in the batch stand, and every
/// caller gets its result only after the transaction holding its work has
/// committed. Reads use a second connection (WAL lets them run beside the
/// writer) on tokio's blocking pool.
#[derive(Clone)]
pub struct SqliteStore {
    read: Arc<Mutex<Connection>>,
    queue: tokio::sync::mpsc::UnboundedSender<Box<dyn writer::Job>>,
    commits: Arc<AtomicU64>,
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = connect(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // The writer's savepoints journal the pages they change: in memory,
        // not a temporary file. Only the writer: the readers' sorts (a
        // GROUP BY over every position for /metrics) may spill to disk.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let app: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        let new = app == 0 && version == 0 && tables == 0;
        if !new && app != APPLICATION_ID {
            return Err(StoreError::Foreign(path.display().to_string()));
        } else if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            // One transaction: a file is at one version or the next, never
            // between (SQLite's DDL is transactional).
            let tx = conn.unchecked_transaction()?;
            if new {
                tx.execute_batch(SCHEMA)?;
                tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            }
            for (_, sql) in UPGRADES.iter().filter(|u| u.0 > version.max(1)) {
                tx.execute_batch(sql)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
        }
        let read = connect(path)?;
        let commits = Arc::new(AtomicU64::new(0));
        let (queue, jobs) = tokio::sync::mpsc::unbounded_channel();
        let counter = commits.clone();
        std::thread::Builder::new()
            .name("campaign-db-writer".into())
            .spawn(move || writer::run(conn, jobs, &counter))
            .map_err(|e| {
                StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("cannot start the database writer thread: {e}")),
                ))
            })?;
        Ok(SqliteStore {
            read: Arc::new(Mutex::new(read)),
            queue,
            commits,
        })
    }

    /// Transactions committed by the writer so far (each holds one or more
    /// calls).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `f` on the read connection, on the blocking pool, in one read
    /// transaction (one snapshot for all its queries).
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.read.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = guard.transaction()?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
        .map_err(|_| StoreError::Gone)?
    }

    /// Runs `f` on the writer thread, inside a savepoint of the transaction
    /// the writer commits next; the result comes back once that
    /// transaction has committed. An `Err` from `f` undoes what `f` did
    /// and nothing else.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, answer) = writer::job(f);
        self.queue.send(job).map_err(|_| StoreError::Gone)?;
        answer.await.map_err(|_| StoreError::Gone)?
    }

    /// [`SqliteStore::write`] for a call that may share its savepoint with
    /// the calls queued beside it: `f` is run again, alone, if one of them
    /// fails, so it must not consume what it captured.
    async fn write_shared<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, answer) = writer::shared_job(f);
        self.queue.send(job).map_err(|_| StoreError::Gone)?;
        answer.await.map_err(|_| StoreError::Gone)?
    }
}

fn position(row: &Row<'_>) -> rusqlite::Result<(Position, String)> {
    let state: String = row.get(4)?;
    Ok((
        Position {
            campaign: row.get(0)?,
            contact: row.get(1)?,
            revision: row.get(2)?,
            entry: row.get(3)?,
            state: State::parse(&state).unwrap_or(State::Failed),
            pc: row.get::<_, i64>(5)? as u32,
            step: row.get(6)?,
            wake_at: row.get(7)?,
            resume_at: row.get(8)?,
            attempts: row.get::<_, i64>(9)? as u32,
            vm: VmState::default(),
            error_code: row.get(11)?,
            error: row.get(12)?,
            entered_ms: row.get(13)?,
            updated_ms: row.get(14)?,
        },
        row.get(10)?,
    ))
}

fn with_vm((mut p, vm): (Position, String)) -> Result<Position, StoreError> {
    p.vm = serde_json::from_str(&vm).map_err(corrupt("position's VM state"))?;
    Ok(p)
}

fn load_contact(tx: &Connection, id: &str) -> Result<Option<ContactData>, StoreError> {
    let row: Option<(String, String)> = tx
        .prepare_cached("SELECT fields, tags FROM contacts WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((fields, tags)) = row else {
        return Ok(None);
    };
    Ok(Some(ContactData {
        id: id.to_string(),
        fields: serde_json::from_str(&fields).map_err(corrupt("contact's fields"))?,
        tags: serde_json::from_str(&tags).map_err(corrupt("contact's tags"))?,
    }))
}

/// Applies `change` to its contact (creating it).
fn change_contact(tx: &Connection, change: &Change, now: i64) -> Result<Changed, StoreError> {
    let existing = load_contact(tx, &change.contact)?;
    let created = existing.is_none();
    let mut data = existing.unwrap_or_else(|| ContactData {
        id: change.contact.clone(),
        ..ContactData::default()
    });
    let what = data.apply(change, created);
    if what.changed {
        let fields = serde_json::to_string(&data.fields).map_err(corrupt("contact's fields"))?;
        let tags = serde_json::to_string(&data.tags).map_err(corrupt("contact's tags"))?;
        tx.prepare_cached(
            "INSERT INTO contacts (id, fields, tags, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (id) DO UPDATE SET fields = excluded.fields, tags = excluded.tags,
             updated_ms = excluded.updated_ms",
        )?
        .execute(params![data.id, fields, tags, now])?;
    }
    Ok(what)
}

/// Enters `contact` into `campaign` at `revision` unless it has a position
/// there already; returns whether it entered.
fn enter(
    tx: &Connection,
    campaign: &str,
    revision: i64,
    contact: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let (entry, vm) = super::new_entry(now)?;
    let n = tx
        .prepare_cached(
            "INSERT INTO positions (campaign, contact, revision, entry, state, pc, wake_at,
             attempts, vm, entered_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, 'active', 0, ?5, 0, ?6, ?5, ?5)
             ON CONFLICT (campaign, contact) DO NOTHING",
        )?
        .execute(params![campaign, contact, revision, entry, now, vm])?;
    Ok(n == 1)
}

/// The trigger-driven entries and goal wake-ups that follow a change.
fn follow_change(
    tx: &Connection,
    contact: &str,
    except: Option<&str>,
    what: &Changed,
    triggers: &Triggers,
    now: i64,
    entered: &mut Vec<String>,
) -> Result<(), StoreError> {
    if what.created {
        for (campaign, revision) in &triggers.contact_added {
            if enter(tx, campaign, *revision, contact, now)? {
                entered.push(campaign.clone());
            }
        }
    }
    for (tag, campaign, revision) in &triggers.tag_added {
        if what.gained.contains(tag) && enter(tx, campaign, *revision, contact, now)? {
            entered.push(campaign.clone());
        }
    }
    if what.changed {
        // A goal may hold now: the engine checks the goals ahead of each
        // waiting position (and puts it back if none holds).
        tx.prepare_cached(
            "UPDATE positions SET wake_at = ?2 WHERE contact = ?1 AND state = 'waiting'
             AND wake_at > ?2 AND (?3 IS NULL OR campaign <> ?3)",
        )?
        .execute(params![contact, now, except])?;
    }
    Ok(())
}

impl Store for SqliteStore {
    async fn save_revision(
        &self,
        campaign: &str,
        hash: &str,
        source: &str,
        bytecode: &str,
    ) -> Result<i64, StoreError> {
        let (campaign, hash, source, bytecode) = (
            campaign.to_string(),
            hash.to_string(),
            source.to_string(),
            bytecode.to_string(),
        );
        self.write(move |tx| {
            let found: Option<i64> = tx
                .query_row(
                    "SELECT revision FROM revisions WHERE campaign = ?1 AND hash = ?2",
                    params![campaign, hash],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(revision) = found {
                return Ok(revision);
            }
            let next: i64 = tx.query_row(
                "SELECT COALESCE(MAX(revision), 0) + 1 FROM revisions WHERE campaign = ?1",
                [&campaign],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO revisions (campaign, revision, hash, source, bytecode, loaded_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![campaign, next, hash, source, bytecode, now_ms()],
            )?;
            Ok(next)
        })
        .await
    }

    async fn revisions(&self, campaign: Option<&str>) -> Result<Vec<Revision>, StoreError> {
        let campaign = campaign.map(str::to_string);
        self.with(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT campaign, revision, hash, source, bytecode, loaded_ms FROM revisions
                 WHERE ?1 IS NULL OR campaign = ?1 ORDER BY campaign, revision",
            )?;
            let rows = stmt.query_map([campaign], |r| {
                Ok(Revision {
                    campaign: r.get(0)?,
                    revision: r.get(1)?,
                    hash: r.get(2)?,
                    source: r.get(3)?,
                    bytecode: r.get(4)?,
                    loaded_ms: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn apply(&self, event: Inbound, triggers: &Triggers) -> Result<Applied, StoreError> {
        let triggers = triggers.clone();
        self.write(move |tx| {
            let now = now_ms();
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO events (dedupe, source, contact, received_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (dedupe) DO NOTHING",
                )?
                .execute(params![event.dedupe, event.source, event.change.contact, now])?;
            if inserted == 0 {
                return Ok(Applied {
                    duplicate: true,
                    ..Applied::default()
                });
            }
            let contact = &event.change.contact;
            let what = change_contact(tx, &event.change, now)?;
            let mut entered = Vec::new();
            for (campaign, revision) in &event.enroll {
                if enter(tx, campaign, *revision, contact, now)? {
                    entered.push(campaign.clone());
                }
            }
            follow_change(tx, contact, None, &what, &triggers, now, &mut entered)?;
            Ok(Applied {
                duplicate: false,
                created: what.created,
                entered,
            })
        })
        .await
    }

    async fn claim(
        &self,
        worker: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let worker = worker.to_string();
        self.write_shared(move |tx| {
            let sql = format!(
                "UPDATE positions SET locked_by = ?1, lease_until = ?2
                 WHERE (campaign, contact) IN (
                     SELECT campaign, contact FROM positions
                     WHERE state IN ('active', 'waiting') AND wake_at <= ?3
                     AND (lease_until IS NULL OR lease_until < ?3)
                     ORDER BY wake_at LIMIT ?4)
                 RETURNING {POSITION_COLUMNS}"
            );
            // Taken before the claim: a worker paused while its claim ran must
            // not take a lease that expired meanwhile for a fresh one.
            let claimed_ms = super::now_ms();
            let positions = tx
                .prepare_cached(&sql)?
                .query_map(
                    params![worker, now_ms + lease_ms, now_ms, limit as i64],
                    position,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let mut claimed = Vec::with_capacity(positions.len());
            for p in positions {
                let p = with_vm(p)?;
                let contact = load_contact(tx, &p.contact)?.unwrap_or_else(|| ContactData {
                    id: p.contact.clone(),
                    ..ContactData::default()
                });
                claimed.push(Claimed {
                    position: p,
                    contact,
                    claimed_ms,
                });
            }
            claimed.sort_by_key(|c| c.position.wake_at);
            Ok(claimed)
        })
        .await
    }

    async fn checkpoint(
        &self,
        worker: &str,
        checkpoint: Checkpoint,
        triggers: &Triggers,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let worker = worker.to_string();
        // Only a change to the contact reads them.
        let triggers = if checkpoint.change.is_empty() {
            Triggers::default()
        } else {
            triggers.clone()
        };
        self.write_shared(move |tx| {
            let now = now_ms();
            let p = &checkpoint.position;
            let vm = serde_json::to_string(&p.vm).map_err(corrupt("position's VM state"))?;
            let (locked_by, lease_until) = if checkpoint.release {
                (None, None)
            } else {
                (Some(worker.as_str()), Some(now + lease_ms))
            };
            let held = tx
                .prepare_cached(
                    "UPDATE positions SET state = ?3, pc = ?4, step = ?5, wake_at = ?6, resume_at = ?7,
                     attempts = ?8, vm = ?9, error_code = ?10, error = ?11, updated_ms = ?12,
                     locked_by = ?13, lease_until = ?14, revision = ?15
                     WHERE campaign = ?1 AND contact = ?2 AND locked_by = ?16",
                )?
                .execute(params![
                    p.campaign,
                    p.contact,
                    p.state.as_str(),
                    p.pc as i64,
                    p.step,
                    p.wake_at,
                    p.resume_at,
                    p.attempts as i64,
                    vm,
                    p.error_code,
                    p.error,
                    now,
                    locked_by,
                    lease_until,
                    p.revision,
                    worker,
                ])?;
            if held == 0 {
                return Ok(false);
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO attempts (campaign, contact, revision, step, attempt, key, status,
                 error, ms, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for a in &checkpoint.attempts {
                insert.execute(params![
                    p.campaign,
                    p.contact,
                    p.revision,
                    a.step,
                    a.attempt as i64,
                    a.key,
                    a.status.map(i64::from),
                    a.error,
                    a.ms,
                    now,
                ])?;
            }
            if p.state == State::Waiting {
                // Changed while this worker ran it: check its goals now.
                tx.prepare_cached(
                    "UPDATE positions SET wake_at = ?3 WHERE campaign = ?1 AND contact = ?2
                     AND wake_at > ?3 AND EXISTS (SELECT 1 FROM contacts c
                     WHERE c.id = ?2 AND c.updated_ms >= ?4)",
                )?
                .execute(params![p.campaign, p.contact, now, checkpoint.claimed_ms])?;
            }
            let change = &checkpoint.change;
            if !change.is_empty() {
                let what = change_contact(tx, change, now)?;
                let mut entered = Vec::new();
                follow_change(
                    tx,
                    &p.contact,
                    Some(&p.campaign),
                    &what,
                    &triggers,
                    now,
                    &mut entered,
                )?;
                // The position that made the change does not wake itself.
                let _ = entered;
            }
            Ok(true)
        })
        .await
    }

    async fn renew(&self, worker: &str, lease_until: i64) -> Result<u64, StoreError> {
        let worker = worker.to_string();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("UPDATE positions SET lease_until = ?2 WHERE locked_by = ?1")?
                .execute(params![worker, lease_until])? as u64)
        })
        .await
    }

    async fn backlog(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.with(move |conn| {
            let n: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM positions WHERE state IN ('active', 'waiting')
                     AND wake_at <= ?1 AND (lease_until IS NULL OR lease_until < ?1)",
                )?
                .query_row([now_ms], |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.with(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT MIN(wake_at) FROM positions WHERE state IN ('active', 'waiting')",
                )?
                .query_row([], |r| r.get(0))?)
        })
        .await
    }

    async fn contact(&self, id: &str) -> Result<Option<(ContactData, Vec<Position>)>, StoreError> {
        let id = id.to_string();
        self.with(move |conn| {
            let Some(data) = load_contact(conn, &id)? else {
                return Ok(None);
            };
            let sql = format!(
                "SELECT {POSITION_COLUMNS} FROM positions WHERE contact = ?1 ORDER BY campaign"
            );
            let positions = conn
                .prepare_cached(&sql)?
                .query_map([&id], position)?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(with_vm)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some((data, positions)))
        })
        .await
    }

    async fn status(&self) -> Result<Vec<StatusRow>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT campaign, revision, state, CASE WHEN state IN ('waiting', 'failed') THEN step END AS at,
                 COUNT(*) FROM positions GROUP BY campaign, revision, state, at
                 ORDER BY campaign, revision, state, at",
            )?;
            let rows = stmt.query_map([], |r| {
                let state: String = r.get(2)?;
                Ok(StatusRow {
                    campaign: r.get(0)?,
                    revision: r.get(1)?,
                    state: State::parse(&state).unwrap_or(State::Failed),
                    step: r.get(3)?,
                    count: r.get::<_, i64>(4)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn map_counts(
        &self,
        campaign: &str,
        revision: i64,
        failures: usize,
    ) -> Result<MapCounts, StoreError> {
        let campaign = campaign.to_string();
        self.with(move |conn| {
            let positions = conn
                .prepare_cached(
                    "SELECT state, CASE WHEN state IN ('active', 'waiting', 'failed') THEN step END AS at,
                     COUNT(*) FROM positions WHERE campaign = ?1 AND revision = ?2
                     GROUP BY state, at ORDER BY state, at",
                )?
                .query_map(params![campaign, revision], |r| {
                    let state: String = r.get(0)?;
                    Ok(StatusRow {
                        campaign: campaign.clone(),
                        revision,
                        state: State::parse(&state).unwrap_or(State::Failed),
                        step: r.get(1)?,
                        count: r.get::<_, i64>(2)? as u64,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let sends = conn
                .prepare_cached(
                    "SELECT step, COUNT(DISTINCT key),
                     COUNT(DISTINCT CASE WHEN status BETWEEN 200 AND 299 THEN key END),
                     COUNT(*) FILTER (WHERE status IS NULL OR status NOT BETWEEN 200 AND 299)
                     FROM attempts WHERE campaign = ?1 AND revision = ?2
                     GROUP BY step ORDER BY step",
                )?
                .query_map(params![campaign, revision], |r| {
                    Ok(SendCount {
                        webhook: r.get(0)?,
                        requests: r.get::<_, i64>(1)? as u64,
                        delivered: r.get::<_, i64>(2)? as u64,
                        failed_attempts: r.get::<_, i64>(3)? as u64,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let failures = conn
                .prepare_cached(
                    "SELECT contact, step, error_code, error, updated_ms FROM positions
                     WHERE campaign = ?1 AND revision = ?2 AND state = 'failed'
                     ORDER BY updated_ms DESC, contact LIMIT ?3",
                )?
                .query_map(params![campaign, revision, failures as i64], |r| {
                    Ok(FailureRow {
                        contact: r.get(0)?,
                        step: r.get(1)?,
                        code: r.get(2)?,
                        error: r.get(3)?,
                        at_ms: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(MapCounts {
                positions,
                sends,
                failures,
            })
        })
        .await
    }

    async fn waiting(&self, campaign: &str, revision: i64) -> Result<Vec<Position>, StoreError> {
        let campaign = campaign.to_string();
        self.with(move |conn| {
            let sql = format!(
                "SELECT {POSITION_COLUMNS} FROM positions
                 WHERE campaign = ?1 AND revision = ?2 AND state = 'waiting' ORDER BY contact"
            );
            conn.prepare_cached(&sql)?
                .query_map(params![campaign, revision], position)?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(with_vm)
                .collect()
        })
        .await
    }

    async fn move_positions(&self, from: i64, moves: &[Position]) -> Result<u64, StoreError> {
        let moves = moves.to_vec();
        self.write(move |tx| {
            let now = now_ms();
            let mut moved = 0;
            let mut stmt = tx.prepare_cached(
                "UPDATE positions SET revision = ?4, pc = ?5, step = ?6, vm = ?7, updated_ms = ?8
                 WHERE campaign = ?1 AND contact = ?2 AND revision = ?3 AND state = 'waiting'
                 AND (lease_until IS NULL OR lease_until < ?8)",
            )?;
            for p in &moves {
                let vm = serde_json::to_string(&p.vm).map_err(corrupt("position's VM state"))?;
                moved += stmt.execute(params![
                    p.campaign,
                    p.contact,
                    from,
                    p.revision,
                    i64::from(p.pc),
                    p.step,
                    vm,
                    now
                ])? as u64;
            }
            Ok(moved)
        })
        .await
    }

    async fn prune(
        &self,
        before_ms: i64,
        finished_before_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        if let Some(before) = finished_before_ms {
            for sql in [
                "DELETE FROM positions WHERE rowid IN (SELECT rowid FROM positions
                 WHERE state IN ('done', 'failed') AND updated_ms < ?1 LIMIT 1000)",
                "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE at_ms < ?1 LIMIT 1000)",
            ] {
                // A batch per transaction: the writer serves others between.
                while self.write(move |tx| Ok(tx.execute(sql, [before])?)).await? > 0 {}
            }
        }
        self.write(move |tx| {
            tx.execute("DELETE FROM events WHERE received_ms < ?1", [before_ms])?;
            tx.execute(
                "DELETE FROM revisions WHERE revision < (SELECT MAX(r.revision) FROM revisions r
                 WHERE r.campaign = revisions.campaign)
                 AND NOT EXISTS (SELECT 1 FROM positions p WHERE p.campaign = revisions.campaign
                 AND p.revision = revisions.revision)",
                [],
            )?;
            Ok(())
        })
        .await
    }

    async fn release_all(&self) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE positions SET locked_by = NULL, lease_until = NULL WHERE locked_by IS NOT NULL",
                [],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
