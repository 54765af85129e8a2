//! Lookups for a resumed run: everything earlier sessions recorded about a
//! contact, read by primary key from the merged tables on a connection of
//! its own (WAL lets it read while the writer writes). This session's own
//! entries are not visible (see the module docs of [`super`]).

use std::sync::{MutexGuard, PoisonError};

use rusqlite::Connection;

use super::error::{JournalError, WriterFailure};
use super::records::{ContactRecord, ContactStatus, Delivery, History, Wait};
use super::Journal;

impl Journal {
    /// What earlier sessions recorded about `contact`: its position, its
    /// delivered steps and its waits. A finished contact (done or failed) is
    /// skipped whole by a resume, so only its record is read. Three lookups
    /// by primary key at most; call it off the async runtime, since it waits
    /// for SQLite (the engine calls it on the thread that reads contacts).
    pub fn history(&self, contact: &str) -> Result<History, JournalError> {
        let (record, deliveries, waits) = self.read(|reader| {
            let record = reader
                .prepare_cached(
                    "SELECT status, steps, error, updated_ms FROM contacts WHERE contact = ?1",
                )?
                .query_map([contact], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, u32>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })?
                .next()
                .transpose()?;
            let finished = record.as_ref().is_some_and(|(status, ..)| {
                ContactStatus::parse(status).is_some_and(ContactStatus::is_finished)
            });
            if finished {
                return Ok((record, Vec::new(), Vec::new()));
            }
            let deliveries = reader
                .prepare_cached(
                    "SELECT webhook, key, status, captures FROM deliveries
                     WHERE contact = ?1 ORDER BY webhook",
                )?
                .query_map([contact], |row| {
                    Ok((
                        row.get::<_, u32>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, u16>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let waits = reader
                .prepare_cached(
                    "SELECT idx, resume_at_ms FROM waits WHERE contact = ?1 ORDER BY idx",
                )?
                .query_map([contact], |row| {
                    Ok(Wait {
                        contact: contact.to_string(),
                        index: row.get(0)?,
                        resume_at_ms: row.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((record, deliveries, waits))
        })?;
        let record = match record {
            None => None,
            Some((status, steps, error, updated_ms)) => Some(ContactRecord {
                contact: contact.to_string(),
                status: ContactStatus::parse(&status).ok_or_else(|| {
                    JournalError::corrupt(&self.path, format!("unknown contact status {status:?}"))
                })?,
                steps,
                error,
                updated_ms,
            }),
        };
        let deliveries = deliveries
            .into_iter()
            .map(|(webhook, key, status, captures)| {
                let captures = serde_json::from_str(&captures).map_err(|e| {
                    JournalError::corrupt(&self.path, format!("unreadable captures: {e}"))
                })?;
                Ok(Delivery {
                    contact: contact.to_string(),
                    webhook,
                    key,
                    status,
                    captures,
                })
            })
            .collect::<Result<_, JournalError>>()?;
        Ok(History {
            record,
            deliveries,
            waits,
        })
    }

    pub(super) fn reader(&self) -> MutexGuard<'_, Option<Connection>> {
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
            None => Err(self.writer_error(WriterFailure::Closed.into())),
        }
    }
}
