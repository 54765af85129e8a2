//! The report: a run's summary read from its journal, read-only, for
//! `campaign report`, across every session of the run.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::error::JournalError;
use super::merge::CURRENT_CONTACTS;
use super::records::{Attempt, ContactRecord, ContactStatus};
use super::schema::{check_identity, read_meta};
use super::BUSY_TIMEOUT;
use crate::deliver::stats::{mean, nearest_rank, slowest_first, Latency, RankPicker, StepStats};

/// A run's summary, read from its journal by [`summary`] for `campaign
/// report`. Counts cover every session of the run (the first and each resume).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Who the run is, and its contacts' counts (flattened: the JSON of
    /// `report --format json` has these keys at the top).
    #[serde(flatten)]
    pub standing: Standing,
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
    /// Latency percentiles over all attempts (see [`crate::deliver::stats`]);
    /// `None` if there were none.
    pub latency: Option<Latency>,
    /// Per webhook step, slowest (by p95, then mean) first.
    pub steps: Vec<StepStats>,
    /// The last failed attempts, most recent first (at most
    /// [`LAST_ERRORS`]).
    pub last_errors: Vec<Attempt>,
    /// The last failed contacts, most recent first (at most
    /// [`LAST_ERRORS`]).
    pub contact_errors: Vec<ContactRecord>,
    /// Every contact parked at a wait, soonest first.
    pub waiting: Vec<WaitingContact>,
}

/// A contact parked at a wait, and when it may go on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingContact {
    /// The contact's id.
    pub contact: String,
    /// When its wait ends, unix ms.
    pub resume_at_ms: i64,
    /// The same instant in RFC 3339 (UTC), for people and tools that do not
    /// count milliseconds.
    pub resume_at: String,
}

/// `ms` since the epoch as RFC 3339 in UTC, to the second (the number
/// itself if it is out of chrono's range).
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// How many recent errors a [`Summary`] lists.
pub const LAST_ERRORS: usize = 10;

/// SQL for "this attempt got a 2xx" (0 or 1, never NULL).
const OK_SQL: &str = "(CASE WHEN status BETWEEN 200 AND 299 THEN 1 ELSE 0 END)";

/// Where a run stands: who it is and its contacts' counts, without the
/// attempts' statistics, for a run about to resume to say so cheaply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
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
}

/// Reads where a run stands from the journal at `path`, read-only: the
/// part of [`summary`] that does not scan the attempts.
pub fn standing(path: &Path) -> Result<Standing, JournalError> {
    let conn = open_read_only(path)?;
    read_standing(&conn, path)
}

fn open_read_only(path: &Path) -> Result<Connection, JournalError> {
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
    Ok(conn)
}

fn read_standing(conn: &Connection, path: &Path) -> Result<Standing, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let meta = read_meta(conn, path)?;
    let (contacts_done, contacts_failed, contacts_waiting) = conn
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
    Ok(Standing {
        run_id: meta.run_id,
        campaign: meta.campaign,
        digest: meta.digest,
        started_ms: meta.started_ms,
        sessions: u32::try_from(meta.sessions).unwrap_or(u32::MAX),
        contacts_done,
        contacts_failed,
        contacts_waiting,
    })
}

/// Reads a run's summary from the journal at `path`, read-only, for
/// `campaign report`. Works while a run is still writing to it (it sees the
/// last commit). Memory stays bounded however large the run: percentiles
/// stream through SQLite's external sort, and only per-step figures are held.
pub fn summary(path: &Path) -> Result<Summary, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let conn = open_read_only(path)?;
    // One read transaction, so every figure comes from the same snapshot.
    conn.execute_batch("BEGIN").map_err(err)?;
    let standing = read_standing(&conn, path)?;
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

    let latency = match RankPicker::new(attempts) {
        None => None,
        Some(mut picker) => {
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
        }
    };

    let steps = step_stats(&conn, path)?;
    let last_errors = last_errors(&conn, path)?;
    let contact_errors = contact_errors(&conn, path)?;
    let waiting = waiting(&conn, path)?;
    conn.execute_batch("COMMIT").map_err(err)?;

    Ok(Summary {
        standing,
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
        waiting,
    })
}

/// The waiting contacts with the end of their latest wait, from the merged
/// and the pending rows alike.
fn waiting(conn: &Connection, path: &Path) -> Result<Vec<WaitingContact>, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let mut statement = conn
        .prepare(&format!(
            "{CURRENT_CONTACTS},
             all_waits AS (
                 SELECT contact, idx, resume_at_ms FROM waits
                 UNION ALL
                 SELECT contact, idx, resume_at_ms FROM pending_waits
             ),
             last_wait AS (
                 SELECT contact, resume_at_ms, MAX(idx) FROM all_waits GROUP BY contact
             )
             SELECT current.contact, last_wait.resume_at_ms
             FROM current JOIN last_wait ON last_wait.contact = current.contact
             WHERE current.status = 'waiting'
             ORDER BY last_wait.resume_at_ms, current.contact"
        ))
        .map_err(err)?;
    let rows = statement
        .query_map([], |row| {
            let resume_at_ms: i64 = row.get(1)?;
            Ok(WaitingContact {
                contact: row.get(0)?,
                resume_at_ms,
                resume_at: rfc3339_ms(resume_at_ms),
            })
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

fn step_stats(conn: &Connection, path: &Path) -> Result<Vec<StepStats>, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let mut steps = Vec::new();
    let mut index: HashMap<(u32, String), usize> = HashMap::new();
    {
        let mut statement = conn
            .prepare(&format!(
                "SELECT webhook, step, COUNT(*), SUM(1 - {OK_SQL}), SUM(duration_us)
                 FROM attempts GROUP BY webhook, step"
            ))
            .map_err(err)?;
        let mut rows = statement.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let webhook: u32 = row.get(0).map_err(err)?;
            let step: String = row.get(1).map_err(err)?;
            let attempts: u64 = row.get(2).map_err(err)?;
            let total: u64 = row.get(4).map_err(err)?;
            index.insert((webhook, step.clone()), steps.len());
            steps.push(StepStats {
                webhook,
                step,
                attempts,
                failures: row.get(3).map_err(err)?,
                mean_us: mean(u128::from(total), attempts),
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
    slowest_first(&mut steps);
    Ok(steps)
}

fn last_errors(conn: &Connection, path: &Path) -> Result<Vec<Attempt>, JournalError> {
    let err = |e| JournalError::from_sqlite(path, e);
    let mut statement = conn
        .prepare(&format!(
            "SELECT contact, webhook, step, attempt, key, status, error, started_ms, duration_us
             FROM attempts
             WHERE {OK_SQL} = 0 ORDER BY started_ms DESC, id DESC LIMIT {LAST_ERRORS}"
        ))
        .map_err(err)?;
    let rows = statement
        .query_map([], |row| {
            Ok(Attempt {
                contact: row.get(0)?,
                webhook: row.get(1)?,
                step: row.get(2)?,
                attempt: row.get(3)?,
                key: row.get(4)?,
                status: row.get(5)?,
                error: row.get(6)?,
                started_ms: row.get(7)?,
                duration_us: row.get(8)?,
            })
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

fn contact_errors(conn: &Connection, path: &Path) -> Result<Vec<ContactRecord>, JournalError> {
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
            Ok(ContactRecord {
                contact: row.get(0)?,
                status: ContactStatus::Failed,
                steps: row.get(1)?,
                error: row.get(2)?,
                updated_ms: row.get(3)?,
            })
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}
