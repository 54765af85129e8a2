//! One contact's run, from the VM to HTTP and back: the only loop that
//! turns a contact's events into requests. `campaign run` (with or without
//! a journal) and `campaign serve` both drive contacts through it; what
//! differs between them, where progress is kept, is a `Driver`.

use super::send::{body_unreadable, capture, send, SendError};
use super::{codes, AttemptLog, Ctx};
use crate::compile::instructions::Program;
use crate::failure::Failure;
use crate::syntax::ast::OnFailure;
use crate::vm::{Event, Request, Run, Vm};

/// Where a contact stood just before the VM step that built a request:
/// re-running from here builds the same request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Before {
    /// The next instruction.
    pub pc: u32,
    /// The virtual clock.
    pub clock_ms: u64,
    /// Goals to check first.
    pub check_goals_after: Option<u32>,
}

impl Before {
    /// `run` with its position set back to here.
    pub fn apply(self, run: &mut Run) {
        run.pc = self.pc;
        run.clock_ms = self.clock_ms;
        run.check_goals_after = self.check_goals_after;
    }
}

/// What the driver says before a request goes out.
pub enum Prepared {
    /// Send it with this idempotency key.
    Send(String),
    /// It was delivered before (an earlier session): these are what it
    /// captured; it is not sent again.
    Delivered(Vec<(String, String)>),
    /// Stop here: the contact is interrupted.
    Stop,
}

/// What a webhook step ended in, for the driver.
pub enum Sent<'a> {
    /// A 2xx, with what it captured (already set on the run).
    Delivered {
        /// The status.
        status: u16,
        /// `(field, value)`, not redacted.
        captures: &'a [(String, String)],
    },
    /// Not delivered.
    Failed {
        /// Why (redacted, pointing at the step).
        failure: &'a Failure,
        /// Whether a later try may succeed (retries ran out on failures
        /// that may pass).
        retryable: bool,
    },
    /// Stopped part-way: the run is stopping.
    Interrupted,
}

/// How a contact's run stopped.
#[derive(Debug)]
pub enum Halt {
    /// The end, or `stop`.
    Done,
    /// A runtime or delivery failure.
    Failed(Failure),
    /// Parked at a wait until this Unix millisecond.
    Waiting(i64),
    /// Stopped before finishing (a signal, a journal that stopped, a lease
    /// lost).
    Interrupted,
    /// The driver will try the webhook built at `Before` again later.
    Later(Before),
}

/// The points where a driver keeps the contact's progress.
pub(crate) trait Driver {
    /// Before each VM step (the server syncs the virtual clock to real time).
    fn before_step(&mut self, _run: &mut Run) {}

    /// An event happened, at `at_ms` on the contact's clock.
    fn effect(&mut self, _at_ms: u64, _event: &Event<'_>, _program: &Program) {}

    /// The contact reached its `index`-th wait (1-based), which moved its
    /// clock by `millis`: `Some(resume_at)` parks it there.
    async fn wait(&mut self, run: &Run, index: u32, millis: u64) -> Option<i64>;

    /// A request is about to go out.
    async fn before_send(&mut self, run: &Run, before: Before, request: &Request) -> Prepared;

    /// A webhook step ended; `key` is its idempotency key and `attempts`
    /// are this step's. Returning `true` asks for a later try (the contact
    /// stops with [`Halt::Later`]).
    async fn after_send(
        &mut self,
        run: &Run,
        webhook: u32,
        key: &str,
        sent: Sent<'_>,
        attempts: Vec<AttemptLog>,
    ) -> bool;
}

/// Runs `run` until it ends, parks, or its driver stops it. Returns how it
/// stopped and how many steps it took.
pub(super) async fn drive<D: Driver>(
    ctx: &Ctx<'_>,
    vm: &mut Vm<'_>,
    run: &mut Run,
    driver: &mut D,
) -> (Halt, u32) {
    let program = ctx.program;
    let mut steps = 0u32;
    let mut waits = 0u32;
    // The steps whose requests were delivered, in this session or earlier:
    // a later failure says what went out before it.
    let mut sent: Vec<&str> = Vec::new();
    let halt = loop {
        driver.before_step(run);
        let before = Before {
            pc: run.pc,
            clock_ms: run.clock_ms,
            check_goals_after: run.check_goals_after,
        };
        // The clock moves only inside a wait, so this is when the next
        // effect begins (for a wait, its start, as the dry run shows it).
        let at_ms = run.clock_ms;
        let event = vm.next(run);
        driver.effect(at_ms, &event, program);
        let request: Request = match event {
            Event::Done | Event::Stop => break Halt::Done,
            Event::Error(e) => {
                let mut failure = Failure::from(e);
                if !sent.is_empty() {
                    let steps: Vec<String> = sent.iter().map(|s| format!("{s:?}")).collect();
                    failure.message = format!(
                        "{} (sent before it for this contact: {})",
                        failure.message,
                        steps.join(", ")
                    );
                }
                failure.message = ctx.redactor.redact(&failure.message).into_owned();
                break Halt::Failed(failure);
            }
            Event::Wait { millis } => {
                waits += 1;
                steps += 1;
                match driver.wait(run, waits, millis).await {
                    Some(at) => break Halt::Waiting(at),
                    None => continue,
                }
            }
            // Copied out of the VM so the contact can go on after it.
            Event::Webhook(request) => request.clone(),
            _ => {
                steps += 1;
                continue;
            }
        };
        steps += 1;
        let webhook = request.webhook;
        let Some(info) = program.webhooks.get(webhook as usize) else {
            break Halt::Failed(Failure::new(
                codes::SEND,
                "no such webhook in this program",
                None,
            ));
        };
        let key = match driver.before_send(run, before, &request).await {
            Prepared::Send(key) => key,
            Prepared::Delivered(captures) => {
                sent.push(&info.name);
                for (field, value) in &captures {
                    if let Some(f) = program.field_id(field) {
                        Vm::set_field(run, f, value);
                    }
                }
                continue;
            }
            Prepared::Stop => break Halt::Interrupted,
        };
        let failed = |code, reason: String| {
            Failure::new(
                code,
                format!("webhook {:?}: {reason}", info.name),
                ctx.webhook_spans.get(webhook as usize).copied(),
            )
        };
        let mut log = Vec::new();
        match send(ctx, info, &request, &key, &run.contact.id, &mut log).await {
            Ok(reply) => {
                sent.push(&info.name);
                // Delivered whatever comes next: the receiver accepted it.
                let unreadable = body_unreadable(info, &reply);
                let captures = capture(info, program, &reply);
                for (field, value) in &captures {
                    if let Some(f) = program.field_id(field) {
                        Vm::set_field(run, f, value);
                    }
                }
                let status = reply.status.unwrap_or(0);
                let delivered = Sent::Delivered {
                    status,
                    captures: &captures,
                };
                driver.after_send(run, webhook, &key, delivered, log).await;
                if let Some(reason) = unreadable {
                    if info.on_failure == OnFailure::Continue {
                        continue;
                    }
                    let reason = ctx.redactor.redact(&reason).into_owned();
                    break Halt::Failed(failed(codes::CAPTURE_BODY, reason));
                }
            }
            Err(SendError::Interrupted) => {
                driver
                    .after_send(run, webhook, &key, Sent::Interrupted, log)
                    .await;
                break Halt::Interrupted;
            }
            Err(SendError::Failed { code, reason }) => {
                let failure = failed(code, reason);
                let retryable = code == codes::GAVE_UP;
                let later = driver
                    .after_send(
                        run,
                        webhook,
                        &key,
                        Sent::Failed {
                            failure: &failure,
                            retryable,
                        },
                        log,
                    )
                    .await;
                if later {
                    break Halt::Later(before);
                }
                if info.on_failure == OnFailure::Continue {
                    continue;
                }
                break Halt::Failed(failure);
            }
        }
    };
    (halt, steps)
}
