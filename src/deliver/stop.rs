//! Stopping a real run cleanly on SIGINT (Ctrl-C) or SIGTERM (what service
//! managers and container runtimes send): no new contacts start, requests in
//! flight finish and are journaled, and the run exits with 128 + the signal's
//! number, as a shell reports a process the signal ended. A second signal of
//! either kind quits at once.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

/// A signal that asks a run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT, Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl StopSignal {
    /// The exit status of a run this signal stopped: 128 + its number.
    pub fn exit_status(self) -> u8 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "interrupted: finishing requests in flight and saving the journal (Ctrl-C again to quit now)",
            StopSignal::Terminate => "terminated (SIGTERM): finishing requests in flight and saving the journal (a second signal quits now)",
        }
    }
}

/// The signal handlers of one run, installed by [`StopSignals::install`]
/// before anything is sent, so that no signal finds the default action
/// (which would end the process without saving the journal).
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers. Must be called inside a Tokio runtime.
    pub fn install() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// The next stop signal.
    async fn next(&mut self) -> StopSignal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => StopSignal::Interrupt,
                _ = self.terminate.recv() => StopSignal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => StopSignal::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }

    /// Waits for a stop signal, then sets `stopping` and records the exit
    /// status in `status`; a second signal exits the process at once with
    /// the first one's status. Spawn it beside the run.
    pub async fn watch(mut self, stopping: Arc<AtomicBool>, status: Arc<AtomicU8>) {
        let first = self.next().await;
        status.store(first.exit_status(), Ordering::Relaxed);
        stopping.store(true, Ordering::Relaxed);
        eprintln!("\n{}", first.describe());
        self.next().await;
        std::process::exit(i32::from(first.exit_status()));
    }
}
