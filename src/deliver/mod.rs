//! Real delivery: the VM runs each contact and every webhook is sent over
//! HTTP, concurrently across contacts and strictly in order within one, with
//! retries, rate limits, idempotency keys, signing and a journal that lets an
//! interrupted or crashed run resume without sending a 2xx'd request twice.
//!
//! A contact is always replayed from the start: the VM is deterministic given
//! the contact's data and the captured responses, so the journal only needs
//! to remember which requests succeeded (and what they captured), which waits
//! were started, and which contacts finished.
//!
//! Contacts are read on a thread of their own and handed to the engine in
//! batches of up to `BATCH` (64) through a bounded channel, so the two threads
//! wake each other once per batch, not once per contact. On a resume, that
//! thread also reads what the journal holds about each contact
//! ([`journal::Journal::history`]) and sends it along, so the SQLite reads
//! never hold up the requests in flight on the engine's thread.
//!
//! This file is the batch driver: reading contacts, running each one, and
//! how it ended (journal, `--out`, the summary). A contact's events become
//! requests in [`contact`], the loop `campaign serve` drives too (here with
//! the journal's replay as its driver); one webhook's attempts and what its
//! reply yields are in `send.rs`.

pub mod contact;
pub mod fingerprint;
pub mod http;
pub mod journal;
pub mod overwrite;
pub mod rate;
pub mod retry;
pub mod secrets;
mod send;
pub mod sender;
pub mod sign;
pub mod stats;
pub mod stop;

use std::collections::HashSet;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;

use crate::compile::instructions::Program;
use crate::contacts::{
    for_each_contact, Contact, ContactsError, ContactsFormat, Row, RowError, RowErrorKind,
};
use crate::diagnostics::SourceFile;
use crate::effect::{self, Recorded};
use crate::failure::{webhook_spans, Failure, FirstFailure, FirstFailures, Location};
use crate::request::{self};
use crate::span::Span;
use crate::vm::{Event, Request, Run, Secrets, Vm};
use contact::{Before, Halt, Prepared, Sent};
use http::Http;
use journal::{
    ContactRecord, ContactStatus, Delivery, Entry, History, Journal, JournalError, Ticket, Wait,
};
use rate::{Rate, RateLimiter};
use secrets::Redactor;
use sign::SigningKey;
use stats::{Latency, StepStats};

pub use crate::request::idempotency_key;

/// The longest pause between attempts, whatever `Retry-After` asks: longer
/// schedules belong to a durable engine, not an interactive run.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The codes of delivery failures, which end a contact's run like the VM's
/// runtime errors do; their meanings live with every other code.
pub mod codes {
    pub use crate::diagnostics::codes::{
        DELIVER_CAPTURE_BODY as CAPTURE_BODY, DELIVER_GAVE_UP as GAVE_UP, DELIVER_GONE as GONE,
        DELIVER_JOURNAL as JOURNAL, DELIVER_SEND as SEND, DELIVER_STATUS as STATUS,
    };
}

/// How a real run behaves.
#[derive(Clone)]
pub struct Options {
    /// Contacts in flight at once.
    pub concurrency: usize,
    /// Overall request rate limit.
    pub rate: Option<Rate>,
    /// Let `dynamic host` webhooks reach private addresses.
    pub allow_private: bool,
    /// SQLite journal for resuming.
    pub journal: Option<PathBuf>,
    /// Per-contact results file (NDJSON).
    pub out: Option<PathBuf>,
    /// The campaign's source: it identifies the campaign in the journal
    /// ([`request::campaign_digest`]), and failures point into it.
    pub source: SourceFile,
    /// Identifies the contacts in the journal ([`fingerprint::contacts`]);
    /// needed with a journal only.
    pub contacts_fingerprint: String,
    /// Called after each contact with (contacts done, contacts failed).
    pub progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    /// The files the run reads, with what each is (`"the contacts file"`):
    /// `out` and `journal` may not be one of them.
    pub inputs: Vec<(&'static str, PathBuf)>,
}

/// What a run did, for the closing summary.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Contacts that reached the end or a `stop`.
    pub done: u64,
    /// Contacts that failed.
    pub failed: u64,
    /// Contacts parked at a wait that has not elapsed.
    pub waiting: u64,
    /// Contacts skipped because the journal shows them finished.
    pub skipped: u64,
    /// Contacts not finished because the run was interrupted.
    pub interrupted: u64,
    /// Requests that got a 2xx.
    pub requests_ok: u64,
    /// Requests that finally failed.
    pub requests_failed: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// Every attempt.
    pub attempts: u64,
    /// Latency percentiles over every attempt, as `campaign report`
    /// computes them ([`stats`]); `None` without attempts.
    pub latency: Option<Latency>,
    /// Per webhook step that was attempted, slowest first.
    pub steps: Vec<StepStats>,
    /// The first failure of each kind and place, with how many contacts
    /// met it, in the order first met.
    pub failures: Vec<FirstFailure>,
    /// Whether SIGINT stopped the run early.
    pub stopped_early: bool,
    /// The journal's run id, when there is a journal.
    pub run_id: Option<String>,
}

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The contacts could not be read.
    #[error(transparent)]
    Contacts(#[from] ContactsError),
    /// The journal could not be opened or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The results file could not be written.
    #[error("results file: {0}")]
    Output(#[from] std::io::Error),
    /// An output path is one of the inputs (or another output).
    #[error(transparent)]
    Overwrite(#[from] overwrite::Overwrite),
    /// The HTTP client could not start.
    #[error(transparent)]
    Http(#[from] http::ClientError),
    /// A signing secret is not a usable key.
    #[error("webhook {step:?}: the signing secret {name} is not a whsec_ base64 key ({source}); nothing was sent")]
    SigningKey {
        /// The webhook.
        step: String,
        /// The secret's name (never its value).
        name: String,
        /// Why it cannot be used.
        #[source]
        source: sign::SignError,
    },
    /// The thread reading the contacts stopped without finishing.
    #[error(
        "the contacts reader stopped unexpectedly; contacts after the last one run were not read"
    )]
    Reader,
}

/// Latencies kept per step, in microseconds.
#[derive(Default)]
struct StepTimes {
    attempts: u64,
    failures: u64,
    micros: Vec<u32>,
}

#[derive(Default)]
struct Stats {
    summary: Summary,
    micros: Vec<u32>,
    steps: Vec<StepTimes>,
    failures: FirstFailures,
}

/// Shared by every contact in flight.
struct Ctx<'p> {
    program: &'p Program,
    http: Http,
    secrets: Arc<Vec<String>>,
    /// Per webhook, its signing key, decoded once before anything is sent.
    signing_keys: Vec<Option<SigningKey>>,
    /// Per webhook, the response headers its captures read.
    capture_headers: Vec<Vec<&'p str>>,
    /// Per webhook, the span of its step, where its failures point.
    webhook_spans: Vec<Span>,
    /// Per webhook whose URL merges nothing, that URL parsed at its first
    /// request, for every later one.
    fixed_urls: Vec<OnceLock<Option<http::ParsedUrl>>>,
    source: &'p SourceFile,
    redactor: Redactor,
    journal: Option<Arc<Journal>>,
    /// Whether per-attempt details are kept for `--out`.
    log_attempts: bool,
    /// Whether attempts are counted for the closing summary: a run's are,
    /// a server's are not (it would keep every latency for weeks).
    keep_stats: bool,
    run_id: String,
    /// The overall rate, shared by every program a server runs.
    limiter: Option<Arc<RateLimiter>>,
    step_limiters: Vec<Option<RateLimiter>>,
    dead: Mutex<HashSet<String>>,
    stats: Mutex<Stats>,
    stopping: Arc<AtomicBool>,
    out: Mutex<Output>,
    finished: AtomicU64,
    failed: AtomicU64,
    progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
}

impl<'p> Ctx<'p> {
    /// What sending `program`'s webhooks needs, with no journal, results
    /// file or statistics: the caller turns on what it uses. A bad signing
    /// key would fail every contact, so it is refused here, before anything
    /// is sent, and the decoded keys serve every request.
    fn new(
        program: &'p Program,
        source: &'p SourceFile,
        http: Http,
        secret_values: Vec<String>,
        limiter: Option<Arc<RateLimiter>>,
        stopping: Arc<AtomicBool>,
    ) -> Result<Ctx<'p>, DeliverError> {
        let signing_keys = program
            .webhooks
            .iter()
            .map(|info| {
                info.sign
                    .map(|s| {
                        let value = secret_values.get(s as usize).map_or("", String::as_str);
                        SigningKey::new(value).map_err(|source| DeliverError::SigningKey {
                            step: info.name.clone(),
                            name: program.secrets[s as usize].clone(),
                            source,
                        })
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Ctx {
            program,
            http,
            redactor: Redactor::new(&secret_values),
            secrets: Arc::new(secret_values),
            signing_keys,
            capture_headers: program
                .webhooks
                .iter()
                .map(|w| {
                    w.captures
                        .iter()
                        .filter(|c| !c.from_json)
                        .map(|c| c.path.as_str())
                        .collect()
                })
                .collect(),
            webhook_spans: webhook_spans(program, &source.text),
            fixed_urls: program.webhooks.iter().map(|_| OnceLock::new()).collect(),
            source,
            journal: None,
            log_attempts: false,
            keep_stats: false,
            run_id: String::new(),
            limiter,
            step_limiters: program
                .webhooks
                .iter()
                .map(|w| {
                    w.rate.map(|(count, per)| {
                        RateLimiter::new(Rate {
                            count,
                            per: Duration::from_millis(per),
                        })
                    })
                })
                .collect(),
            dead: Mutex::new(HashSet::new()),
            stats: Mutex::new(Stats {
                steps: program
                    .webhooks
                    .iter()
                    .map(|_| StepTimes::default())
                    .collect(),
                ..Stats::default()
            }),
            stopping,
            out: Mutex::new(Output::default()),
            finished: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            progress: None,
        })
    }
}

/// Locks a mutex of the run's shared state. Nothing panics while holding
/// one and every update leaves the state consistent, so a poisoned lock
/// (a panic elsewhere) is still usable.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The results file, and the first error writing it met: reported at the
/// end of the run, which goes on meanwhile (the journal is the record).
#[derive(Default)]
struct Output {
    file: Option<BufWriter<std::fs::File>>,
    error: Option<std::io::Error>,
}

/// How one contact ended.
enum Ending {
    Done,
    Failed(Failure),
    /// Failed without touching the journal: a record whose id belongs to
    /// an earlier record.
    Rejected(Failure),
    Waiting(i64),
    Skipped,
    Interrupted,
}

/// One attempt, for the results file (and a server's record of sends).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttemptLog {
    /// The webhook step's name.
    pub step: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The response status, if one came.
    pub status: Option<u16>,
    /// How long it took.
    pub ms: f64,
    /// Why it failed (redacted).
    pub error: Option<String>,
}

/// One line of `--out`; field order is the documented key order.
#[derive(serde::Serialize)]
struct ResultLine<'a> {
    contact: &'a str,
    status: &'a str,
    steps: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    resume_at_ms: Option<i64>,
    /// `resume_at_ms` in RFC 3339 (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    resume_at: Option<String>,
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    attempts: &'a [AttemptLog],
    /// Already JSON (and redacted): written as it is.
    effects: &'a serde_json::value::RawValue,
}

/// How many contacts cross from the reader thread to the engine at once.
const BATCH: usize = 64;

/// What the reader thread hands the engine.
enum Item {
    /// A contact to run, with what a resumed journal holds about it (`None`
    /// on a fresh run, which has nothing to look up).
    Contact(Contact, Option<Result<History, JournalError>>),
    /// A record that could not be read, or repeats an earlier record's id.
    Invalid(RowError),
}

/// Why the reader thread stopped before the end of the contacts.
enum ReadStop {
    /// The run is stopping (a signal, or the engine went away).
    Stopped,
    /// The contacts file cannot be read on.
    Contacts(ContactsError),
}

impl From<ContactsError> for ReadStop {
    fn from(e: ContactsError) -> Self {
        ReadStop::Contacts(e)
    }
}

/// Runs every contact for real. `stopping` is set by the caller on SIGINT:
/// no new contacts start, contacts in flight stop after their current
/// request, and the journal is flushed.
pub async fn deliver<R: Read + Send + 'static>(
    program: &Program,
    input: R,
    format: ContactsFormat,
    secret_values: Vec<String>,
    options: Options,
    stopping: Arc<AtomicBool>,
) -> Result<Summary, DeliverError> {
    refuse_overwriting(&options)?;
    let journal = match &options.journal {
        Some(path) => Some(Arc::new(Journal::open(
            path,
            &request::campaign_digest(&options.source.text),
            &program.name,
            &options.contacts_fingerprint,
        )?)),
        None => None,
    };
    let run_id = journal
        .as_ref()
        .map_or_else(request::new_run_id, |j| j.run_id().to_string());
    let out = match &options.out {
        Some(path) => Some(BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    let mut ctx = Ctx::new(
        program,
        &options.source,
        Http::new(options.concurrency, options.allow_private)?,
        secret_values,
        options.rate.map(|r| Arc::new(RateLimiter::new(r))),
        stopping.clone(),
    )?;
    ctx.journal = journal.clone();
    ctx.log_attempts = options.out.is_some();
    ctx.keep_stats = true;
    ctx.run_id = run_id.clone();
    ctx.out = Mutex::new(Output {
        file: out,
        error: None,
    });
    ctx.progress = options.progress.clone();

    // Contacts are read on their own thread and handed over in batches
    // through a small bounded channel (about twice `concurrency` contacts
    // at most): memory stays flat whatever the file's size. On a resume the
    // thread also looks each contact up in the journal, off the engine's
    // thread.
    let batches = (options.concurrency.max(1) * 2).div_ceil(BATCH).max(2);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(batches);
    let field_names = program.fields.clone();
    let reader_stop = stopping.clone();
    let replay = journal.clone().filter(|j| j.is_resume());
    let reader = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let read = for_each_contact(input, format, &field_names, |row| {
            if reader_stop.load(Ordering::Relaxed) {
                return Err(ReadStop::Stopped);
            }
            batch.push(match row {
                Row::Contact(c) => {
                    let history = replay.as_ref().map(|j| j.history(&c.id));
                    Item::Contact(c.clone(), history)
                }
                Row::Invalid(e) => Item::Invalid(e),
            });
            if batch.len() < BATCH {
                return Ok(());
            }
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            tx.blocking_send(full).map_err(|_| ReadStop::Stopped)
        });
        // What was read before the end (or an unreadable record) still runs.
        if !batch.is_empty() && !reader_stop.load(Ordering::Relaxed) {
            let _ = tx.blocking_send(batch);
        }
        read
    });

    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .flat_map(futures_util::stream::iter);
    let now_ms = unix_ms();
    stream
        .for_each_concurrent(options.concurrency.max(1), |item| {
            let ctx = &ctx;
            async move {
                match item {
                    Item::Contact(contact, history) => {
                        run_contact(ctx, contact, history, now_ms).await
                    }
                    Item::Invalid(invalid) => {
                        let id = invalid.id.unwrap_or_else(|| invalid.row.to_string());
                        let failure = Failure::new(
                            invalid.kind.code(),
                            format!("record {}: {}", invalid.row, invalid.message),
                            None,
                        );
                        // The journal keeps one state per id: the first
                        // record's, which a duplicate must not overwrite.
                        let ending = match invalid.kind {
                            RowErrorKind::DuplicateId => Ending::Rejected(failure),
                            RowErrorKind::Invalid => Ending::Failed(failure),
                        };
                        let ticket = finish(ctx, &id, 0, &ending, &[], &[]);
                        settle(ctx, ticket).await;
                    }
                }
            }
        })
        .await;

    let read_result = reader.join();
    if let Some(j) = &journal {
        j.flush()?;
    }
    let output = std::mem::take(&mut *locked(&ctx.out));
    if let Some(error) = output.error {
        return Err(error.into());
    }
    if let Some(mut file) = output.file {
        file.flush()?;
    }
    let stopped_early = stopping.load(Ordering::Relaxed);
    match read_result {
        Ok(Ok(())) | Ok(Err(ReadStop::Stopped)) => {}
        Ok(Err(ReadStop::Contacts(e))) if !stopped_early => return Err(e.into()),
        Ok(Err(ReadStop::Contacts(_))) => {}
        Err(_) => return Err(DeliverError::Reader),
    }
    let stats = ctx
        .stats
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(summarize(
        program,
        stats,
        stopped_early,
        journal.map(|_| run_id),
    ))
}

/// The closing summary from the run's counters.
fn summarize(
    program: &Program,
    mut counters: Stats,
    stopped_early: bool,
    run_id: Option<String>,
) -> Summary {
    let mut summary = counters.summary;
    summary.stopped_early = stopped_early;
    summary.run_id = run_id;
    summary.latency = latency(&mut counters.micros);
    let mut steps: Vec<StepStats> = program
        .webhooks
        .iter()
        .zip(counters.steps.iter_mut())
        .enumerate()
        .filter(|(_, (_, s))| s.attempts > 0)
        .map(|(webhook, (w, s))| {
            let total: u128 = s.micros.iter().map(|&m| u128::from(m)).sum();
            StepStats {
                webhook: webhook as u32,
                step: w.name.clone(),
                attempts: s.attempts,
                failures: s.failures,
                mean_us: stats::mean(total, s.micros.len() as u64),
                p95_us: latency(&mut s.micros).map_or(0, |l| l.p95_us),
            }
        })
        .collect();
    stats::slowest_first(&mut steps);
    summary.steps = steps;
    summary.failures = counters.failures.into_vec();
    summary
}

/// Percentiles of attempt durations in microseconds (sorts them).
fn latency(micros: &mut [u32]) -> Option<Latency> {
    micros.sort_unstable();
    let sorted: Vec<u64> = micros.iter().map(|&m| u64::from(m)).collect();
    Latency::of_sorted(&sorted)
}

/// Checks, before anything is opened for writing, that the results file and
/// the journal (with the files SQLite keeps beside it) are none of the
/// inputs and not each other.
fn refuse_overwriting(options: &Options) -> Result<(), overwrite::Overwrite> {
    let companions = options
        .journal
        .as_deref()
        .map(overwrite::journal_companions);
    let mut outputs = Vec::new();
    if let Some(journal) = &options.journal {
        outputs.push(overwrite::Role {
            what: "--journal",
            path: journal,
        });
    }
    for path in companions.iter().flatten() {
        outputs.push(overwrite::Role {
            what: "a file of the journal,",
            path,
        });
    }
    if let Some(out) = &options.out {
        outputs.push(overwrite::Role {
            what: "--out",
            path: out,
        });
    }
    let inputs: Vec<_> = options
        .inputs
        .iter()
        .map(|(what, path)| overwrite::Role { what, path })
        .collect();
    overwrite::check(&outputs, &inputs)
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn run_contact(
    ctx: &Ctx<'_>,
    contact: Contact,
    history: Option<Result<History, JournalError>>,
    now_ms: i64,
) {
    let id = contact.id.clone();
    let history = match history.transpose() {
        Ok(history) => history,
        Err(e) => {
            let failure = Failure::new(codes::JOURNAL, format!("journal: {e}"), None);
            let ticket = finish(ctx, &id, 0, &Ending::Failed(failure), &[], &[]);
            settle(ctx, ticket).await;
            return;
        }
    };
    if let Some(record) = history.as_ref().and_then(|h| h.record.as_ref()) {
        if record.status.is_finished() {
            finish(ctx, &id, record.steps, &Ending::Skipped, &[], &[]);
            return;
        }
    }
    let mut vm = Vm::new(ctx.program, Secrets::Values(ctx.secrets.clone()));
    let mut run = Run::new(contact, now_ms.div_euclid(1000));
    let mut driver = Replay {
        ctx,
        id: id.clone(),
        history,
        unsettled: None,
        effects: Vec::new(),
        log: Vec::new(),
    };
    let (halt, steps) = contact::drive(ctx, &mut vm, &mut run, &mut driver).await;
    let ending = match halt {
        Halt::Done => Ending::Done,
        Halt::Failed(f) => Ending::Failed(f),
        Halt::Waiting(at) => Ending::Waiting(at),
        // A run never asks for a later try; both stop the contact here.
        Halt::Interrupted | Halt::Later(_) => Ending::Interrupted,
    };
    let ticket =
        finish(ctx, &id, steps, &ending, &driver.log, &driver.effects).or(driver.unsettled);
    settle(ctx, ticket).await;
}

/// A run's [`contact::Driver`]: a contact is replayed from the start, and
/// the journal says what an earlier session already did (requests that
/// got a 2xx are not sent again, their captures are re-applied; a wait's
/// first recorded end stands).
struct Replay<'c, 'p> {
    ctx: &'c Ctx<'p>,
    id: String,
    history: Option<History>,
    /// The contact's last journal entry: its slot is not free, and its next
    /// request is not sent, until that is committed.
    unsettled: Option<Ticket>,
    /// Every effect the contact had, as `--out` and the journal keep them:
    /// a JSON array, written as the effects happen.
    effects: Vec<u8>,
    /// Every attempt, for `--out`.
    log: Vec<AttemptLog>,
}

impl contact::Driver for Replay<'_, '_> {
    fn effect(&mut self, at_ms: u64, event: &Event<'_>, program: &Program) {
        record_effect(&mut self.effects, at_ms, event, program);
    }

    async fn wait(&mut self, _run: &Run, index: u32, millis: u64) -> Option<i64> {
        let resume_at = match self.history.as_ref().and_then(|h| h.wait(index)) {
            Some(at) => at,
            None => {
                let at = unix_ms() + millis as i64;
                if let Some(j) = &self.ctx.journal {
                    self.unsettled = Some(j.record(Entry::Wait(Wait {
                        contact: self.id.clone(),
                        index,
                        resume_at_ms: at,
                    })));
                }
                at
            }
        };
        (millis > 0 && unix_ms() < resume_at).then_some(resume_at)
    }

    async fn before_send(&mut self, _run: &Run, _before: Before, request: &Request) -> Prepared {
        if self.ctx.stopping.load(Ordering::Relaxed) {
            return Prepared::Stop;
        }
        // Already delivered in an earlier run: replay what it captured.
        if let Some(done) = self
            .history
            .as_ref()
            .and_then(|h| h.delivery(request.webhook))
        {
            return Prepared::Delivered(done.captures.clone());
        }
        // One request per slot is in flight or answered but not yet on
        // disk, never more: that bounds what a crash makes us send twice.
        if !settle(self.ctx, self.unsettled.take()).await {
            return Prepared::Stop;
        }
        Prepared::Send(request::idempotency_key(
            &self.ctx.run_id,
            &self.id,
            request.webhook,
        ))
    }

    async fn after_send(
        &mut self,
        _run: &Run,
        webhook: u32,
        key: &str,
        sent: Sent<'_>,
        attempts: Vec<AttemptLog>,
    ) -> bool {
        self.log.extend(attempts);
        if let (Sent::Delivered { status, captures }, Some(j)) = (sent, &self.ctx.journal) {
            let redactor = &self.ctx.redactor;
            self.unsettled = Some(
                j.record(Entry::Delivered(Delivery {
                    contact: self.id.clone(),
                    webhook,
                    key: key.to_string(),
                    status,
                    captures: captures
                        .iter()
                        .map(|(f, v)| (f.clone(), redactor.redact(v).into_owned()))
                        .collect(),
                })),
            );
        }
        false
    }
}

/// Appends an event to a contact's JSON array of effects, if it is one.
fn record_effect(effects: &mut Vec<u8>, at_ms: u64, event: &Event<'_>, program: &Program) {
    if effect::action(event).is_none() {
        return;
    }
    let step = match event {
        Event::Webhook(request) => program
            .webhooks
            .get(request.webhook as usize)
            .map(|w| w.name.as_str()),
        _ => None,
    };
    effects.push(if effects.is_empty() { b'[' } else { b',' });
    // Into a Vec, of values that are all strings and numbers: cannot fail.
    let _ = serde_json::to_writer(&mut *effects, &Recorded { at_ms, step, event });
}

/// Waits until the journal has committed `ticket`. On a journal that stopped
/// recording (disk full...), stops the run, since nothing sent from then on
/// could be known on resume; returns false then.
async fn settle(ctx: &Ctx<'_>, ticket: Option<Ticket>) -> bool {
    let (Some(journal), Some(ticket)) = (&ctx.journal, ticket) else {
        return true;
    };
    if journal.committed(ticket).await.is_ok() {
        return true;
    }
    // The error itself is reported by the final flush.
    ctx.stopping.store(true, Ordering::Relaxed);
    false
}

/// Records how a contact ended: journal, results file, counters, progress.
/// Returns the ticket of the journal entry, to wait for before the slot is
/// given to another contact.
fn finish(
    ctx: &Ctx<'_>,
    id: &str,
    steps: u32,
    ending: &Ending,
    log: &[AttemptLog],
    effects: &[u8],
) -> Option<Ticket> {
    let (status, failure) = match ending {
        Ending::Done => ("done", None),
        Ending::Failed(f) | Ending::Rejected(f) => ("failed", Some(f)),
        Ending::Waiting(_) => ("waiting", None),
        Ending::Skipped => ("skipped", None),
        Ending::Interrupted => ("interrupted", None),
    };
    let error = failure.map(|f| ctx.redactor.redact(&f.message).into_owned());
    let mut ticket = None;
    let journaled = match ending {
        Ending::Done => Some(ContactStatus::Done),
        Ending::Failed(_) => Some(ContactStatus::Failed),
        Ending::Waiting(_) => Some(ContactStatus::Waiting),
        _ => None,
    };
    // A capture can bring a server's echo of a secret into a field, and so
    // into a note: effects are redacted like everything else written.
    let effects = match effects {
        [] => "[]".to_string(),
        _ => format!("{}]", String::from_utf8_lossy(effects)),
    };
    let effects = ctx.redactor.redact(&effects).into_owned();
    if let (Some(j), Some(status)) = (&ctx.journal, journaled) {
        j.record(Entry::Effects {
            contact: id.to_string(),
            effects: effects.clone(),
        });
        ticket = Some(j.record(Entry::Finished(ContactRecord {
            contact: id.to_string(),
            status,
            steps,
            error: error.clone(),
            updated_ms: unix_ms(),
        })));
    }
    {
        let mut stats = locked(&ctx.stats);
        let s = &mut stats.summary;
        match ending {
            Ending::Done => s.done += 1,
            Ending::Failed(_) | Ending::Rejected(_) => s.failed += 1,
            Ending::Waiting(_) => s.waiting += 1,
            Ending::Skipped => s.skipped += 1,
            Ending::Interrupted => s.interrupted += 1,
        }
        if let (Some(f), Some(message)) = (failure, &error) {
            // Counted as shown: redacted.
            let shown = Failure::new(f.code, message.clone(), f.span);
            stats.failures.note(id, &shown);
        }
    }
    let mut out = locked(&ctx.out);
    let out = &mut *out;
    if let (Some(file), None) = (out.file.as_mut(), &out.error) {
        let location: Option<Location> = failure.and_then(|f| f.location(ctx.source));
        // Redaction keeps JSON valid (it matches the JSON-escaped forms of a
        // secret); should it ever not, the text goes out as one string.
        let effects_json = serde_json::value::RawValue::from_string(effects.clone())
            .or_else(|_| serde_json::value::to_raw_value(&effects))
            .unwrap_or_default();
        let line = ResultLine {
            contact: id,
            status,
            steps,
            resume_at_ms: match ending {
                Ending::Waiting(at) => Some(*at),
                _ => None,
            },
            resume_at: match ending {
                Ending::Waiting(at) => Some(journal::report::rfc3339_ms(*at)),
                _ => None,
            },
            error: error.as_deref(),
            line: location.map(|l| l.line),
            column: location.map(|l| l.column),
            attempts: log,
            effects: &effects_json,
        };
        let written = serde_json::to_writer(&mut *file, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| file.write_all(b"\n"));
        if let Err(e) = written {
            out.error = Some(e);
        }
    }
    let done = ctx.finished.fetch_add(1, Ordering::Relaxed) + 1;
    let failed = if matches!(ending, Ending::Failed(_) | Ending::Rejected(_)) {
        ctx.failed.fetch_add(1, Ordering::Relaxed) + 1
    } else {
        ctx.failed.load(Ordering::Relaxed)
    };
    if let Some(progress) = &ctx.progress {
        progress(done, failed);
    }
    ticket
}
