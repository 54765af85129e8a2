//! The engine: claims due positions from the store, runs each contact's VM
//! from where it stands until it parks, ends or sends, and commits every
//! step before the next request goes out.
//!
//! # What is committed when
//!
//! A position is checkpointed (one transaction) before each webhook is
//! sent, holding the position *before* the request was built and every
//! change the contact made up to it; after a crash, the contact resumes
//! there, builds the same request from the same data and sends it with the
//! same idempotency key (it derives from the position's entry id, the
//! contact and the webhook). So at most the requests in flight at a crash
//! are sent twice, and a receiver that honours the key sees them once. A
//! wait, the end, a failure or a later retry checkpoint the position and
//! release it. The checkpoint before a send is left out when the contact
//! changed nothing and sent nothing since the last commit (the claim, for
//! a contact woken at a wait): resuming from that commit runs the same
//! steps to the same request, and the claim's lease holds it meanwhile. A
//! contact with one webhook after a wait costs a claim (shared with the
//! others claimed with it) and one checkpoint.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::compile::instructions::Program;
use crate::contacts::Contact;
use crate::deliver::sender::Outcome;
use crate::request;
use crate::store::{
    AttemptRow, Change, Checkpoint, Claimed, Position, State, Store, StoreError, VmState,
};
use crate::syntax::ast::OnFailure;
use crate::vm::{Event, Run, Secrets, Vm};

use super::campaigns::{Catalog, Loaded};
use super::metrics::Metrics;

/// The engine's time. Tests move a manual clock to run waits of days
/// without sleeping them.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The system's.
    System,
    /// Unix milliseconds, set by whoever holds it.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            Clock::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }
}

/// The long-term retry schedule's default: after a webhook's own retries
/// run out on a failure that may pass (timeouts, connection errors, 429,
/// 5xx), the step is tried again after each of these, as Svix does, then
/// fails.
pub const DEFAULT_RETRY_SCHEDULE: &[Duration] = &[
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How long a claimed position stays with its worker without a checkpoint.
/// A webhook's own retries can take a few minutes (`retry 5` with backoffs
/// of up to a minute, plus timeouts).
pub const LEASE_MS: i64 = 15 * 60 * 1000;

/// Compiles a stored revision: (campaign, revision, source).
pub type Loader = Box<dyn Fn(&str, i64, &str) -> Result<Arc<Loaded>, String> + Send + Sync>;

/// Runs the campaigns.
pub struct Engine<S: Store> {
    /// The database.
    pub store: Arc<S>,
    /// What is loaded.
    pub catalog: RwLock<Catalog>,
    /// This worker's id, on every lease it takes.
    pub worker: String,
    /// Contacts run at once.
    pub concurrency: usize,
    /// The long-term retry schedule.
    pub retry_schedule: Vec<Duration>,
    /// The engine's time.
    pub clock: Clock,
    /// Wakes the loop when new work was committed.
    pub wake: tokio::sync::Notify,
    /// Set to stop.
    pub stopping: Arc<AtomicBool>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Loads a revision this process has not loaded yet (a contact pinned
    /// to a revision from before a restart).
    pub loader: Loader,
    /// What every loaded program sends with.
    pub shared: crate::deliver::sender::Shared,
    /// `--env-file`, for the secrets of revisions loaded later.
    pub env_file: Option<std::path::PathBuf>,
}

impl<S: Store> Engine<S> {
    /// The loaded revision, loading it from the database if needed.
    async fn revision(&self, campaign: &str, revision: i64) -> Result<Arc<Loaded>, String> {
        let key = (campaign.to_string(), revision);
        if let Some(l) = self.catalog_read().loaded.get(&key) {
            return Ok(l.clone());
        }
        let stored = self
            .store
            .revisions(Some(campaign))
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|r| r.revision == revision)
            .ok_or_else(|| format!("revision {revision} of {campaign:?} is not in the database"))?;
        let loaded = (self.loader)(campaign, revision, &stored.source)?;
        let mut catalog = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        Ok(catalog.loaded.entry(key).or_insert(loaded).clone())
    }

    /// The catalog, for reading.
    pub fn catalog_read(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims what is due now and runs it, `concurrency` at a time, until
    /// nothing more is due; returns how many positions it ran. The server's
    /// loop calls it whenever work may be due; tests call it after moving
    /// a manual clock.
    ///
    /// Claims run ahead of the slots: up to `concurrency` claimed positions
    /// wait for a slot, and more are claimed when fewer than half that
    /// wait, so that one claim (one statement, one commit) serves many
    /// contacts instead of one claim per finished contact. A position
    /// claimed but not started when the engine stops keeps its lease until
    /// the next start releases it.
    pub async fn run_due(self: &Arc<Self>) -> Result<usize, StoreError> {
        let slots = self.concurrency.max(1);
        let mut total = 0;
        let mut tasks = tokio::task::JoinSet::new();
        let mut ready: std::collections::VecDeque<Claimed> = std::collections::VecDeque::new();
        loop {
            while tasks.len() < slots {
                let Some(c) = ready.pop_front() else { break };
                let engine = self.clone();
                tasks.spawn(async move { engine.advance(c).await });
            }
            if self.stopping.load(Ordering::Relaxed) {
                break;
            }
            if ready.len() < slots.div_ceil(2) {
                let now = self.clock.now_ms();
                let want = slots - ready.len();
                let claimed = self.store.claim(&self.worker, now, want, LEASE_MS).await?;
                total += claimed.len();
                let any = !claimed.is_empty();
                ready.extend(claimed);
                if any {
                    continue;
                }
            }
            if tasks.is_empty() {
                if ready.is_empty() {
                    break;
                }
                continue;
            }
            // What finishes may free a slot or make more due (a goal, a
            // trigger).
            tasks.join_next().await;
        }
        while tasks.join_next().await.is_some() {}
        Ok(total)
    }

    /// The server's timer loop: runs what is due, then sleeps until the
    /// next position falls due (at most a second, so that a contact
    /// enrolled by another process is picked up within one), or until new
    /// work is committed here.
    pub async fn run_forever(self: Arc<Self>) {
        while !self.stopping.load(Ordering::Relaxed) {
            if let Err(e) = self.run_due().await {
                tracing::error!(error = %e, "claiming due contacts failed; retrying in a second");
            }
            let now = self.clock.now_ms();
            let next = match self.store.next_due().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "reading the next due time failed");
                    None
                }
            };
            let pause = next.map_or(1000, |at| (at - now).clamp(0, 1000)) as u64;
            if pause == 0 {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(pause)) => {}
            }
        }
    }

    /// Runs one claimed position until it parks, ends, or must wait to send.
    async fn advance(self: &Arc<Self>, claimed: Claimed) {
        let Claimed {
            position: mut pos,
            contact: data,
        } = claimed;
        let loaded = match self.revision(&pos.campaign, pos.revision).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(campaign = %pos.campaign, revision = pos.revision, error = %e,
                    "a contact's revision cannot be loaded; it stays where it is");
                return;
            }
        };
        let program: &Program = loaded.program;
        let mut vm = Vm::new(program, Secrets::Values(loaded.secrets.clone()));
        let contact = Contact {
            id: data.id.clone(),
            row: 0,
            fields: program
                .fields
                .iter()
                .map(|name| {
                    if name == "Tags" {
                        Some(data.tags.join(","))
                    } else {
                        data.fields.get(name).cloned()
                    }
                })
                .collect(),
            tags: data.tags.clone(),
        };
        let mut run = Run::new(contact, pos.vm.entered_at);
        run.pc = pos.pc;
        run.clock_ms = pos.vm.clock_ms;
        run.check_goals_after = pos.vm.check_goals_after;
        let mut seen = Seen::of(&run);
        let now = self.clock.now_ms();
        if pos.state == State::Waiting && pos.resume_at.is_some_and(|at| now < at) {
            // Woken early by a change to the contact: only a goal moves it.
            match vm.pull_forward(&mut run) {
                None => {
                    pos.wake_at = pos.resume_at;
                    self.commit(&loaded, &mut pos, &run, &mut seen, true).await;
                    return;
                }
                Some(Event::Goal(goal)) => {
                    tracing::info!(campaign = %pos.campaign, contact = %pos.contact, goal, "goal reached during a wait");
                }
                Some(Event::Error(e)) => {
                    self.fail(&loaded, &mut pos, &run, &mut seen, e.code, e.message)
                        .await;
                    return;
                }
                Some(_) => {}
            }
        }
        pos.state = State::Active;
        pos.resume_at = None;
        pos.step = None;
        loop {
            let now = self.clock.now_ms();
            // Virtual time is real time here: `wait until` measures from now.
            let since_entry = now - pos.vm.entered_at.saturating_mul(1000);
            run.clock_ms = run.clock_ms.max(since_entry.max(0) as u64);
            let before = (run.pc, run.clock_ms, run.check_goals_after);
            let event = vm.next(&mut run);
            match event {
                Event::Done | Event::Stop => {
                    pos.state = State::Done;
                    pos.wake_at = None;
                    self.commit(&loaded, &mut pos, &run, &mut seen, true).await;
                    self.metrics.finished(&pos.campaign, "done");
                    return;
                }
                Event::Error(e) => {
                    let message = loaded.sender.redact(&e.message);
                    self.fail(&loaded, &mut pos, &run, &mut seen, e.code, message)
                        .await;
                    return;
                }
                Event::Wait { .. } => {
                    let resume_at = pos
                        .vm
                        .entered_at
                        .saturating_mul(1000)
                        .saturating_add(run.clock_ms as i64);
                    if resume_at <= now {
                        continue;
                    }
                    pos.state = State::Waiting;
                    pos.resume_at = Some(resume_at);
                    pos.wake_at = Some(resume_at);
                    pos.step = run
                        .check_goals_after
                        .and_then(|pc| loaded.waits.get(&pc).cloned());
                    self.commit(&loaded, &mut pos, &run, &mut seen, true).await;
                    return;
                }
                Event::Webhook(request) => {
                    let request = request.clone();
                    // Committed before sending: a crash resumes here.
                    let mut at_request = run.clone();
                    (
                        at_request.pc,
                        at_request.clock_ms,
                        at_request.check_goals_after,
                    ) = before;
                    // Unless nothing happened since the last commit that
                    // running again from it would not redo the same way:
                    // then that commit already leads to this request.
                    let clean = seen.unchanged(&run) && seen.attempts.is_empty();
                    if !clean
                        && !self
                            .commit(&loaded, &mut pos, &at_request, &mut seen, false)
                            .await
                    {
                        return;
                    }
                    let key = request::idempotency_key(&pos.entry, &pos.contact, request.webhook);
                    let started = std::time::Instant::now();
                    let (outcome, log) = loaded.sender.send(&request, &key, &pos.contact).await;
                    self.metrics.sent(&outcome, started.elapsed());
                    seen.attempts.extend(log.into_iter().map(|a| AttemptRow {
                        step: a.step,
                        attempt: a.attempt,
                        key: key.clone(),
                        status: a.status,
                        error: a.error,
                        ms: a.ms,
                    }));
                    let info = &program.webhooks[request.webhook as usize];
                    match outcome {
                        Outcome::Delivered {
                            captures,
                            unreadable,
                            ..
                        } => {
                            pos.attempts = 0;
                            for (field, value) in &captures {
                                if let Some(f) = program.field_id(field) {
                                    Vm::set_field(&mut run, f, value);
                                }
                            }
                            match unreadable {
                                Some(f) if info.on_failure != OnFailure::Continue => {
                                    self.fail(
                                        &loaded, &mut pos, &run, &mut seen, f.code, f.message,
                                    )
                                    .await;
                                    return;
                                }
                                _ => {}
                            }
                        }
                        Outcome::Failed { failure, retryable } => {
                            let later = self.retry_schedule.get(pos.attempts as usize).copied();
                            match later {
                                Some(delay) if retryable => {
                                    pos.attempts += 1;
                                    pos.wake_at = Some(now + delay.as_millis() as i64);
                                    pos.error_code = Some(failure.code.to_string());
                                    pos.error = Some(failure.message);
                                    self.commit(&loaded, &mut pos, &at_request, &mut seen, true)
                                        .await;
                                    return;
                                }
                                _ if info.on_failure == OnFailure::Continue => pos.attempts = 0,
                                _ => {
                                    self.fail(
                                        &loaded,
                                        &mut pos,
                                        &run,
                                        &mut seen,
                                        failure.code,
                                        failure.message,
                                    )
                                    .await;
                                    return;
                                }
                            }
                        }
                        Outcome::Interrupted => {
                            pos.wake_at = Some(now);
                            self.commit(&loaded, &mut pos, &at_request, &mut seen, true)
                                .await;
                            return;
                        }
                    }
                    pos.error_code = None;
                    pos.error = None;
                }
                Event::Goal(_)
                | Event::TagAdd(_)
                | Event::TagRemove(_)
                | Event::FieldSet { .. }
                | Event::Note(_) => {}
            }
        }
    }

    async fn fail(
        &self,
        loaded: &Loaded,
        pos: &mut Position,
        run: &Run,
        seen: &mut Seen,
        code: &str,
        message: String,
    ) {
        pos.state = State::Failed;
        pos.wake_at = None;
        pos.error_code = Some(code.to_string());
        pos.error = Some(message);
        self.commit(loaded, pos, run, seen, true).await;
        self.metrics.finished(&pos.campaign, "failed");
    }

    /// Checkpoints `pos` at `run`'s place with the changes made since the
    /// last checkpoint; returns whether the lease was still held.
    async fn commit(
        &self,
        loaded: &Loaded,
        pos: &mut Position,
        run: &Run,
        seen: &mut Seen,
        release: bool,
    ) -> bool {
        pos.pc = run.pc;
        pos.vm = VmState {
            clock_ms: run.clock_ms,
            entered_at: pos.vm.entered_at,
            check_goals_after: run.check_goals_after,
        };
        let change = seen.change(loaded.program, run, &pos.contact);
        let triggers = self.catalog_read().triggers();
        let checkpoint = Checkpoint {
            position: pos.clone(),
            release,
            change,
            attempts: std::mem::take(&mut seen.attempts),
        };
        let changed = !checkpoint.change.fields.is_empty()
            || !checkpoint.change.add_tags.is_empty()
            || !checkpoint.change.remove_tags.is_empty();
        match self
            .store
            .checkpoint(&self.worker, checkpoint, &triggers, LEASE_MS)
            .await
        {
            Ok(true) => {
                if changed {
                    // Other campaigns may have entered or woken.
                    self.wake.notify_one();
                }
                true
            }
            Ok(false) => {
                tracing::warn!(campaign = %pos.campaign, contact = %pos.contact,
                    "lost the lease on a contact; another worker has it now");
                false
            }
            Err(e) => {
                tracing::error!(campaign = %pos.campaign, contact = %pos.contact, error = %e,
                    "could not commit a contact's progress; it will run again from its last checkpoint");
                false
            }
        }
    }
}

/// The contact's data as last committed, to find what a stretch changed.
struct Seen {
    fields: Vec<Option<String>>,
    tags: Vec<String>,
    /// Attempts made since, recorded with the next checkpoint.
    attempts: Vec<AttemptRow>,
}

impl Seen {
    fn of(run: &Run) -> Seen {
        Seen {
            fields: run.contact.fields.clone(),
            tags: run.tags.iter().map(str::to_string).collect(),
            attempts: Vec::new(),
        }
    }

    /// Whether the contact's fields and tags are as last committed.
    fn unchanged(&self, run: &Run) -> bool {
        self.fields == run.contact.fields
            && self.tags.len() == run.tags.iter().count()
            && run.tags.iter().zip(&self.tags).all(|(a, b)| a == b)
    }

    /// What changed since, and remembers the new state.
    fn change(&mut self, program: &Program, run: &Run, contact: &str) -> Change {
        let mut change = Change {
            contact: contact.to_string(),
            ..Change::default()
        };
        for (i, value) in run.contact.fields.iter().enumerate() {
            let Some(name) = program.fields.get(i) else {
                continue;
            };
            if name == "Tags" {
                continue;
            }
            if self.fields.get(i).cloned().flatten() != *value {
                change
                    .fields
                    .insert(name.clone(), value.clone().unwrap_or_default());
            }
        }
        let now: Vec<String> = run.tags.iter().map(str::to_string).collect();
        change.add_tags = now
            .iter()
            .filter(|t| !self.tags.contains(t))
            .cloned()
            .collect();
        change.remove_tags = self
            .tags
            .iter()
            .filter(|t| !now.contains(t))
            .cloned()
            .collect();
        self.fields = run.contact.fields.clone();
        self.tags = now;
        change
    }
}
