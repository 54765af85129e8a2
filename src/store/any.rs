//! The database a `--db` names: a `postgres://` (or `postgresql://`) URL
//! is PostgreSQL, anything else an SQLite file. One type, so that the
//! commands and the engine are written once for both.

use std::path::Path;

use super::postgres::{self, PostgresStore};
use super::sqlite::SqliteStore;
use super::{
    Applied, Checkpoint, Claimed, ContactData, Inbound, MapCounts, Position, Revision, StatusRow,
    Store, StoreError, Triggers,
};

/// An SQLite file or a PostgreSQL database.
#[derive(Clone)]
pub enum Database {
    /// The embedded default: one `serve` per file.
    Sqlite(SqliteStore),
    /// Shared by any number of workers.
    Postgres(PostgresStore),
}

impl Database {
    /// Opens the database `db` names, creating an SQLite file or the
    /// PostgreSQL schema if missing.
    pub async fn open(db: &Path) -> Result<Database, StoreError> {
        match db.to_str().filter(|t| postgres::is_url(t)) {
            Some(url) => Ok(Database::Postgres(PostgresStore::connect(url).await?)),
            None => Ok(Database::Sqlite(SqliteStore::open(db)?)),
        }
    }

    /// Whether `db` names a PostgreSQL database rather than an SQLite file.
    pub fn is_url(db: &Path) -> bool {
        db.to_str().is_some_and(postgres::is_url)
    }

    /// Whether several processes may serve from it at once.
    pub fn shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// How to name `db` in a log: a URL without its password.
    pub fn describe(db: &Path) -> String {
        match db.to_str().filter(|t| postgres::is_url(t)) {
            Some(url) => postgres::redact_url(url),
            None => db.display().to_string(),
        }
    }
}

/// Calls the same method on whichever store it is.
macro_rules! both {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Database::Sqlite($s) => $call.await,
            Database::Postgres($s) => $call.await,
        }
    };
}

impl Store for Database {
    async fn save_revision(
        &self,
        campaign: &str,
        hash: &str,
        source: &str,
        bytecode: &str,
    ) -> Result<i64, StoreError> {
        both!(self, s => s.save_revision(campaign, hash, source, bytecode))
    }

    async fn revisions(&self, campaign: Option<&str>) -> Result<Vec<Revision>, StoreError> {
        both!(self, s => s.revisions(campaign))
    }

    async fn apply(&self, event: Inbound, triggers: &Triggers) -> Result<Applied, StoreError> {
        both!(self, s => s.apply(event, triggers))
    }

    async fn claim(
        &self,
        worker: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        both!(self, s => s.claim(worker, now_ms, limit, lease_ms))
    }

    async fn checkpoint(
        &self,
        worker: &str,
        checkpoint: Checkpoint,
        triggers: &Triggers,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        both!(self, s => s.checkpoint(worker, checkpoint, triggers, lease_ms))
    }

    async fn renew(&self, worker: &str, lease_until: i64) -> Result<u64, StoreError> {
        both!(self, s => s.renew(worker, lease_until))
    }

    async fn backlog(&self, now_ms: i64) -> Result<u64, StoreError> {
        both!(self, s => s.backlog(now_ms))
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        both!(self, s => s.next_due())
    }

    async fn contact(&self, id: &str) -> Result<Option<(ContactData, Vec<Position>)>, StoreError> {
        both!(self, s => s.contact(id))
    }

    async fn status(&self) -> Result<Vec<StatusRow>, StoreError> {
        both!(self, s => s.status())
    }

    async fn map_counts(
        &self,
        campaign: &str,
        revision: i64,
        failures: usize,
    ) -> Result<MapCounts, StoreError> {
        both!(self, s => s.map_counts(campaign, revision, failures))
    }

    async fn waiting(&self, campaign: &str, revision: i64) -> Result<Vec<Position>, StoreError> {
        both!(self, s => s.waiting(campaign, revision))
    }

    async fn move_positions(&self, from: i64, moves: &[Position]) -> Result<u64, StoreError> {
        both!(self, s => s.move_positions(from, moves))
    }

    async fn prune(
        &self,
        before_ms: i64,
        finished_before_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        both!(self, s => s.prune(before_ms, finished_before_ms))
    }

    async fn release_all(&self) -> Result<(), StoreError> {
        both!(self, s => s.release_all())
    }
}
