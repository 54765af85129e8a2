//! One program's delivery context (HTTP clients, decoded signing keys,
//! limiters, redaction) for a driver that keeps the contact's state itself:
//! the server's engine. Contacts go through the run's own loop
//! (`contact::drive`); only where progress is kept differs.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::http::Http;
use super::rate::RateLimiter;
use super::{Ctx, DeliverError};
use crate::compile::instructions::Program;
use crate::diagnostics::SourceFile;

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

    /// Runs `run` through the one VM-to-HTTP loop ([`super::contact`])
    /// with the server's driver.
    pub(crate) async fn drive<D: super::contact::Driver>(
        &self,
        vm: &mut crate::vm::Vm<'_>,
        run: &mut crate::vm::Run,
        driver: &mut D,
    ) -> (super::contact::Halt, u32) {
        super::contact::drive(&self.ctx, vm, run, driver).await
    }
}
