//! Rendering for people: diagnostics with miette, and the summaries of a run.

use std::io::{self, IsTerminal};

use miette::{GraphicalReportHandler, GraphicalTheme};

use campaign::diagnostics::{Diagnostic, Report, Severity, SourceFile};

use super::output::write_stderr;

/// `1 file`, `2 files`.
pub(super) fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Diagnostics rendered per command: the first ones explain the rest, and
/// thousands would bury the summary. `--format json` lists them all.
pub(super) const SHOWN_DIAGNOSTICS: usize = 200;

/// Renders diagnostics to stderr with miette (at most
/// [`SHOWN_DIAGNOSTICS`], then a count of the rest); colour only on a
/// terminal and when NO_COLOR is unset.
pub(super) fn render(source: &SourceFile, diagnostics: &[Diagnostic]) {
    let mut shown = 0;
    let hidden = render_capped(source, diagnostics, &mut shown);
    note_hidden(hidden);
}

/// Renders while `shown` is under the cap, counting what it renders;
/// returns how many it left out.
pub(super) fn render_capped(
    source: &SourceFile,
    diagnostics: &[Diagnostic],
    shown: &mut usize,
) -> usize {
    let room = SHOWN_DIAGNOSTICS
        .saturating_sub(*shown)
        .min(diagnostics.len());
    let color = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    for d in &diagnostics[..room] {
        *shown += 1;
        let mut out = String::new();
        let report = Report::new(d.clone(), source);
        if handler.render_report(&mut out, &report).is_err() {
            out.clear();
            out.push_str(&format!(
                "{}: {} [{}]\n",
                severity_word(d.severity),
                campaign::diagnostics::clip_for_terminal(&d.message, 512),
                d.code
            ));
        }
        out.push('\n');
        // Nobody is reading: the exit status still tells.
        if !write_stderr(&out) {
            break;
        }
    }
    diagnostics.len() - room
}

/// The line that says how many diagnostics were left out.
pub(super) fn note_hidden(hidden: usize) {
    if hidden > 0 {
        eprintln!(
            "note: {} not shown (the first {SHOWN_DIAGNOSTICS} are); `--format json` lists them all",
            plural(hidden as u64, "more diagnostic")
        );
    }
}

pub(super) fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

pub(super) fn ms(d: std::time::Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

pub(super) fn print_summary(s: &campaign::deliver::Summary) {
    eprintln!(
        "contacts: {} done, {} failed, {} waiting, {} skipped (already finished)",
        s.done, s.failed, s.waiting, s.skipped
    );
    eprintln!(
        "requests: {} ok, {} failed, {} retried ({} attempts)",
        s.requests_ok, s.requests_failed, s.retries, s.attempts
    );
    if let Some((p50, p95, p99)) = s.latency {
        eprintln!("latency: p50 {} p95 {} p99 {}", ms(p50), ms(p95), ms(p99));
    }
    for (name, attempts, failures, mean, p95) in s.steps.iter().take(5) {
        eprintln!(
            "  step {name:?}: p95 {} mean {} ({attempts} attempts, {failures} failed)",
            ms(*p95),
            ms(*mean)
        );
    }
    if let Some(id) = &s.run_id {
        eprintln!("run id: {id}");
    }
}

pub(super) fn render_journal_summary(s: &campaign::deliver::journal::Summary) -> String {
    use std::fmt::Write as _;
    let us = |u: u64| format!("{:.1}ms", u as f64 / 1000.0);
    let started = chrono::DateTime::from_timestamp_millis(s.started_ms).map_or_else(
        || s.started_ms.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    // Contact ids and errors come from the contacts file and the servers.
    let shown = |text: &str| campaign::terminal::escape(text).into_owned();
    let mut out = String::new();
    let _ = writeln!(out, "run {} of campaign {:?}", shown(&s.run_id), s.campaign);
    let _ = writeln!(out, "started {started}, {} session(s)", s.sessions);
    let _ = writeln!(
        out,
        "contacts: {} done, {} failed, {} waiting",
        s.contacts_done, s.contacts_failed, s.contacts_waiting
    );
    let _ = writeln!(
        out,
        "requests: {} ok, {} failed, {} retries ({} attempts)",
        s.requests_ok, s.requests_failed, s.retries, s.attempts
    );
    if let Some(l) = &s.latency {
        let _ = writeln!(
            out,
            "latency: p50 {} p95 {} p99 {}",
            us(l.p50_us),
            us(l.p95_us),
            us(l.p99_us)
        );
    }
    if !s.steps.is_empty() {
        let _ = writeln!(out, "steps, slowest first:");
        for st in &s.steps {
            let _ = writeln!(
                out,
                "  {:?}: p95 {} mean {} ({} attempts, {} failed)",
                st.step,
                us(st.p95_us),
                us(st.mean_us),
                st.attempts,
                st.failures
            );
        }
    }
    if !s.contact_errors.is_empty() {
        let _ = writeln!(out, "failed contacts (latest first):");
        for c in &s.contact_errors {
            let _ = writeln!(
                out,
                "  {}: {}",
                shown(&c.contact),
                shown(c.error.as_deref().unwrap_or("failed"))
            );
        }
    }
    if !s.last_errors.is_empty() {
        let _ = writeln!(out, "last failed attempts:");
        for a in &s.last_errors {
            let status = a
                .status
                .map_or_else(|| "no response".to_string(), |c| format!("HTTP {c}"));
            let _ = writeln!(
                out,
                "  contact {} step {:?} attempt {}: {status}{}",
                shown(&a.contact),
                a.step,
                a.attempt,
                a.error
                    .as_deref()
                    .map(|e| format!(" ({})", shown(e)))
                    .unwrap_or_default()
            );
        }
    }
    out
}
