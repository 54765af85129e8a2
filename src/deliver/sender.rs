//! One program's webhooks, sent exactly as `campaign run` sends them, for a
//! driver that keeps the contact's state itself: the server's engine. The
//! attempts, retries, rate limits, signing, 410 rule, redaction and
//! captures are the run's own (`deliver::send`); only where the outcome is
//! kept differs.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::http::Http;
use super::rate::RateLimiter;
use super::send::{body_unreadable, capture, send, SendError};
use super::{codes, Ctx, DeliverError};
use crate::compile::instructions::Program;
use crate::diagnostics::SourceFile;
use crate::failure::Failure;
use crate::vm::Request;

/// What every program a server runs shares.
#[derive(Clone)]
pub struct Shared {
    /// The HTTP clients (one connection pool for all).
    pub http: Http,
    /// The overall rate (`--rate`), across campaigns.
    pub limiter: Option<Arc<RateLimiter>>,
    /// Set when the server stops: a request waiting for a retry gives up
    /// its slot instead of holding the shutdown.
    pub stopping: Arc<AtomicBool>,
}

/// How one webhook step ended.
#[derive(Debug)]
pub enum Outcome {
    /// The receiver answered 2xx: the request counts as delivered.
    Delivered {
        /// The status.
        status: u16,
        /// Captured `(field, value)` pairs, not redacted (they go on
        /// into later requests).
        captures: Vec<(String, String)>,
        /// Set when a `capture ... = json` could not read the body: the
        /// step fails unless it has `on failure continue`.
        unreadable: Option<Failure>,
    },
    /// Not delivered.
    Failed {
        /// Why, redacted, pointing at the webhook's step.
        failure: Failure,
        /// Whether a later attempt may succeed (the script's retries ran
        /// out on timeouts, connection errors, 429 or 5xx): a server
        /// schedules one on its long-term schedule.
        retryable: bool,
    },
    /// The server is stopping; the step was not finished.
    Interrupted,
}

/// One attempt, as a server keeps it.
pub use super::AttemptLog as Attempt;

/// Sends one program's webhooks.
pub struct Sender<'p> {
    ctx: Ctx<'p>,
}

impl<'p> Sender<'p> {
    /// A sender for `program`; refuses a signing secret that is not a key.
    pub fn new(
        program: &'p Program,
        source: &'p SourceFile,
        secret_values: Vec<String>,
        shared: &Shared,
    ) -> Result<Sender<'p>, DeliverError> {
        let mut ctx = Ctx::new(
            program,
            source,
            shared.http.clone(),
            secret_values,
            shared.limiter.clone(),
            shared.stopping.clone(),
        )?;
        ctx.log_attempts = true;
        Ok(Sender { ctx })
    }

    /// The secrets the program merges, for the VM.
    pub fn secrets(&self) -> Arc<Vec<String>> {
        self.ctx.secrets.clone()
    }

    /// `text` with every secret value masked.
    pub fn redact(&self, text: &str) -> String {
        self.ctx.redactor.redact(text).into_owned()
    }

    /// Sends `request` with the webhook's retries; returns how it ended and
    /// every attempt made.
    pub async fn send(
        &self,
        request: &Request,
        key: &str,
        contact: &str,
    ) -> (Outcome, Vec<Attempt>) {
        let ctx = &self.ctx;
        let mut log = Vec::new();
        let Some(info) = ctx.program.webhooks.get(request.webhook as usize) else {
            let failure = Failure::new(codes::SEND, "no such webhook in this revision", None);
            return (
                Outcome::Failed {
                    failure,
                    retryable: false,
                },
                log,
            );
        };
        let span = ctx.webhook_spans.get(request.webhook as usize).copied();
        let failed = |code, reason: String| {
            Failure::new(code, format!("webhook {:?}: {reason}", info.name), span)
        };
        let outcome = match send(ctx, info, request, key, contact, &mut log).await {
            Ok(reply) => Outcome::Delivered {
                status: reply.status.unwrap_or(0),
                unreadable: body_unreadable(info, &reply).map(|reason| {
                    failed(
                        codes::CAPTURE_BODY,
                        ctx.redactor.redact(&reason).into_owned(),
                    )
                }),
                captures: capture(info, ctx.program, &reply),
            },
            Err(SendError::Interrupted) => Outcome::Interrupted,
            Err(SendError::Failed { code, reason }) => Outcome::Failed {
                retryable: code == codes::GAVE_UP,
                failure: failed(code, reason),
            },
        };
        (outcome, log)
    }
}
