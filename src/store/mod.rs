//! The server's state: contacts, where each contact stands in each campaign,
//! the campaigns' revisions, inbound events and every send attempt, behind
//! one trait ([`Store`]) so that the engine runs the same on SQLite (the
//! embedded default, [`sqlite`]) and on PostgreSQL, which several workers
//! share ([`postgres`]); [`any::Database`] is whichever a `--db` names.
//!
//! # The model
//!
//! - A **contact** is a row with its fields (a JSON object of text values)
//!   and tags (a JSON array). It is the single record of the contact's data:
//!   the API, inbound webhooks and the campaigns' own `field set`, `tag add`
//!   and captures all change this row.
//! - A **position** is a contact's place in one campaign: the revision it is
//!   pinned to, its `state` (`active`, `waiting`, `done`, `failed`), the
//!   instruction it resumes at (`pc`), `wake_at` (when the engine should
//!   next look at it), the wait's own end (`resume_at`), the lease of the
//!   worker running it (`locked_by`, `lease_until`), the long-term retry
//!   count (`attempts`), the step it waits at, and the rest of the VM's
//!   state as a small JSON object ([`VmState`]). Every column a question
//!   needs is a column.
//! - A **revision** is a campaign's source, identified by its content hash,
//!   numbered 1, 2, ... per campaign, stored with its source and listing.
//! - An **event** is an inbound delivery, kept for its deduplication key
//!   (a unique column: a replay is refused by the database, not by a lookup
//!   first).
//!
//! # How work is claimed
//!
//! As job queues do it: one statement marks the due positions with the
//! worker's id and a lease and returns them ([`Store::claim`]); every later
//! change of a position is conditional on the worker still holding that
//! lease ([`Store::checkpoint`]), so a worker that lost its lease cannot
//! overwrite what another did.

pub mod any;
pub mod postgres;
pub mod sqlite;

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

/// Now on the system clock, in Unix milliseconds: the clock every stored
/// time is on.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A new entry's id (random: part of every idempotency key its requests
/// carry) and its VM state as stored, entered at `now` (Unix ms); both
/// backends' `enter` use it.
fn new_entry(now: i64) -> Result<(String, String), StoreError> {
    let entry = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let vm = serde_json::to_string(&VmState {
        clock_ms: 0,
        entered_at: now.div_euclid(1000),
        check_goals_after: None,
    })
    .map_err(corrupt("position's VM state"))?;
    Ok((entry, vm))
}

/// The error for a stored JSON value that does not read back.
fn corrupt(what: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |source| StoreError::Corrupt { what, source }
}

/// A position's state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Runnable now or at `wake_at` (a new entry, a retry).
    Active,
    /// Parked at a wait until `resume_at` (or a goal pulls it forward).
    Waiting,
    /// Reached the end, a `stop` or a goal at the end.
    Done,
    /// Failed; `error_code` and `error` say why.
    Failed,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Waiting => "waiting",
            State::Done => "done",
            State::Failed => "failed",
        }
    }

    /// The state named `text`.
    pub fn parse(text: &str) -> Option<State> {
        Some(match text {
            "active" => State::Active,
            "waiting" => State::Waiting,
            "done" => State::Done,
            "failed" => State::Failed,
            _ => return None,
        })
    }
}

/// The part of the VM's state a resume needs beyond the columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    /// Virtual milliseconds since the contact entered.
    pub clock_ms: u64,
    /// Unix seconds at which the contact entered.
    pub entered_at: i64,
    /// Goals ahead of this pc are checked before going on (set at a wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_goals_after: Option<u32>,
}

/// A contact's data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactData {
    /// Its id (`Contact ID`).
    pub id: String,
    /// Field values by name.
    pub fields: BTreeMap<String, String>,
    /// Tags, in the order added.
    pub tags: Vec<String>,
}

/// What applying a [`Change`] to a contact did.
struct Changed {
    /// The contact is new.
    created: bool,
    /// Tags it did not have before.
    gained: Vec<String>,
    /// Anything changed at all.
    changed: bool,
}

impl ContactData {
    /// Applies `change` in memory (both backends then write the row when
    /// anything changed); `created` says the contact is new.
    fn apply(&mut self, change: &Change, created: bool) -> Changed {
        let mut changed = created;
        for (name, value) in &change.fields {
            if self.fields.get(name) != Some(value) {
                self.fields.insert(name.clone(), value.clone());
                changed = true;
            }
        }
        let mut gained = Vec::new();
        for tag in &change.add_tags {
            if !self.tags.iter().any(|t| t == tag) {
                self.tags.push(tag.clone());
                gained.push(tag.clone());
                changed = true;
            }
        }
        let before = self.tags.len();
        self.tags.retain(|t| !change.remove_tags.contains(t));
        changed |= self.tags.len() != before;
        Changed {
            created,
            gained,
            changed,
        }
    }
}

/// A contact's place in a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The campaign's name.
    pub campaign: String,
    /// The contact's id.
    pub contact: String,
    /// The revision the contact is pinned to.
    pub revision: i64,
    /// Identifies this entry of the contact into the campaign: part of
    /// every idempotency key its requests carry.
    pub entry: String,
    /// Its state.
    pub state: State,
    /// The next instruction.
    pub pc: u32,
    /// Its step's place in the step tree: the wait it waits at, the step
    /// it failed at, or the webhook whose retry it is due for (`None`
    /// while it runs).
    pub step: Option<String>,
    /// When the engine should look at it next (Unix ms).
    pub wake_at: Option<i64>,
    /// When its wait ends (Unix ms), when waiting.
    pub resume_at: Option<i64>,
    /// Long-term retries of the current webhook step so far.
    pub attempts: u32,
    /// The rest of the VM's state.
    pub vm: VmState,
    /// Why it failed: the code.
    pub error_code: Option<String>,
    /// Why it failed: the message (redacted).
    pub error: Option<String>,
    /// When it entered (Unix ms).
    pub entered_ms: i64,
    /// When it last changed (Unix ms).
    pub updated_ms: i64,
}

/// A campaign's revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// The campaign's name.
    pub campaign: String,
    /// 1, 2, ... in the order loaded.
    pub revision: i64,
    /// The source's content hash.
    pub hash: String,
    /// The source.
    #[serde(skip)]
    pub source: String,
    /// The compiled program's listing (`campaign disasm`).
    #[serde(skip)]
    pub bytecode: String,
    /// When it was first loaded (Unix ms).
    pub loaded_ms: i64,
}

/// Which campaigns a change to a contact enters it into: the triggers of
/// the newest revision of every campaign being served.
#[derive(Debug, Clone, Default)]
pub struct Triggers {
    /// `trigger contact_added`: (campaign, revision).
    pub contact_added: Vec<(String, i64)>,
    /// `trigger tag_added "X"`: tag, (campaign, revision).
    pub tag_added: Vec<(String, String, i64)>,
}

/// What an event does to a contact.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// The contact, created if new.
    pub contact: String,
    /// Fields to set.
    pub fields: BTreeMap<String, String>,
    /// Tags to add.
    pub add_tags: Vec<String>,
    /// Tags to remove.
    pub remove_tags: Vec<String>,
}

impl Change {
    /// Whether it leaves the contact as it was.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.add_tags.is_empty() && self.remove_tags.is_empty()
    }
}

/// An event to record and apply in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// Its delivery id, unique within the replay window; `None` when the
    /// source has none.
    pub dedupe: Option<String>,
    /// Where it came from (`webhook /hooks/signup`, `api`, `enroll`).
    pub source: String,
    /// The change it makes.
    pub change: Change,
    /// Campaigns it enters the contact into whatever the triggers say
    /// (a `webhook_received` trigger, `campaign enroll`).
    pub enroll: Vec<(String, i64)>,
}

/// What applying an event did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Whether its delivery id was seen before: then nothing was done.
    pub duplicate: bool,
    /// Whether the contact was created.
    pub created: bool,
    /// Campaigns the contact entered.
    pub entered: Vec<String>,
}

/// One send attempt, kept for audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRow {
    /// The webhook step.
    pub step: String,
    /// 1 for the first attempt of a try.
    pub attempt: u32,
    /// Its idempotency key.
    pub key: String,
    /// The response status.
    pub status: Option<u16>,
    /// Why it failed (redacted).
    pub error: Option<String>,
    /// How long it took.
    pub ms: f64,
}

/// What a worker commits about a position it holds.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The position as it now stands (its `campaign` and `contact` say
    /// which row).
    pub position: Position,
    /// Whether the worker lets the position go (a wait, the end, a failure,
    /// a retry later) or keeps its lease (it is about to send).
    pub release: bool,
    /// What the campaign changed on the contact since the last checkpoint.
    pub change: Change,
    /// Attempts made since the last checkpoint.
    pub attempts: Vec<AttemptRow>,
    /// [`Claimed::claimed_ms`]: a position parked at a wait is woken at
    /// once if its contact changed since (a tag that landed while the
    /// worker ran it may make a goal hold).
    pub claimed_ms: i64,
}

/// A position claimed by a worker, with the contact's data.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The position.
    pub position: Position,
    /// The contact.
    pub contact: ContactData,
    /// When it was claimed, on the database's clock (Unix ms): a change to
    /// the contact after this was not seen by the worker.
    pub claimed_ms: i64,
}

/// Counts of positions in one campaign revision, state and step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusRow {
    /// The campaign.
    pub campaign: String,
    /// The revision.
    pub revision: i64,
    /// The state.
    pub state: State,
    /// The step waiting positions wait at, or failed ones failed at.
    pub step: Option<String>,
    /// How many.
    pub count: u64,
}

/// What the live map shows of one campaign revision, read in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MapCounts {
    /// Positions per state, and per step for waiting and failed ones
    /// (`campaign` and `revision` are the ones asked for).
    pub positions: Vec<StatusRow>,
    /// Per webhook, what the attempts kept (within the retention) say.
    pub sends: Vec<SendCount>,
    /// The newest failures, newest first.
    pub failures: Vec<FailureRow>,
}

/// Send attempts of one webhook of a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendCount {
    /// The webhook's name.
    pub webhook: String,
    /// Requests tried (distinct idempotency keys: one per contact entry).
    pub requests: u64,
    /// Requests that got a 2xx.
    pub delivered: u64,
    /// Attempts that did not get a 2xx (retried or not).
    pub failed_attempts: u64,
}

/// A failed position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureRow {
    /// The contact's id.
    pub contact: String,
    /// The step it failed at.
    pub step: Option<String>,
    /// The error's code.
    pub code: Option<String>,
    /// The message (redacted of secrets, but it may quote the contact's
    /// field values).
    pub error: Option<String>,
    /// When it failed (Unix ms).
    pub at_ms: i64,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be read back.
    #[error("database: a stored {what} is not valid: {source}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file is not a campaign server database.
    #[error("{0} is not a campaign server database (another SQLite file?); refusing to use it")]
    Foreign(String),
    /// The file was written by a newer `campaign`.
    #[error("the database has schema version {found}; this campaign knows up to {known}: upgrade campaign")]
    Newer {
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
    /// PostgreSQL said no, or could not be reached.
    #[error("database: {message}")]
    Postgres {
        /// What it said.
        message: String,
        /// Its SQLSTATE, when the server answered.
        code: Option<String>,
    },
    /// The worker thread went away.
    #[error("database worker stopped")]
    Gone,
    /// The campaign has no stored revision.
    #[error("campaign {0:?} has no revision in this database: serve it once first")]
    NoCampaign(String),
}

/// Where the engine keeps its state. Every method is one transaction.
pub trait Store: Send + Sync + 'static {
    /// Stores a revision, or finds the stored one with the same hash;
    /// returns its number.
    fn save_revision(
        &self,
        campaign: &str,
        hash: &str,
        source: &str,
        bytecode: &str,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Every revision of `campaign` (of all, when `None`), oldest first.
    fn revisions(
        &self,
        campaign: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Revision>, StoreError>> + Send;

    /// Records `event` (refusing a repeated delivery id), applies its change
    /// to the contact, enters the contact into the campaigns the event and
    /// the triggers name (once: a contact already in a campaign stays where
    /// it is), and wakes the contact's waiting positions so that goals are
    /// checked at once.
    fn apply(
        &self,
        event: Inbound,
        triggers: &Triggers,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// Up to `limit` positions due at `now_ms`, leased to `worker` until
    /// `now_ms + lease_ms`, oldest due first.
    fn claim(
        &self,
        worker: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> impl Future<Output = Result<Vec<Claimed>, StoreError>> + Send;

    /// Commits a position's progress if `worker` still holds its lease;
    /// returns whether it did. The contact's changes can enter it into
    /// other campaigns (`triggers`) and wake its other positions.
    fn checkpoint(
        &self,
        worker: &str,
        checkpoint: Checkpoint,
        triggers: &Triggers,
        lease_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Extends every lease `worker` holds to `lease_until`; returns how
    /// many. A worker calls it while it works on contacts (a webhook with
    /// retries can take minutes), so that only a worker that stopped
    /// loses its leases.
    fn renew(
        &self,
        worker: &str,
        lease_until: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// How many positions are due at `now_ms` and not leased.
    fn backlog(&self, now_ms: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// When the next position falls due (Unix ms), if any does.
    fn next_due(&self) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// A contact with its positions.
    fn contact(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<(ContactData, Vec<Position>)>, StoreError>> + Send;

    /// Counts per campaign, revision, state, and step (for waiting and
    /// failed positions).
    fn status(&self) -> impl Future<Output = Result<Vec<StatusRow>, StoreError>> + Send;

    /// The live map's counts of one revision, with its newest `failures`
    /// failed positions.
    fn map_counts(
        &self,
        campaign: &str,
        revision: i64,
        failures: usize,
    ) -> impl Future<Output = Result<MapCounts, StoreError>> + Send;

    /// Positions of `campaign` waiting in `revision`.
    fn waiting(
        &self,
        campaign: &str,
        revision: i64,
    ) -> impl Future<Output = Result<Vec<Position>, StoreError>> + Send;

    /// Moves waiting positions from revision `from` to the revision, pc,
    /// step and VM state each of `moves` holds; only positions still
    /// waiting in `from` and not leased move. Returns how many moved.
    fn move_positions(
        &self,
        from: i64,
        moves: &[Position],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Forgets delivery ids older than `before_ms`; with
    /// `finished_before_ms`, positions that finished (done or failed)
    /// before it and send attempts made before it; then revisions that no
    /// position references and that are not the newest of their campaign.
    /// Finished rows go in batches, so no transaction is long.
    fn prune(
        &self,
        before_ms: i64,
        finished_before_ms: Option<i64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// At a server's start, releases the leases nobody can hold any more:
    /// every lease on a single-process store (SQLite, under the serve
    /// lock), none on a shared database (an expired lease is taken over by
    /// the next claim).
    fn release_all(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}
