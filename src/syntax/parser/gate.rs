//! The one door to pest's process-wide settings: its call limit and error
//! detail are statics, so every parse goes through [`run_pest`], which
//! keeps parses with different settings from running at once.

use std::num::NonZeroUsize;
use std::sync::{Condvar, Mutex};

/// The process-wide settings of pest a parse depends on: its call limit
/// and whether it tracks what it expected (for error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PestSettings {
    pub(super) call_limit: usize,
    pub(super) error_detail: bool,
}

impl PestSettings {
    pub(super) fn for_source(source: &str) -> PestSettings {
        PestSettings {
            // Generous for real files (a few dozen calls per byte), but it
            // stops a pathological backtracking input in bounded time.
            call_limit: source.len().saturating_mul(200).saturating_add(100_000),
            error_detail: false,
        }
    }
}

/// pest keeps its call limit and error detail in process-wide statics,
/// read when a parse starts. Two campaigns parsed at once on two threads
/// (a library user's, or a server's) must not change each other's: every
/// pest call runs inside this gate, which lets in at once only the calls
/// with the settings now in force (the stretches of one file) and makes
/// calls with other settings wait until those are done.
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

struct GateState {
    in_force: Option<PestSettings>,
    /// Pest calls running with `in_force`.
    running: usize,
    /// Calls waiting for other settings; newcomers with the settings in
    /// force wait behind them, so they cannot be starved.
    waiting: usize,
}

static GATE: Gate = Gate {
    state: Mutex::new(GateState {
        in_force: None,
        running: 0,
        waiting: 0,
    }),
    changed: Condvar::new(),
};

/// Runs one pest parse with `settings` in force.
pub(super) fn run_pest<T>(settings: PestSettings, parse: impl FnOnce() -> T) -> T {
    // A poisoned lock only means a parse panicked; the counts stay right.
    let mut state = GATE.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if state.running == 0 {
            if state.in_force != Some(settings) {
                pest::set_call_limit(NonZeroUsize::new(settings.call_limit));
                pest::set_error_detail(settings.error_detail);
                state.in_force = Some(settings);
            }
            break;
        }
        if state.in_force == Some(settings) && state.waiting == 0 {
            break;
        }
        state.waiting += 1;
        state = GATE.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        state.waiting -= 1;
    }
    state.running += 1;
    drop(state);
    // Leaves the gate even if pest panics.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            let mut state = GATE.state.lock().unwrap_or_else(|e| e.into_inner());
            state.running -= 1;
            if state.running == 0 {
                GATE.changed.notify_all();
            }
        }
    }
    let _leave = Leave;
    parse()
}
