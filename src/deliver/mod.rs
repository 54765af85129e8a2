//! Real delivery: the VM runs each contact and every webhook is sent over
//! HTTP, concurrently across contacts and strictly in order within one, with
//! retries, rate limits, idempotency keys, signing and a journal that lets an
//! interrupted or crashed run resume without sending a 2xx'd request twice.
//!
//! A contact is always replayed from the start: the VM is deterministic given
//! the contact's data and the captured responses, so the journal only needs
//! to remember which requests succeeded (and what they captured), which waits
//! were started, and which contacts finished.

pub mod fingerprint;
pub mod http;
pub mod journal;
pub mod overwrite;
pub mod rate;
pub mod retry;
pub mod secrets;
pub mod sign;
pub mod stop;

use std::collections::HashSet;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::compile::instructions::{Program, WebhookInfo};
use crate::contacts::{
    for_each_contact, Contact, ContactsError, ContactsFormat, Row, RowError, RowErrorKind,
};
use crate::syntax::ast::OnFailure;
use crate::vm::{Event, Run, Secrets, Vm};
use http::{Http, Outgoing, Reply};
use journal::{ContactStatus, Entry, Journal, Ticket};
use rate::{Rate, RateLimiter};
use retry::Verdict;
use secrets::Redactor;

/// The longest pause between attempts, whatever `Retry-After` asks: longer
/// schedules belong to a durable engine, not an interactive run.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

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
    /// Identifies the compiled campaign in the journal.
    pub campaign_digest: String,
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
    /// Latency percentiles over attempts that got a response (p50, p95, p99).
    pub latency: Option<(Duration, Duration, Duration)>,
    /// Per step: (name, attempts, failures, mean, p95), slowest first.
    pub steps: Vec<(String, u64, u64, Duration, Duration)>,
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
    #[error("journal: {0}")]
    Journal(String),
    /// The results file could not be written.
    #[error("results file: {0}")]
    Output(#[from] std::io::Error),
    /// An output path is one of the inputs (or another output).
    #[error("{0}")]
    Overwrite(String),
    /// The HTTP client could not start.
    #[error("{0}")]
    Http(String),
    /// A signing secret is not a usable key.
    #[error("webhook {step:?}: the signing secret {name} is not a whsec_ base64 key ({reason}); nothing was sent")]
    SigningKey {
        /// The webhook.
        step: String,
        /// The secret's name (never its value).
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// Latencies kept per step, in microseconds.
#[derive(Default)]
struct StepStats {
    attempts: u64,
    failures: u64,
    micros: Vec<u32>,
}

#[derive(Default)]
struct Stats {
    summary: Summary,
    micros: Vec<u32>,
    steps: Vec<StepStats>,
}

/// Shared by every contact in flight.
struct Ctx<'p> {
    program: &'p Program,
    http: Http,
    secrets: Arc<Vec<String>>,
    redactor: Redactor,
    journal: Option<Arc<Journal>>,
    /// The journal when it holds an earlier session: only then can reads
    /// find anything (a session never reads back what it wrote itself).
    replay: Option<Arc<Journal>>,
    /// Whether per-attempt details are kept for `--out`.
    log_attempts: bool,
    run_id: String,
    limiter: Option<RateLimiter>,
    step_limiters: Vec<Option<RateLimiter>>,
    dead: Mutex<HashSet<String>>,
    stats: Mutex<Stats>,
    stopping: Arc<AtomicBool>,
    out: Mutex<Option<BufWriter<std::fs::File>>>,
    finished: AtomicU64,
    failed: AtomicU64,
    progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
}

/// How one contact ended.
enum Ending {
    Done,
    Failed(String),
    /// Failed without touching the journal: a record whose id belongs to
    /// an earlier record.
    Rejected(String),
    Waiting(i64),
    Skipped,
    Interrupted,
}

/// One attempt, for the results file.
#[derive(serde::Serialize)]
struct AttemptLog {
    step: String,
    attempt: u32,
    status: Option<u16>,
    ms: f64,
    error: Option<String>,
}

/// One line of `--out`; field order is the documented key order.
#[derive(serde::Serialize)]
struct ResultLine<'a> {
    contact: &'a str,
    status: &'a str,
    steps: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    resume_at_ms: Option<i64>,
    error: Option<&'a str>,
    attempts: &'a [AttemptLog],
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
    refuse_overwriting(&options).map_err(DeliverError::Overwrite)?;
    // A bad signing key would fail every contact; find out before sending.
    for info in &program.webhooks {
        if let Some(s) = info.sign {
            let value = secret_values.get(s as usize).map_or("", String::as_str);
            if let Err(e) = sign::SigningKey::new(value) {
                return Err(DeliverError::SigningKey {
                    step: info.name.clone(),
                    name: program.secrets[s as usize].clone(),
                    reason: e.to_string(),
                });
            }
        }
    }
    let journal = match &options.journal {
        Some(path) => Some(Arc::new(
            Journal::open(
                path,
                &options.campaign_digest,
                &program.name,
                &options.contacts_fingerprint,
            )
            .map_err(|e| DeliverError::Journal(e.to_string()))?,
        )),
        None => None,
    };
    let run_id = journal
        .as_ref()
        .map_or_else(random_run_id, |j| j.run_id().to_string());
    let out = match &options.out {
        Some(path) => Some(BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    let ctx = Ctx {
        program,
        http: Http::new(options.concurrency, options.allow_private).map_err(DeliverError::Http)?,
        redactor: Redactor::new(&secret_values),
        secrets: Arc::new(secret_values),
        journal: journal.clone(),
        replay: journal.clone().filter(|j| j.is_resume()),
        log_attempts: options.out.is_some(),
        run_id: run_id.clone(),
        limiter: options.rate.map(RateLimiter::new),
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
                .map(|_| StepStats::default())
                .collect(),
            ..Stats::default()
        }),
        stopping: stopping.clone(),
        out: Mutex::new(out),
        finished: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        progress: options.progress.clone(),
    };

    // Contacts are read on their own thread and handed over through a small
    // bounded channel: memory stays flat whatever the file's size.
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<Result<Contact, RowError>>(options.concurrency.max(1) * 2);
    let field_names = program.fields.clone();
    let reader_stop = stopping.clone();
    let reader = std::thread::spawn(move || {
        for_each_contact(input, format, &field_names, |row| {
            if reader_stop.load(Ordering::Relaxed) {
                return Err(ContactsError::Csv("stopped".into()));
            }
            let item = match row {
                Row::Contact(c) => Ok(c.clone()),
                Row::Invalid(e) => Err(e),
            };
            tx.blocking_send(item)
                .map_err(|_| ContactsError::Csv("stopped".into()))
        })
    });

    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let now_ms = unix_ms();
    stream
        .for_each_concurrent(options.concurrency.max(1), |item| {
            let ctx = &ctx;
            async move {
                match item {
                    Ok(contact) => run_contact(ctx, contact, now_ms).await,
                    Err(invalid) => {
                        let id = invalid.id.unwrap_or_else(|| invalid.row.to_string());
                        let message = format!("record {}: {}", invalid.row, invalid.message);
                        // The journal keeps one state per id: the first
                        // record's, which a duplicate must not overwrite.
                        let ending = match invalid.kind {
                            RowErrorKind::DuplicateId => Ending::Rejected(message),
                            RowErrorKind::Invalid => Ending::Failed(message),
                        };
                        let ticket = finish(ctx, &id, 0, &ending, &[]);
                        settle(ctx, ticket).await;
                    }
                }
            }
        })
        .await;

    let read_result = reader.join().unwrap_or(Ok(()));
    if let Some(j) = &journal {
        j.flush()
            .map_err(|e| DeliverError::Journal(e.to_string()))?;
    }
    if let Some(out) = ctx
        .out
        .lock()
        .map_err(|_| DeliverError::Journal("poisoned".into()))?
        .as_mut()
    {
        out.flush()?;
    }
    let stopped_early = stopping.load(Ordering::Relaxed);
    if !stopped_early {
        read_result?;
    }
    let mut stats = ctx.stats.into_inner().unwrap_or_default();
    stats.summary.stopped_early = stopped_early;
    stats.summary.run_id = journal.map(|_| run_id);
    stats.summary.latency = percentiles(&mut stats.micros);
    let mut steps: Vec<_> = program
        .webhooks
        .iter()
        .zip(stats.steps.iter_mut())
        .filter(|(_, s)| s.attempts > 0)
        .map(|(w, s)| {
            let mean = if s.micros.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_micros(
                    s.micros.iter().map(|&m| u64::from(m)).sum::<u64>() / s.micros.len() as u64,
                )
            };
            let p95 = percentiles(&mut s.micros).map_or(Duration::ZERO, |p| p.1);
            (w.name.clone(), s.attempts, s.failures, mean, p95)
        })
        .collect();
    steps.sort_by_key(|s| std::cmp::Reverse(s.4));
    stats.summary.steps = steps;
    Ok(stats.summary)
}

/// Checks, before anything is opened for writing, that the results file and
/// the journal (with the files SQLite keeps beside it) are none of the
/// inputs and not each other.
fn refuse_overwriting(options: &Options) -> Result<(), String> {
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

fn percentiles(micros: &mut [u32]) -> Option<(Duration, Duration, Duration)> {
    if micros.is_empty() {
        return None;
    }
    micros.sort_unstable();
    let at = |q: f64| {
        Duration::from_micros(u64::from(
            micros[((micros.len() - 1) as f64 * q).round() as usize],
        ))
    };
    Some((at(0.50), at(0.95), at(0.99)))
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn random_run_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Stable per run, contact and step: the same on every retry and after a
/// resume, different for every other request.
pub fn idempotency_key(run_id: &str, contact: &str, webhook: u32) -> String {
    let mut h = Sha256::new();
    h.update(run_id.as_bytes());
    h.update([0]);
    h.update(contact.as_bytes());
    h.update([0]);
    h.update(webhook.to_le_bytes());
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(36);
    key.push_str("msg_");
    for b in &digest[..16] {
        key.push(HEX[usize::from(b >> 4)] as char);
        key.push(HEX[usize::from(b & 15)] as char);
    }
    key
}

/// A request copied out of the VM so the contact can go on after it.
struct Built {
    webhook: u32,
    url: String,
    header_values: Vec<String>,
    body: String,
}

async fn run_contact(ctx: &Ctx<'_>, contact: Contact, now_ms: i64) {
    let id = contact.id.clone();
    if let Some(j) = &ctx.replay {
        match j.contact(&id) {
            Ok(Some(rec)) if matches!(rec.status, ContactStatus::Done | ContactStatus::Failed) => {
                finish(ctx, &id, rec.steps, &Ending::Skipped, &[]);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let ticket = finish(ctx, &id, 0, &Ending::Failed(format!("journal: {e}")), &[]);
                settle(ctx, ticket).await;
                return;
            }
        }
    }
    let mut vm = Vm::new(ctx.program, Secrets::Values(ctx.secrets.clone()));
    let mut run = Run::new(contact, now_ms.div_euclid(1000));
    let mut steps = 0u32;
    let mut waits = 0u32;
    let mut log: Vec<AttemptLog> = Vec::new();
    // The contact's last journal entry: its slot is not free, and its next
    // request is not sent, until that is committed.
    let mut unsettled: Option<Ticket> = None;
    let ending = loop {
        let built = match vm.next(&mut run) {
            Event::Done | Event::Stop => break Ending::Done,
            Event::Error(e) => break Ending::Failed(ctx.redactor.redact(&e.message).into_owned()),
            Event::Wait { millis } => {
                waits += 1;
                steps += 1;
                let resume_at = match ctx.replay.as_ref().map(|j| j.wait(&id, waits)) {
                    Some(Ok(Some(at))) => at,
                    Some(Err(e)) => break Ending::Failed(format!("journal: {e}")),
                    _ => {
                        let at = unix_ms() + millis as i64;
                        if let Some(j) = &ctx.journal {
                            unsettled = Some(j.record(Entry::Wait {
                                contact: id.clone(),
                                index: waits,
                                resume_at_ms: at,
                            }));
                        }
                        at
                    }
                };
                if millis > 0 && unix_ms() < resume_at {
                    break Ending::Waiting(resume_at);
                }
                continue;
            }
            Event::Webhook(req) => Built {
                webhook: req.webhook,
                url: req.url.clone(),
                header_values: req.header_values.clone(),
                body: req.body.clone(),
            },
            _ => {
                steps += 1;
                continue;
            }
        };
        steps += 1;
        if ctx.stopping.load(Ordering::Relaxed) {
            break Ending::Interrupted;
        }
        let info = &ctx.program.webhooks[built.webhook as usize];
        // Already delivered in an earlier run: replay what it captured.
        if let Some(j) = &ctx.replay {
            match j.delivery(&id, built.webhook) {
                Ok(Some(done)) => {
                    for (field, value) in &done.captures {
                        if let Some(f) = ctx.program.field_id(field) {
                            Vm::set_field(&mut run, f, value);
                        }
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => break Ending::Failed(format!("journal: {e}")),
            }
        }
        // One request per slot is in flight or answered but not yet on
        // disk, never more: that bounds what a crash makes us send twice.
        if !settle(ctx, unsettled.take()).await {
            break Ending::Interrupted;
        }
        match send(ctx, info, &built, &id, &mut log).await {
            Ok(reply) => {
                // Delivered whatever comes next: the receiver accepted it.
                let unreadable = body_unreadable(info, &reply);
                let captures = capture(info, ctx.program, &reply);
                for (field, value) in &captures {
                    if let Some(f) = ctx.program.field_id(field) {
                        Vm::set_field(&mut run, f, value);
                    }
                }
                if let Some(j) = &ctx.journal {
                    unsettled = Some(
                        j.record(Entry::Delivered {
                            contact: id.clone(),
                            webhook: built.webhook,
                            key: idempotency_key(&ctx.run_id, &id, built.webhook),
                            status: reply.status.unwrap_or(0),
                            captures: captures
                                .into_iter()
                                .map(|(f, v)| (f, ctx.redactor.redact(&v).into_owned()))
                                .collect(),
                        }),
                    );
                }
                if let Some(reason) = unreadable {
                    if info.on_failure == OnFailure::Continue {
                        continue;
                    }
                    let reason = ctx.redactor.redact(&reason).into_owned();
                    break Ending::Failed(format!("webhook {:?}: {reason}", info.name));
                }
            }
            Err(SendError::Interrupted) => break Ending::Interrupted,
            Err(SendError::Failed(reason)) => {
                if info.on_failure == OnFailure::Continue {
                    continue;
                }
                break Ending::Failed(format!("webhook {:?}: {reason}", info.name));
            }
        }
    };
    let ticket = finish(ctx, &id, steps, &ending, &log).or(unsettled);
    settle(ctx, ticket).await;
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
) -> Option<Ticket> {
    let (status, error) = match ending {
        Ending::Done => ("done", None),
        Ending::Failed(e) | Ending::Rejected(e) => {
            ("failed", Some(ctx.redactor.redact(e).into_owned()))
        }
        Ending::Waiting(_) => ("waiting", None),
        Ending::Skipped => ("skipped", None),
        Ending::Interrupted => ("interrupted", None),
    };
    let mut ticket = None;
    if let (Some(j), Some(st)) = (
        &ctx.journal,
        match ending {
            Ending::Done => Some(ContactStatus::Done),
            Ending::Failed(_) => Some(ContactStatus::Failed),
            Ending::Waiting(_) => Some(ContactStatus::Waiting),
            _ => None,
        },
    ) {
        ticket = Some(j.record(Entry::Finished {
            contact: id.to_string(),
            status: st,
            steps,
            error: error.clone(),
        }));
    }
    if let Ok(mut stats) = ctx.stats.lock() {
        let s = &mut stats.summary;
        match ending {
            Ending::Done => s.done += 1,
            Ending::Failed(_) | Ending::Rejected(_) => s.failed += 1,
            Ending::Waiting(_) => s.waiting += 1,
            Ending::Skipped => s.skipped += 1,
            Ending::Interrupted => s.interrupted += 1,
        }
    }
    if let Ok(mut out) = ctx.out.lock() {
        if let Some(out) = out.as_mut() {
            let line = ResultLine {
                contact: id,
                status,
                steps,
                resume_at_ms: match ending {
                    Ending::Waiting(at) => Some(*at),
                    _ => None,
                },
                error: error.as_deref(),
                attempts: log,
            };
            if serde_json::to_writer(&mut *out, &line).is_ok() {
                let _ = out.write_all(b"\n");
            }
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

enum SendError {
    Failed(String),
    Interrupted,
}

/// The endpoint a 410 kills: the URL without its query.
fn endpoint(url: &str) -> &str {
    &url[..url.find(['?', '#']).unwrap_or(url.len())]
}

/// Sends one webhook with its retries.
async fn send(
    ctx: &Ctx<'_>,
    info: &WebhookInfo,
    built: &Built,
    contact: &str,
    log: &mut Vec<AttemptLog>,
) -> Result<Reply, SendError> {
    let key = idempotency_key(&ctx.run_id, contact, built.webhook);
    let mut headers: Vec<(String, String)> = info
        .headers
        .iter()
        .cloned()
        .zip(built.header_values.iter().cloned())
        .collect();
    if let Some(ct) = &info.content_type {
        headers.push(("Content-Type".into(), ct.clone()));
    }
    headers.push(("Idempotency-Key".into(), key.clone()));
    let endpoint = endpoint(&built.url);
    let attempts = info.retry + 1;
    let mut last = String::new();
    for attempt in 1..=attempts {
        if ctx.dead.lock().is_ok_and(|d| d.contains(endpoint)) {
            return Err(SendError::Failed(format!(
                "{endpoint} answered 410 Gone earlier in this run; not sent"
            )));
        }
        if let Some(l) = &ctx.limiter {
            l.acquire().await;
        }
        if let Some(Some(l)) = ctx.step_limiters.get(built.webhook as usize) {
            l.acquire().await;
        }
        let base_len = headers.len();
        if let Some(secret) = info.sign {
            let secret = ctx.secrets.get(secret as usize).map_or("", String::as_str);
            let ts = unix_ms().div_euclid(1000);
            match sign::sign(secret, &key, ts, built.body.as_bytes()) {
                Ok(sig) => {
                    headers.push(("webhook-id".into(), key.clone()));
                    headers.push(("webhook-timestamp".into(), ts.to_string()));
                    headers.push(("webhook-signature".into(), sig));
                }
                Err(e) => return Err(SendError::Failed(format!("cannot sign: {e}"))),
            }
        }
        let started_ms = unix_ms();
        let reply = ctx
            .http
            .send(&Outgoing {
                method: info.method.as_str(),
                url: &built.url,
                headers: &headers,
                body: info.has_body.then_some(built.body.as_str()),
                timeout: Duration::from_millis(info.timeout_ms),
                shape: info.url_shape.as_ref(),
                want_headers: info.captures.iter().any(|c| !c.from_json),
            })
            .await;
        headers.truncate(base_len);
        let verdict = match reply.status {
            Some(status) => retry::classify(status),
            None if reply.transient => Verdict::Retry,
            None => Verdict::Fail,
        };
        let error = match (&reply.error, reply.status, &verdict) {
            (Some(e), _, _) => Some(ctx.redactor.redact(e).into_owned()),
            (None, Some(s), v) if !matches!(v, Verdict::Success) => {
                Some(status_error(&ctx.redactor, s, &reply.body, reply.truncated))
            }
            _ => None,
        };
        let micros = reply.elapsed.as_micros() as u64;
        record_attempt(ctx, info, built.webhook, attempt, &reply, &verdict);
        let recorded = ctx.journal.as_ref().map(|j| {
            j.record(Entry::Attempt {
                contact: contact.to_string(),
                webhook: built.webhook,
                step: info.name.clone(),
                attempt,
                key: key.clone(),
                status: reply.status,
                error: error.clone(),
                started_ms,
                duration_us: micros,
            })
        });
        if ctx.log_attempts {
            log.push(AttemptLog {
                step: info.name.clone(),
                attempt,
                status: reply.status,
                ms: micros as f64 / 1000.0,
                error: error.clone(),
            });
        }
        match verdict {
            Verdict::Success => return Ok(reply),
            Verdict::Gone => {
                if let Ok(mut dead) = ctx.dead.lock() {
                    dead.insert(endpoint.to_string());
                }
                return Err(SendError::Failed(format!(
                    "410 Gone: {endpoint} is marked dead for the rest of this run"
                )));
            }
            Verdict::Fail => return Err(SendError::Failed(error.unwrap_or_default())),
            Verdict::Retry => {
                last = error.unwrap_or_default();
                if attempt == attempts {
                    break;
                }
                // What happened is on disk before the pause, as before any.
                if !settle(ctx, recorded).await {
                    return Err(SendError::Interrupted);
                }
                let hinted = reply
                    .headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry::retry_after(v, SystemTime::now()));
                let delay = hinted
                    .unwrap_or_else(|| {
                        retry::backoff(attempt, Duration::from_millis(info.backoff_ms))
                    })
                    .min(MAX_RETRY_DELAY);
                let deadline = tokio::time::Instant::now() + delay;
                while tokio::time::Instant::now() < deadline {
                    if ctx.stopping.load(Ordering::Relaxed) {
                        return Err(SendError::Interrupted);
                    }
                    tokio::time::sleep_until(
                        deadline.min(tokio::time::Instant::now() + Duration::from_millis(100)),
                    )
                    .await;
                }
            }
        }
    }
    let tries = if attempts == 1 {
        "1 attempt".to_string()
    } else {
        format!("{attempts} attempts")
    };
    Err(SendError::Failed(format!("gave up after {tries}: {last}")))
}

/// How much of a response body an error message quotes, in characters.
const SNIPPET_CHARS: usize = 200;

/// The error recorded for a response that is not a 2xx: status, reason and
/// the start of the body. Secrets are redacted from the whole body before it
/// is cut to [`SNIPPET_CHARS`], never after: cutting first would leave the
/// head of a secret that straddles the cut, which no longer matches. A body
/// that was itself cut (`truncated`: the 64 KiB cap, or a read that failed
/// part-way) may end in the head of a secret, so its tail is masked too.
fn status_error(redactor: &Redactor, status: u16, body: &[u8], truncated: bool) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let body = if truncated { complete_utf8(body) } else { body };
    let text = String::from_utf8_lossy(body);
    let text = if truncated {
        redactor.redact_cut(&text)
    } else {
        redactor.redact(&text)
    };
    let snippet: String = text.chars().take(SNIPPET_CHARS).collect();
    let snippet = snippet.trim();
    let message = if snippet.is_empty() {
        format!("HTTP {status} {reason}")
    } else {
        format!("HTTP {status} {reason}: {snippet}")
    };
    // Joining can make a new match across the prefix and the snippet.
    redactor.redact(&message).into_owned()
}

/// `bytes` without a UTF-8 sequence cut short at its end, so that the head
/// of a cut non-ASCII secret is text (which can be matched), not U+FFFD.
fn complete_utf8(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    }
}

fn record_attempt(
    ctx: &Ctx<'_>,
    info: &WebhookInfo,
    webhook: u32,
    attempt: u32,
    reply: &Reply,
    verdict: &Verdict,
) {
    let Ok(mut stats) = ctx.stats.lock() else {
        return;
    };
    let micros = reply.elapsed.as_micros().min(u128::from(u32::MAX)) as u32;
    stats.summary.attempts += 1;
    if attempt > 1 {
        stats.summary.retries += 1;
    }
    if reply.status.is_some() {
        stats.micros.push(micros);
    }
    let ok = matches!(verdict, Verdict::Success);
    if ok {
        stats.summary.requests_ok += 1;
    }
    let step = &mut stats.steps[webhook as usize];
    step.attempts += 1;
    if !ok {
        step.failures += 1;
    }
    if reply.status.is_some() {
        step.micros.push(micros);
    }
    let gives_up = match verdict {
        Verdict::Success => false,
        Verdict::Retry => attempt > info.retry,
        Verdict::Fail | Verdict::Gone => true,
    };
    if gives_up {
        stats.summary.requests_failed += 1;
    }
}

/// Why a 2xx's body cannot serve the webhook's `capture ... = json`, if it
/// did not arrive whole: cut by the timeout or the connection, or longer
/// than [`http::BODY_CAP`]. The request itself counts as delivered (the
/// receiver accepted it, so sending it again would duplicate it), but the
/// step fails, since later steps would run without the captured values.
/// Header captures, which came with the status, still apply.
fn body_unreadable(info: &WebhookInfo, reply: &Reply) -> Option<String> {
    if !reply.truncated || !info.captures.iter().any(|c| c.from_json) {
        return None;
    }
    let status = reply.status.unwrap_or(0);
    let why = match &reply.error {
        Some(error) => format!("its response body did not arrive whole ({error})"),
        None => format!(
            "its response body is longer than {} KiB",
            http::BODY_CAP / 1024
        ),
    };
    Some(format!(
        "HTTP {status} accepted the request, but {why}, so `capture ... = json` could not read it; not sent again, since the receiver has it"
    ))
}

/// Values captured from a response: `(field name, value)`.
fn capture(info: &WebhookInfo, program: &Program, reply: &Reply) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if info.captures.is_empty() {
        return out;
    }
    // A body that did not arrive whole is never parsed: a cut one could
    // still be valid JSON (`12` of `123`) with the wrong values.
    let json: Option<serde_json::Value> = if reply.truncated {
        None
    } else {
        serde_json::from_slice(&reply.body).ok()
    };
    for c in &info.captures {
        let value = if c.from_json {
            json.as_ref()
                .and_then(|j| j.pointer(&c.path))
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                })
        } else {
            reply
                .headers
                .get(c.path.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if let Some(value) = value {
            out.push((program.fields[c.field as usize].clone(), value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Characters of the text around a secret in the tests: none of them
    /// occurs in any form of a secret drawn from [`SECRET`] (raw,
    /// form/percent-encoded, JSON-escaped, base64), so every other
    /// character in a recorded error came from the secret.
    const FILLER: &str = " #$^|<>{};,";
    /// Secrets: letters, digits, URL-special and non-ASCII characters.
    const SECRET: &str = "[A-Za-z0-9/+=&?@_.é🔑-]{4,40}";
    const PREFIX: &str = "HTTP 500 Internal Server Error";

    fn filler(len: usize, seed: u64) -> String {
        let chars: Vec<char> = FILLER.chars().collect();
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..len).map(|_| chars[rng.usize(..chars.len())]).collect()
    }

    /// What of `text` could have come from the secret: everything after
    /// the status line that is neither filler nor the mask.
    fn leftover(text: &str) -> String {
        text.strip_prefix(PREFIX)
            .unwrap_or_else(|| panic!("{text:?} does not start with the status"))
            .chars()
            .filter(|&c| !FILLER.contains(c) && c != '*' && c != ':')
            .collect()
    }

    proptest! {
        /// A secret (in any form the redactor knows) anywhere around the
        /// 200-character cut of an error body leaves nothing of itself in
        /// the recorded error: not a substring of 4 characters, not one.
        /// One is the right bound, because redaction happens before the
        /// cut, so no part of a whole secret can survive it.
        #[test]
        fn no_part_of_a_secret_survives_the_snippet_cut(
            secret in SECRET,
            which in 0usize..32,
            before in (SNIPPET_CHARS - 60)..(SNIPPET_CHARS + 10),
            after in 0usize..80,
            seed in any::<u64>(),
        ) {
            let forms = secrets::forms(&secret);
            let form = &forms[which % forms.len()];
            let body = format!("{}{form}{}", filler(before, seed), filler(after, !seed));
            let redactor = Redactor::new(std::slice::from_ref(&secret));
            let text = status_error(&redactor, 500, body.as_bytes(), false);
            prop_assert_eq!(leftover(&text), "", "{:?} in {:?}", form, text);
        }

        /// The same when the body itself was cut (the 64 KiB cap, a read
        /// that failed) at any byte, through a secret or not: the head of a
        /// secret at the end of the cut body does not survive either.
        #[test]
        fn no_part_of_a_secret_survives_a_cut_body(
            secret in SECRET,
            which in 0usize..32,
            before in 0usize..(SNIPPET_CHARS + 10),
            cut in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let forms = secrets::forms(&secret);
            let form = &forms[which % forms.len()];
            let body = format!("{}{form}{}", filler(before, seed), filler(20, !seed));
            let cut = cut.index(body.len() + 1);
            let redactor = Redactor::new(std::slice::from_ref(&secret));
            let text = status_error(&redactor, 500, &body.as_bytes()[..cut], true);
            prop_assert_eq!(leftover(&text), "", "{:?} cut at {} in {:?}", form, cut, text);
        }
    }

    #[test]
    fn the_snippet_keeps_text_that_is_no_secret() {
        let redactor = Redactor::new(&["sk_live_123456".to_string()]);
        let body = format!("{}sk_live_123456 tail", "x".repeat(190));
        let text = status_error(&redactor, 500, body.as_bytes(), false);
        assert_eq!(text, format!("{PREFIX}: {}*** tail", "x".repeat(190)));
        // The head of the secret at the end of a cut body is masked.
        let cut = &body.as_bytes()[..196];
        let text = status_error(&redactor, 500, cut, true);
        assert_eq!(text, format!("{PREFIX}: {}***", "x".repeat(190)));
        // A cut non-ASCII character is dropped, not shown as U+FFFD.
        assert_eq!(complete_utf8("aé".as_bytes()[..2].as_ref()), b"a");
        assert_eq!(complete_utf8(b"a\xffb"), b"a\xffb");
    }
}
