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
//! a contact woken at a wait) and the claim is less than half a lease
//! old: resuming from that commit runs the same steps to the same request,
//! and the claim's lease holds it meanwhile. An older claim commits first,
//! which is also the check that the lease is still this worker's. A
//! contact with one webhook after a wait costs a claim (shared with the
//! others claimed with it) and one checkpoint.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::compile::instructions::Program;
use crate::contacts::Contact;
use crate::deliver::contact::{Before, Driver, Halt, Prepared, Sent};
use crate::deliver::sender::Attempt;
use crate::failure::Failure;
use crate::request;
use crate::store::{
    AttemptRow, Change, Checkpoint, Claimed, Position, State, Store, StoreError, Triggers, VmState,
};
use crate::vm::{Event, Request, Run, Secrets, Vm};

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
            Clock::System => crate::store::now_ms(),
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

/// How long a claimed position stays with its worker without a checkpoint
/// or a renewal (`serve --lease`). The worker renews its leases every third
/// of it while it works ([`Engine::renew_leases`]), so a webhook with
/// retries that takes minutes keeps its contact, and a worker that died or
/// stopped loses its contacts to the others after this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

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
    /// How long a lease lasts without a renewal (ms).
    pub lease_ms: i64,
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
                // Boxed: the task then holds a pointer rather than the
                // whole contact's future, which spawning would copy.
                tasks.spawn(Box::pin(async move { engine.advance(c).await }));
            }
            if self.stopping.load(Ordering::Relaxed) {
                break;
            }
            if ready.len() < slots.div_ceil(2) {
                let now = self.clock.now_ms();
                let want = slots - ready.len();
                let claimed = self
                    .store
                    .claim(&self.worker, now, want, self.lease_ms)
                    .await?;
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
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
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

    /// Renews this worker's leases every third of a lease, for as long as
    /// it runs: a contact whose webhook takes minutes stays with it.
    pub async fn renew_leases(self: Arc<Self>) {
        let every = Duration::from_millis((self.lease_ms / 3).max(1) as u64);
        loop {
            tokio::time::sleep(every).await;
            let until = self.clock.now_ms() + self.lease_ms;
            if let Err(e) = self.store.renew(&self.worker, until).await {
                tracing::warn!(error = %e, "renewing this worker's leases failed; retrying");
            }
        }
    }

    /// Runs one claimed position until it parks, ends, or must wait to send.
    async fn advance(self: &Arc<Self>, claimed: Claimed) {
        let Claimed {
            position: mut pos,
            contact: data,
            claimed_ms,
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
        let mut seen = Seen::of(&run, claimed_ms);
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
                    let mut failure = Failure::from(e);
                    failure.message = loaded.sender.redact(&failure.message);
                    self.fail(&loaded, &mut pos, &run, &mut seen, failure).await;
                    return;
                }
                Some(_) => {}
            }
        }
        pos.state = State::Active;
        pos.resume_at = None;
        pos.step = None;
        let mut driver = Live {
            engine: self,
            loaded: &loaded,
            pos,
            seen,
            at_request: None,
            lost: false,
        };
        let (halt, _) = loaded.sender.drive(&mut vm, &mut run, &mut driver).await;
        let Live {
            mut pos,
            mut seen,
            at_request,
            lost,
            ..
        } = driver;
        if lost {
            return;
        }
        match halt {
            Halt::Done => {
                pos.state = State::Done;
                pos.wake_at = None;
                self.commit(&loaded, &mut pos, &run, &mut seen, true).await;
                self.metrics.finished(&pos.campaign, "done");
            }
            Halt::Failed(f) => {
                self.fail(&loaded, &mut pos, &run, &mut seen, f).await;
            }
            Halt::Waiting(resume_at) => {
                pos.state = State::Waiting;
                pos.resume_at = Some(resume_at);
                pos.wake_at = Some(resume_at);
                pos.step = run
                    .check_goals_after
                    .and_then(|pc| loaded.waits.get(&pc).cloned());
                self.commit(&loaded, &mut pos, &run, &mut seen, true).await;
            }
            Halt::Later(before) => {
                // `wake_at` and the retry count were set by the driver;
                // the webhook it retries is its step, for the live map.
                before.apply(&mut run);
                pos.step = loaded.place_of(loaded.program.span_at(before.pc as usize));
                self.commit(&loaded, &mut pos, &run, &mut seen, true).await;
            }
            Halt::Interrupted => {
                // Stopping: the position goes back to where its request
                // was built (committed before sending), due at once.
                if let Some(before) = at_request {
                    before.apply(&mut run);
                }
                pos.wake_at = Some(self.clock.now_ms());
                self.commit(&loaded, &mut pos, &run, &mut seen, true).await;
            }
        }
    }

    async fn fail(
        &self,
        loaded: &Loaded,
        pos: &mut Position,
        run: &Run,
        seen: &mut Seen,
        failure: Failure,
    ) {
        pos.state = State::Failed;
        pos.wake_at = None;
        // Where it failed, so `status` counts failures per step.
        pos.step = failure.span.and_then(|span| loaded.place_of(span));
        pos.error_code = Some(failure.code.to_string());
        pos.error = Some(failure.message);
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
        // Only a change to the contact can enter it anywhere.
        let triggers = if change.is_empty() {
            Triggers::default()
        } else {
            self.catalog_read().triggers()
        };
        let checkpoint = Checkpoint {
            position: pos.clone(),
            release,
            change,
            attempts: std::mem::take(&mut seen.attempts),
            claimed_ms: seen.claimed_ms,
        };
        let changed = !checkpoint.change.is_empty();
        match self
            .store
            .checkpoint(&self.worker, checkpoint, &triggers, self.lease_ms)
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

/// The server's [`Driver`]: a contact resumes from its committed position;
/// it is committed before each request, and a failed request may be tried
/// again later on the long-term schedule.
struct Live<'e, S: Store> {
    engine: &'e Engine<S>,
    loaded: &'e Loaded,
    pos: Position,
    seen: Seen,
    /// Where the last request was built (committed before it went out).
    at_request: Option<Before>,
    /// The lease was lost (or the database failed): nothing more is written.
    lost: bool,
}

impl<S: Store> Driver for Live<'_, S> {
    fn before_step(&mut self, run: &mut Run) {
        // Virtual time is real time here: `wait until` measures from now.
        let since_entry = self.engine.clock.now_ms() - self.pos.vm.entered_at.saturating_mul(1000);
        run.clock_ms = run.clock_ms.max(since_entry.max(0) as u64);
    }

    async fn wait(&mut self, run: &Run, _index: u32, _millis: u64) -> Option<i64> {
        let resume_at = self
            .pos
            .vm
            .entered_at
            .saturating_mul(1000)
            .saturating_add(run.clock_ms as i64);
        (resume_at > self.engine.clock.now_ms()).then_some(resume_at)
    }

    async fn before_send(&mut self, run: &Run, before: Before, request: &Request) -> Prepared {
        // Committed before sending: a crash resumes here, and builds the
        // same request again.
        self.at_request = Some(before);
        // Unless nothing happened since the last commit (the claim, for a
        // contact woken at its wait) that running again from it would not
        // redo the same way: that commit already leads to this request.
        // Only while the claim is fresh, though: the commit is also the
        // check that this worker still holds the lease, and a contact that
        // waited long in the claimed queue (or a worker that was paused)
        // may have passed to another worker meanwhile.
        // Claim times are on the database's clock, the system's.
        let since_claim = crate::store::now_ms().saturating_sub(self.seen.claimed_ms);
        let fresh = since_claim < self.engine.lease_ms / 2;
        let clean = fresh && self.seen.unchanged(run) && self.seen.attempts.is_empty();
        if !clean {
            // The run as it stood before the step (a copy only here: a
            // clean send, the common case, needs none).
            let mut at = run.clone();
            before.apply(&mut at);
            let held = self
                .engine
                .commit(self.loaded, &mut self.pos, &at, &mut self.seen, false)
                .await;
            if !held {
                self.lost = true;
                return Prepared::Stop;
            }
        }
        Prepared::Send(request::idempotency_key(
            &self.pos.entry,
            &self.pos.contact,
            request.webhook,
        ))
    }

    async fn after_send(
        &mut self,
        _run: &Run,
        _webhook: u32,
        key: &str,
        sent: Sent<'_>,
        attempts: Vec<Attempt>,
    ) -> bool {
        let took: f64 = attempts.iter().map(|a| a.ms).sum();
        self.seen
            .attempts
            .extend(attempts.into_iter().map(|a| AttemptRow {
                step: a.step,
                attempt: a.attempt,
                key: key.to_string(),
                status: a.status,
                error: a.error,
                ms: a.ms,
            }));
        let (outcome, later) = match sent {
            Sent::Delivered { .. } => {
                self.pos.attempts = 0;
                self.pos.error_code = None;
                self.pos.error = None;
                ("delivered", false)
            }
            Sent::Interrupted => ("interrupted", false),
            Sent::Failed { failure, retryable } => {
                let next = self.engine.retry_schedule.get(self.pos.attempts as usize);
                match next {
                    Some(delay) if retryable => {
                        self.pos.attempts += 1;
                        self.pos.wake_at =
                            Some(self.engine.clock.now_ms() + delay.as_millis() as i64);
                        self.pos.error_code = Some(failure.code.to_string());
                        self.pos.error = Some(failure.message.clone());
                        ("retry_later", true)
                    }
                    _ => {
                        self.pos.attempts = 0;
                        ("failed", false)
                    }
                }
            }
        };
        self.engine
            .metrics
            .sent(outcome, Duration::from_secs_f64(took / 1000.0));
        later
    }
}

/// The contact's data as last committed, to find what a stretch changed.
struct Seen {
    fields: Vec<Option<String>>,
    tags: Vec<String>,
    /// Attempts made since, recorded with the next checkpoint.
    attempts: Vec<AttemptRow>,
    /// When the position was claimed (the database's clock).
    claimed_ms: i64,
}

impl Seen {
    fn of(run: &Run, claimed_ms: i64) -> Seen {
        Seen {
            fields: run.contact.fields.clone(),
            tags: run.tags.iter().map(str::to_string).collect(),
            attempts: Vec::new(),
            claimed_ms,
        }
    }

    /// Whether the contact's fields and tags are as last committed.
    fn unchanged(&self, run: &Run) -> bool {
        self.fields == run.contact.fields
            && self.tags.len() == run.tags.len()
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
