//! The [`Store`] on PostgreSQL, for several `campaign serve` workers on one
//! database.
//!
//! - Work is claimed as PostgreSQL job queues claim it: one statement picks
//!   due positions with `FOR UPDATE SKIP LOCKED` (two workers never wait for
//!   or take the same row) and leases them (`locked_by`, `lease_until`).
//!   An expired lease is taken over by whoever claims next; every later
//!   write of a position is conditional on `locked_by` still naming the
//!   worker, so a worker paused past its lease cannot overwrite the new
//!   owner's work.
//! - A contact's row is locked (`FOR UPDATE`) before any of its positions is
//!   written in the same transaction, and several rows are locked in key
//!   order, so transactions queue instead of deadlocking; a deadlock or
//!   serialization failure that happens anyway is retried.
//! - No transaction spans a request: each method is one short transaction
//!   on a pooled connection, under a `statement_timeout` and an
//!   `idle_in_transaction_session_timeout`.
//! - The schema is versioned (`migrations/postgres/`, applied at connect
//!   under an advisory lock so that workers starting together apply it
//!   once); a database with a newer version than this build knows is
//!   refused.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use super::{
    corrupt, now_ms, Applied, Change, Changed, Checkpoint, Claimed, ContactData, FailureRow,
    Inbound, MapCounts, Position, Revision, SendCount, State, StatusRow, Store, StoreError,
    Triggers,
};

/// The schema's versions, oldest first: (version, name, SQL). A version is
/// never edited once released; a change is a new one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "map_indexes",
        include_str!("../migrations/postgres/0002_map_indexes.sql"),
    ),
];

/// The newest schema this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// How long one statement may run: every statement here touches a few
/// rows through an index, so one that runs this long is stuck.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections per process: the engine's contacts and the HTTP handlers
/// share them; a caller waits for a free one at most [`STATEMENT_TIMEOUT`].
pub const POOL_SIZE: usize = 16;

/// Tries of a transaction that PostgreSQL aborted for a deadlock or a
/// serialization failure.
const TRIES: u32 = 5;

/// Key of the advisory lock held while migrating ("campaign" in ASCII).
const MIGRATION_LOCK: i64 = 0x6361_6d70_6169_676e;

const POSITION_COLUMNS: &str = "campaign, contact, revision, entry, state, pc, step, wake_at, \
     resume_at, attempts, vm::text, error_code, error, entered_ms, updated_ms";

/// Whether `text` names a PostgreSQL database rather than an SQLite file.
pub fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// `url` without its password, to log.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "postgres://(invalid URL)".to_string(),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        // The error's own text is its kind ("db error"); the server's
        // message is its source.
        let message = match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        };
        StoreError::Postgres {
            message,
            code: e.code().map(|c| c.code().to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Postgres {
                message: format!("no connection: {other}"),
                code: None,
            },
        }
    }
}

/// Whether a transaction that failed with `e` may succeed when run again.
fn retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Postgres { code: Some(c), .. }
        if c == SqlState::T_R_DEADLOCK_DETECTED.code() || c == SqlState::T_R_SERIALIZATION_FAILURE.code())
}

/// Runs `$body` (an expression using the transaction `$tx`) in a
/// transaction on a connection from `$pool`, committed if it returns `Ok`,
/// run again on a deadlock.
macro_rules! transaction {
    ($pool:expr, |$tx:ident| $body:expr) => {{
        let mut tries = 0;
        loop {
            tries += 1;
            let mut client = $pool.get().await?;
            let result: Result<_, StoreError> = async {
                let $tx = client.transaction().await?;
                let value = $body.await?;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Err(e) if tries < TRIES && retryable(&e) => {
                    tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(
                        1..20 * tries as u64,
                    )))
                    .await;
                }
                other => break other,
            }
        }
    }};
}

mod batch;

/// A server database in PostgreSQL.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// The group committer of checkpoints, started by the first one.
    batcher: Arc<OnceLock<mpsc::UnboundedSender<batch::Pending>>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db?...`, as
    /// libpq reads it, without TLS) and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)?;
        let mut options = config.get_options().unwrap_or_default().to_string();
        options.push_str(&format!(
            " -c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            STATEMENT_TIMEOUT.as_millis(),
            2 * STATEMENT_TIMEOUT.as_millis()
        ));
        config.options(options.trim());
        if config.get_application_name().is_none() {
            config.application_name("campaign");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(STATEMENT_TIMEOUT))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Postgres {
                message: e.to_string(),
                code: None,
            })?;
        let store = PostgresStore {
            pool,
            batcher: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations the database lacks, one transaction in all;
    /// refuses a database whose schema is newer than this build.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS campaign_schema (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_ms BIGINT NOT NULL)",
        )
        .await?;
        let found: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM campaign_schema", &[])
            .await?
            .get(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                found,
                known: SCHEMA_VERSION,
            });
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO campaign_schema (version, name, applied_ms) VALUES ($1, $2, $3)",
                &[version, name, &now_ms()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The schema versions applied, oldest first.
    pub async fn schema_versions(&self) -> Result<Vec<i64>, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .query("SELECT version FROM campaign_schema ORDER BY version", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}

/// A position from a row that starts with [`POSITION_COLUMNS`].
fn position(row: &Row) -> Result<Position, StoreError> {
    let state: String = row.try_get(4)?;
    let vm: String = row.try_get(10)?;
    Ok(Position {
        campaign: row.try_get(0)?,
        contact: row.try_get(1)?,
        revision: row.try_get(2)?,
        entry: row.try_get(3)?,
        state: State::parse(&state).unwrap_or(State::Failed),
        pc: row.try_get::<_, i64>(5)? as u32,
        step: row.try_get(6)?,
        wake_at: row.try_get(7)?,
        resume_at: row.try_get(8)?,
        attempts: row.try_get::<_, i64>(9)? as u32,
        vm: serde_json::from_str(&vm).map_err(corrupt("position's VM state"))?,
        error_code: row.try_get(11)?,
        error: row.try_get(12)?,
        entered_ms: row.try_get(13)?,
        updated_ms: row.try_get(14)?,
    })
}

fn contact_data(id: &str, fields: &str, tags: &str) -> Result<ContactData, StoreError> {
    Ok(ContactData {
        id: id.to_string(),
        fields: serde_json::from_str(fields).map_err(corrupt("contact's fields"))?,
        tags: serde_json::from_str(tags).map_err(corrupt("contact's tags"))?,
    })
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Applies `change` to its contact (creating it), holding the contact's
/// row lock to the end of the transaction.
async fn change_contact(tx: &Tx<'_>, change: &Change, now: i64) -> Result<Changed, StoreError> {
    let created = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO contacts (id, fields, tags, created_ms, updated_ms)
                 VALUES ($1, '{}', '[]', $2, $2) ON CONFLICT (id) DO NOTHING",
            )
            .await?,
            &[&change.contact, &now],
        )
        .await?
        == 1;
    let row = tx
        .query_one(
            &tx.prepare_cached(
                "SELECT fields::text, tags::text FROM contacts WHERE id = $1 FOR UPDATE",
            )
            .await?,
            &[&change.contact],
        )
        .await?;
    let mut data = contact_data(&change.contact, row.get(0), row.get(1))?;
    let what = data.apply(change, created);
    if what.changed {
        let fields = serde_json::to_string(&data.fields).map_err(corrupt("contact's fields"))?;
        let tags = serde_json::to_string(&data.tags).map_err(corrupt("contact's tags"))?;
        tx.execute(
            &tx.prepare_cached(
                "UPDATE contacts SET fields = $2::text::jsonb, tags = $3::text::jsonb,
                 updated_ms = $4 WHERE id = $1",
            )
            .await?,
            &[&data.id, &fields, &tags, &now],
        )
        .await?;
    }
    Ok(what)
}

/// Enters `contact` into `campaign` at `revision` unless it has a position
/// there already; returns whether it entered.
async fn enter(
    tx: &Tx<'_>,
    campaign: &str,
    revision: i64,
    contact: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let (entry, vm) = super::new_entry(now)?;
    let n = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO positions (campaign, contact, revision, entry, state, pc, wake_at,
                 attempts, vm, entered_ms, updated_ms)
                 VALUES ($1, $2, $3, $4, 'active', 0, $5, 0, $6::text::jsonb, $5, $5)
                 ON CONFLICT (campaign, contact) DO NOTHING",
            )
            .await?,
            &[&campaign, &contact, &revision, &entry, &now, &vm],
        )
        .await?;
    Ok(n == 1)
}

/// The trigger-driven entries and goal wake-ups that follow a change.
async fn follow_change(
    tx: &Tx<'_>,
    contact: &str,
    except: Option<&str>,
    what: &Changed,
    triggers: &Triggers,
    now: i64,
    entered: &mut Vec<String>,
) -> Result<(), StoreError> {
    if what.created {
        for (campaign, revision) in &triggers.contact_added {
            if enter(tx, campaign, *revision, contact, now).await? {
                entered.push(campaign.clone());
            }
        }
    }
    for (tag, campaign, revision) in &triggers.tag_added {
        if what.gained.contains(tag) && enter(tx, campaign, *revision, contact, now).await? {
            entered.push(campaign.clone());
        }
    }
    if what.changed {
        // A goal may hold now: the engine checks the goals ahead of each
        // waiting position (but the one whose own step made the change,
        // which checks them after its wait, as the dry run does). Rows are
        // locked in key order.
        tx.execute(
            &tx.prepare_cached(
                "UPDATE positions p SET wake_at = $2 FROM (
                     SELECT campaign, contact FROM positions
                     WHERE contact = $1 AND state = 'waiting' AND wake_at > $2
                     AND ($3::text IS NULL OR campaign <> $3)
                     ORDER BY campaign FOR UPDATE) w
                 WHERE p.campaign = w.campaign AND p.contact = w.contact",
            )
            .await?,
            &[&contact, &now, &except],
        )
        .await?;
    }
    Ok(())
}

async fn save_revision_tx(
    tx: &Tx<'_>,
    campaign: &str,
    hash: &str,
    source: &str,
    bytecode: &str,
) -> Result<i64, StoreError> {
    // Workers starting together with the same new text number it once.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('campaign revision ' || $1))",
        &[&campaign],
    )
    .await?;
    if let Some(row) = tx
        .query_opt(
            "SELECT revision FROM revisions WHERE campaign = $1 AND hash = $2",
            &[&campaign, &hash],
        )
        .await?
    {
        return Ok(row.get(0));
    }
    let next: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(revision), 0) + 1 FROM revisions WHERE campaign = $1",
            &[&campaign],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO revisions (campaign, revision, hash, source, bytecode, loaded_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&campaign, &next, &hash, &source, &bytecode, &now_ms()],
    )
    .await?;
    Ok(next)
}

async fn apply_tx(
    tx: &Tx<'_>,
    event: &Inbound,
    triggers: &Triggers,
) -> Result<Applied, StoreError> {
    let now = now_ms();
    // The unique constraint refuses a repeated id; a second transaction
    // with the same id waits for the first and then does nothing.
    let inserted = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO events (dedupe, source, contact, received_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (dedupe) DO NOTHING",
            )
            .await?,
            &[&event.dedupe, &event.source, &event.change.contact, &now],
        )
        .await?;
    if inserted == 0 {
        return Ok(Applied {
            duplicate: true,
            ..Applied::default()
        });
    }
    let contact = &event.change.contact;
    let what = change_contact(tx, &event.change, now).await?;
    let mut entered = Vec::new();
    for (campaign, revision) in &event.enroll {
        if enter(tx, campaign, *revision, contact, now).await? {
            entered.push(campaign.clone());
        }
    }
    follow_change(tx, contact, None, &what, triggers, now, &mut entered).await?;
    Ok(Applied {
        duplicate: false,
        created: what.created,
        entered,
    })
}

async fn checkpoint_tx(
    tx: &Tx<'_>,
    worker: &str,
    checkpoint: &Checkpoint,
    triggers: &Triggers,
    lease_ms: i64,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let p = &checkpoint.position;
    let change = &checkpoint.change;
    let changes_contact = !change.is_empty();
    if changes_contact {
        // The contact's row first, as `apply` does: the two queue on it
        // instead of deadlocking over the contact's positions.
        tx.execute(
            &tx.prepare_cached("SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE")
                .await?,
            &[&p.contact],
        )
        .await?;
    }
    let vm = serde_json::to_string(&p.vm).map_err(corrupt("position's VM state"))?;
    let (locked_by, lease_until) = if checkpoint.release {
        (None, None)
    } else {
        (Some(worker), Some(now + lease_ms))
    };
    let held = tx
        .execute(
            &tx.prepare_cached(
                "UPDATE positions SET state = $3, pc = $4, step = $5, wake_at = $6, resume_at = $7,
                 attempts = $8, vm = $9::text::jsonb, error_code = $10, error = $11,
                 updated_ms = $12, locked_by = $13, lease_until = $14, revision = $15
                 WHERE campaign = $1 AND contact = $2 AND locked_by = $16",
            )
            .await?,
            &[
                &p.campaign,
                &p.contact,
                &p.state.as_str(),
                &(p.pc as i64),
                &p.step,
                &p.wake_at,
                &p.resume_at,
                &(p.attempts as i64),
                &vm,
                &p.error_code,
                &p.error,
                &now,
                &locked_by,
                &lease_until,
                &p.revision,
                &worker,
            ],
        )
        .await?;
    if held == 0 {
        return Ok(false);
    }
    if !checkpoint.attempts.is_empty() {
        let insert = tx
            .prepare_cached(
                "INSERT INTO attempts (campaign, contact, revision, step, attempt, key, status,
                 error, ms, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .await?;
        for a in &checkpoint.attempts {
            tx.execute(
                &insert,
                &[
                    &p.campaign,
                    &p.contact,
                    &p.revision,
                    &a.step,
                    &(a.attempt as i64),
                    &a.key,
                    &a.status.map(i64::from),
                    &a.error,
                    &a.ms,
                    &now,
                ],
            )
            .await?;
        }
    }
    if p.state == State::Waiting {
        // Changed while this worker ran it: check its goals now.
        tx.execute(
            &tx.prepare_cached(
                "UPDATE positions SET wake_at = $3 WHERE campaign = $1 AND contact = $2
                 AND wake_at > $3 AND EXISTS (SELECT 1 FROM contacts c
                 WHERE c.id = $2 AND c.updated_ms >= $4)",
            )
            .await?,
            &[&p.campaign, &p.contact, &now, &checkpoint.claimed_ms],
        )
        .await?;
    }
    if changes_contact {
        let what = change_contact(tx, change, now).await?;
        // The position that made the change does not wake itself.
        let mut entered = Vec::new();
        follow_change(
            tx,
            &p.contact,
            Some(&p.campaign),
            &what,
            triggers,
            now,
            &mut entered,
        )
        .await?;
    }
    Ok(true)
}

async fn move_tx(tx: &Tx<'_>, from: i64, moves: &[Position]) -> Result<u64, StoreError> {
    let now = now_ms();
    let stmt = tx
        .prepare_cached(
            "UPDATE positions SET revision = $4, pc = $5, step = $6, vm = $7::text::jsonb,
             updated_ms = $8
             WHERE campaign = $1 AND contact = $2 AND revision = $3 AND state = 'waiting'
             AND (lease_until IS NULL OR lease_until < $8)",
        )
        .await?;
    let mut moved = 0;
    for p in moves {
        let vm = serde_json::to_string(&p.vm).map_err(corrupt("position's VM state"))?;
        moved += tx
            .execute(
                &stmt,
                &[
                    &p.campaign,
                    &p.contact,
                    &from,
                    &p.revision,
                    &i64::from(p.pc),
                    &p.step,
                    &vm,
                    &now,
                ],
            )
            .await?;
    }
    Ok(moved)
}

impl Store for PostgresStore {
    async fn save_revision(
        &self,
        campaign: &str,
        hash: &str,
        source: &str,
        bytecode: &str,
    ) -> Result<i64, StoreError> {
        transaction!(self.pool, |tx| save_revision_tx(
            &tx, campaign, hash, source, bytecode
        ))
    }

    async fn revisions(&self, campaign: Option<&str>) -> Result<Vec<Revision>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &client
                    .prepare_cached(
                        "SELECT campaign, revision, hash, source, bytecode, loaded_ms FROM revisions
                         WHERE $1::text IS NULL OR campaign = $1 ORDER BY campaign, revision",
                    )
                    .await?,
                &[&campaign],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Revision {
                    campaign: r.try_get(0)?,
                    revision: r.try_get(1)?,
                    hash: r.try_get(2)?,
                    source: r.try_get(3)?,
                    bytecode: r.try_get(4)?,
                    loaded_ms: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn apply(&self, event: Inbound, triggers: &Triggers) -> Result<Applied, StoreError> {
        transaction!(self.pool, |tx| apply_tx(&tx, &event, triggers))
    }

    async fn claim(
        &self,
        worker: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "WITH due AS (
                 SELECT campaign, contact FROM positions
                 WHERE state IN ('active', 'waiting') AND wake_at <= $3
                 AND (lease_until IS NULL OR lease_until < $3)
                 ORDER BY wake_at LIMIT $4 FOR UPDATE SKIP LOCKED),
             claimed AS (
                 UPDATE positions p SET locked_by = $1, lease_until = $2 FROM due
                 WHERE p.campaign = due.campaign AND p.contact = due.contact
                 RETURNING p.*)
             SELECT {columns}, c.fields::text, c.tags::text
             FROM claimed LEFT JOIN contacts c ON c.id = claimed.contact
             ORDER BY claimed.wake_at",
            columns = POSITION_COLUMNS
                .split(", ")
                .map(|c| format!("claimed.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        // Taken before the claim: a worker paused while its claim ran must
        // not take a lease that expired meanwhile for a fresh one.
        let claimed_ms = super::now_ms();
        let rows = client
            .query(
                &client.prepare_cached(&sql).await?,
                &[&worker, &(now_ms + lease_ms), &now_ms, &(limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let position = position(r)?;
                let fields: Option<String> = r.try_get(15)?;
                let tags: Option<String> = r.try_get(16)?;
                let contact = match (fields, tags) {
                    (Some(f), Some(t)) => contact_data(&position.contact, &f, &t)?,
                    _ => ContactData {
                        id: position.contact.clone(),
                        ..ContactData::default()
                    },
                };
                Ok(Claimed {
                    position,
                    contact,
                    claimed_ms,
                })
            })
            .collect()
    }

    async fn checkpoint(
        &self,
        worker: &str,
        checkpoint: Checkpoint,
        triggers: &Triggers,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        if checkpoint.change.is_empty() {
            // Most checkpoints (a send recorded, a wait reached, the end):
            // committed together with what other contacts checkpoint now.
            let (reply, answer) = oneshot::channel();
            self.batcher
                .get_or_init(|| batch::start(self.pool.clone()))
                .send(batch::Pending {
                    worker: worker.to_string(),
                    checkpoint,
                    lease_ms,
                    reply,
                })
                .map_err(|_| StoreError::Gone)?;
            return answer.await.map_err(|_| StoreError::Gone)?;
        }
        transaction!(self.pool, |tx| checkpoint_tx(
            &tx,
            worker,
            &checkpoint,
            triggers,
            lease_ms
        ))
    }

    async fn renew(&self, worker: &str, lease_until: i64) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        // A row locked right now is being checkpointed, which sets its
        // lease itself: skipped, so renewing never waits.
        Ok(client
            .execute(
                &client
                    .prepare_cached(
                        "UPDATE positions p SET lease_until = $2 FROM (
                             SELECT campaign, contact FROM positions WHERE locked_by = $1
                             ORDER BY campaign, contact FOR UPDATE SKIP LOCKED) l
                         WHERE p.campaign = l.campaign AND p.contact = l.contact",
                    )
                    .await?,
                &[&worker, &lease_until],
            )
            .await?)
    }

    async fn backlog(&self, now_ms: i64) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let n: i64 = client
            .query_one(
                &client
                    .prepare_cached(
                        "SELECT COUNT(*) FROM positions WHERE state IN ('active', 'waiting')
                         AND wake_at <= $1 AND (lease_until IS NULL OR lease_until < $1)",
                    )
                    .await?,
                &[&now_ms],
            )
            .await?
            .get(0);
        Ok(n as u64)
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let client = self.pool.get().await?;
        // Positions other workers hold are not due for this one: counting
        // them would make every idle worker poll without pause while one
        // sends. A lease that expires is seen within the engine's second.
        let row = client
            .query_opt(
                &client
                    .prepare_cached(
                        "SELECT wake_at FROM positions WHERE state IN ('active', 'waiting')
                         AND wake_at IS NOT NULL AND (lease_until IS NULL OR lease_until < $1)
                         ORDER BY wake_at LIMIT 1",
                    )
                    .await?,
                &[&now_ms()],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn contact(&self, id: &str) -> Result<Option<(ContactData, Vec<Position>)>, StoreError> {
        let client = self.pool.get().await?;
        let Some(row) = client
            .query_opt(
                "SELECT fields::text, tags::text FROM contacts WHERE id = $1",
                &[&id],
            )
            .await?
        else {
            return Ok(None);
        };
        let data = contact_data(id, row.get(0), row.get(1))?;
        let sql = format!(
            "SELECT {POSITION_COLUMNS} FROM positions WHERE contact = $1 ORDER BY campaign"
        );
        let positions = client
            .query(&client.prepare_cached(&sql).await?, &[&id])
            .await?
            .iter()
            .map(position)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((data, positions)))
    }

    async fn status(&self) -> Result<Vec<StatusRow>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT campaign, revision, state,
                 CASE WHEN state IN ('waiting', 'failed') THEN step END AS at, COUNT(*)
                 FROM positions GROUP BY campaign, revision, state, at
                 ORDER BY campaign, revision, state, at",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get(2)?;
                Ok(StatusRow {
                    campaign: r.try_get(0)?,
                    revision: r.try_get(1)?,
                    state: State::parse(&state).unwrap_or(State::Failed),
                    step: r.try_get(3)?,
                    count: r.try_get::<_, i64>(4)? as u64,
                })
            })
            .collect()
    }

    async fn map_counts(
        &self,
        campaign: &str,
        revision: i64,
        failures: usize,
    ) -> Result<MapCounts, StoreError> {
        let mut client = self.pool.get().await?;
        // One snapshot for the three reads, as SQLite's read transaction.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let positions = tx
            .query(
                "SELECT state, CASE WHEN state IN ('active', 'waiting', 'failed') THEN step END AS at,
                 COUNT(*) FROM positions WHERE campaign = $1 AND revision = $2
                 GROUP BY state, at ORDER BY state, at",
                &[&campaign, &revision],
            )
            .await?
            .iter()
            .map(|r| {
                let state: String = r.try_get(0)?;
                Ok(StatusRow {
                    campaign: campaign.to_string(),
                    revision,
                    state: State::parse(&state).unwrap_or(State::Failed),
                    step: r.try_get(1)?,
                    count: r.try_get::<_, i64>(2)? as u64,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sends = tx
            .query(
                "SELECT step, COUNT(DISTINCT key),
                 COUNT(DISTINCT CASE WHEN status BETWEEN 200 AND 299 THEN key END),
                 COUNT(*) FILTER (WHERE status IS NULL OR status NOT BETWEEN 200 AND 299)
                 FROM attempts WHERE campaign = $1 AND revision = $2
                 GROUP BY step ORDER BY step",
                &[&campaign, &revision],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(SendCount {
                    webhook: r.try_get(0)?,
                    requests: r.try_get::<_, i64>(1)? as u64,
                    delivered: r.try_get::<_, i64>(2)? as u64,
                    failed_attempts: r.try_get::<_, i64>(3)? as u64,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let failures = tx
            .query(
                "SELECT contact, step, error_code, error, updated_ms FROM positions
                 WHERE campaign = $1 AND revision = $2 AND state = 'failed'
                 ORDER BY updated_ms DESC, contact LIMIT $3",
                &[&campaign, &revision, &(failures as i64)],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(FailureRow {
                    contact: r.try_get(0)?,
                    step: r.try_get(1)?,
                    code: r.try_get(2)?,
                    error: r.try_get(3)?,
                    at_ms: r.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await?;
        Ok(MapCounts {
            positions,
            sends,
            failures,
        })
    }

    async fn waiting(&self, campaign: &str, revision: i64) -> Result<Vec<Position>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {POSITION_COLUMNS} FROM positions
             WHERE campaign = $1 AND revision = $2 AND state = 'waiting' ORDER BY contact"
        );
        client
            .query(&sql, &[&campaign, &revision])
            .await?
            .iter()
            .map(position)
            .collect()
    }

    async fn move_positions(&self, from: i64, moves: &[Position]) -> Result<u64, StoreError> {
        transaction!(self.pool, |tx| move_tx(&tx, from, moves))
    }

    async fn prune(
        &self,
        before_ms: i64,
        finished_before_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        if let Some(before) = finished_before_ms {
            for sql in [
                "DELETE FROM positions WHERE ctid = ANY (ARRAY(SELECT ctid FROM positions
                 WHERE state IN ('done', 'failed') AND updated_ms < $1 LIMIT 1000
                 FOR UPDATE SKIP LOCKED))",
                "DELETE FROM attempts WHERE ctid = ANY (ARRAY(SELECT ctid FROM attempts
                 WHERE at_ms < $1 LIMIT 1000))",
            ] {
                // A batch per statement: no long transaction.
                while client.execute(sql, &[&before]).await? > 0 {}
            }
        }
        client
            .execute("DELETE FROM events WHERE received_ms < $1", &[&before_ms])
            .await?;
        client
            .execute(
                "DELETE FROM revisions WHERE revision < (SELECT MAX(r.revision) FROM revisions r
                 WHERE r.campaign = revisions.campaign)
                 AND NOT EXISTS (SELECT 1 FROM positions p WHERE p.campaign = revisions.campaign
                 AND p.revision = revisions.revision)",
                &[],
            )
            .await?;
        Ok(())
    }

    /// Nothing: other workers' leases are theirs, and an expired one is
    /// taken over by the next claim.
    async fn release_all(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
