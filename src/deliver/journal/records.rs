//! What a journal records, one type per kind of row: the engine records
//! them ([`Entry`]), a resume reads them back ([`History`]), and the report
//! lists them (failed [`Attempt`]s, failed [`ContactRecord`]s).

use serde::Serialize;

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

    pub(super) fn parse(text: &str) -> Option<Self> {
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

/// One HTTP request attempt, successful or not (audit and report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// Contact id.
    pub contact: String,
    /// Index of the webhook step in the compiled program.
    pub webhook: u32,
    /// The step's name, as shown in reports.
    pub step: String,
    /// 1 for the first try, 2 for the first retry, ...
    pub attempt: u32,
    /// The request's idempotency key.
    pub key: String,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Why the attempt failed (connect error, timeout, ...), redacted.
    pub error: Option<String>,
    /// When the request started, unix milliseconds.
    pub started_ms: i64,
    /// How long it took, microseconds (a timeout counts in full).
    pub duration_us: u64,
}

/// A webhook step that got a 2xx for a contact: it must never be sent again
/// for that contact, and its captures are re-applied on replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Contact id.
    pub contact: String,
    /// Index of the webhook step in the compiled program.
    pub webhook: u32,
    /// The idempotency key of the request that succeeded.
    pub key: String,
    /// The 2xx status.
    pub status: u16,
    /// Captured `(field, value)` pairs, in capture order.
    pub captures: Vec<(String, String)>,
}

/// A contact reached its `index`-th wait (the engine's numbering, in
/// execution order) and may go past it at `resume_at_ms` (unix
/// milliseconds). If the wait was already recorded, the first time stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wait {
    /// Contact id.
    pub contact: String,
    /// Which wait of this contact's run, in execution order.
    pub index: u32,
    /// When the wait is over, unix milliseconds.
    pub resume_at_ms: i64,
}

/// Where a contact stands at the end of a session; a later record replaces
/// an earlier one (a `Waiting` contact later becomes `Done` or `Failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactRecord {
    /// Contact id.
    pub contact: String,
    /// Done, failed or waiting.
    pub status: ContactStatus,
    /// How many steps the contact completed.
    pub steps: u32,
    /// Why it failed, redacted.
    pub error: Option<String>,
    /// When it was recorded, unix milliseconds.
    pub updated_ms: i64,
}

/// Something that happened in a run, queued by
/// [`Journal::record`](super::Journal::record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A request attempt.
    Attempt(Attempt),
    /// A 2xx.
    Delivered(Delivery),
    /// A wait started.
    Wait(Wait),
    /// Where a contact stands now.
    Finished(ContactRecord),
    /// Every effect the contact has had so far (tags, fields, notes, waits,
    /// goals, webhooks), as a JSON array of the dry run's effect objects;
    /// replaces what an earlier session recorded.
    Effects {
        /// Contact id.
        contact: String,
        /// The JSON array, redacted.
        effects: String,
    },
}

/// Everything earlier sessions recorded about one contact, read in one go
/// by [`Journal::history`](super::Journal::history): what a resumed run
/// needs to skip the contact, or replay it without sending again what was
/// delivered and without pushing its waits further out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Its latest recorded position, if any.
    pub record: Option<ContactRecord>,
    /// Its delivered steps, by webhook index. Not read for a finished
    /// contact, which is skipped whole.
    pub deliveries: Vec<Delivery>,
    /// Its recorded waits, by index. Not read for a finished contact.
    pub waits: Vec<Wait>,
}

impl History {
    /// Whether a resumed run skips the contact (it is done or failed).
    pub fn is_finished(&self) -> bool {
        self.record.as_ref().is_some_and(|r| r.status.is_finished())
    }

    /// The 2xx of webhook step `webhook`, if recorded.
    pub fn delivery(&self, webhook: u32) -> Option<&Delivery> {
        self.deliveries.iter().find(|d| d.webhook == webhook)
    }

    /// When the contact's `index`-th wait ends (unix ms), if recorded; the
    /// first recorded time stands.
    pub fn wait(&self, index: u32) -> Option<i64> {
        self.waits
            .iter()
            .find(|w| w.index == index)
            .map(|w| w.resume_at_ms)
    }

    /// For a waiting contact, when its latest recorded wait ends (unix ms).
    pub fn resume_at_ms(&self) -> Option<i64> {
        match &self.record {
            Some(r) if r.status == ContactStatus::Waiting => self
                .waits
                .iter()
                .max_by_key(|w| w.index)
                .map(|w| w.resume_at_ms),
            _ => None,
        }
    }
}
