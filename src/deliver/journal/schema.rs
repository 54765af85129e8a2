//! The journal's file format: its identity marks, its tables (version 2),
//! the run's metadata and sessions, and the checks that refuse a file that
//! is not this run's journal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension};

use super::error::JournalError;
use super::now_ms;

/// `PRAGMA application_id` of a journal file ("CPJ1"), so that `campaign
/// report` and `--journal` recognise their own files and refuse others.
pub const APPLICATION_ID: i32 = 0x4350_4A31;

/// `PRAGMA user_version` of the schema this build writes and reads.
/// Version 2 added the `sessions` table and the contacts fingerprint;
/// `campaign report` still reads version 1, a run does not resume it.
pub const SCHEMA_VERSION: i32 = 2;

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

/// Each contact's effects, as the JSON array `--out` holds, replaced at
/// each of its ends (a resumed contact replays its earlier effects).
const EFFECTS_TABLE: &str = "
CREATE TABLE IF NOT EXISTS contact_effects (
    contact TEXT PRIMARY KEY,
    effects TEXT NOT NULL
) WITHOUT ROWID;
";

/// The write-ahead log SQLite keeps beside the journal: `-wal` appended to
/// the file's real path (SQLite resolves symlinks before naming it).
pub(super) fn wal_path(path: &Path) -> PathBuf {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut name = real.into_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// Checks that `conn` holds a journal of a version we read, or (when
/// `allow_new`) an empty database that may become one.
pub(super) fn check_identity(
    conn: &Connection,
    path: &Path,
    allow_new: bool,
) -> Result<(), JournalError> {
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
pub(super) struct RunIdentity<'a> {
    /// The compiled campaign's digest.
    pub(super) digest: &'a str,
    /// The campaign's name, for messages.
    pub(super) campaign: &'a str,
    /// The contacts file's fingerprint.
    pub(super) contacts: &'a str,
}

/// Creates the schema and run metadata in a new journal, or checks and
/// updates them in an existing one, and starts a session. Returns the run
/// id, whether the run was already there, and this session's number (1 for
/// the first). `wal_present`: whether the `-wal` file held anything before
/// the journal was opened.
pub(super) fn init_meta(
    conn: &Connection,
    path: &Path,
    run: &RunIdentity<'_>,
    wal_present: bool,
) -> Result<(String, bool, i64), JournalError> {
    // IMMEDIATE takes the write lock first, so two processes creating the
    // same journal at once cannot both create it.
    immediate(conn, path, || {
        init_meta_in_transaction(conn, path, run, wal_present)
    })
}

/// Runs `work` in an IMMEDIATE transaction: committed if it succeeds,
/// rolled back if it fails.
fn immediate<T>(
    conn: &Connection,
    path: &Path,
    work: impl FnOnce() -> Result<T, JournalError>,
) -> Result<T, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
    match work() {
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
    // Added after format version 2 without changing it: a journal without
    // the table gains it, and a build that does not know it ignores it.
    conn.execute_batch(EFFECTS_TABLE).map_err(err)?;
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
        let run_id = crate::request::new_run_id();
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
pub(super) fn checkpoint(conn: &Connection, path: &Path) -> Result<(), JournalError> {
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
pub(super) fn end_session(conn: &Connection, session: i64) -> rusqlite::Result<()> {
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
pub(super) fn keep_log_on_close(conn: &Connection) {
    let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
}

/// The run's metadata row set.
pub(super) struct Meta {
    pub(super) digest: String,
    pub(super) campaign: String,
    /// The contacts fingerprint; absent in version 1.
    pub(super) contacts: Option<String>,
    pub(super) run_id: String,
    pub(super) started_ms: i64,
    pub(super) sessions: i64,
}

pub(super) fn read_meta(conn: &Connection, path: &Path) -> Result<Meta, JournalError> {
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
