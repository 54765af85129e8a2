//! Everything the CLI shows: diagnostics (with miette for people, as JSON
//! for tools) and the summaries of a run and of a journal.

use std::io::{self, Write};

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
/// terminal unless `--color`, NO_COLOR or CLICOLOR_FORCE say otherwise.
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
    let color = super::color::stderr();
    for d in &diagnostics[..room] {
        *shown += 1;
        let mut out = rendered(source, d, color);
        out.push('\n');
        // Nobody is reading: the exit status still tells.
        if !write_stderr(&out) {
            break;
        }
    }
    diagnostics.len() - room
}

/// One diagnostic drawn with miette, in colour if `color`.
pub(super) fn rendered(source: &SourceFile, d: &Diagnostic, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
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
    out
}

/// The first failure of each kind and place, each with its source line and
/// the step underlined.
pub(super) fn render_failures(source: &SourceFile, failures: &[campaign::failure::FirstFailure]) {
    let diagnostics: Vec<Diagnostic> = failures.iter().filter_map(|f| f.diagnostic()).collect();
    render(source, &diagnostics);
}

/// The line that says how many diagnostics were left out.
pub(super) fn note_hidden(hidden: usize) {
    if hidden > 0 {
        note!(
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

pub(super) fn ms(us: u64) -> String {
    format!("{:.1}ms", us as f64 / 1000.0)
}

pub(super) fn print_summary(s: &campaign::deliver::Summary) {
    note!(
        "contacts: {} done, {} failed, {} waiting, {} skipped (already finished)",
        s.done,
        s.failed,
        s.waiting,
        s.skipped
    );
    note!(
        "requests: {} ok, {} failed, {} retried ({})",
        s.requests_ok,
        s.requests_failed,
        s.retries,
        plural(s.attempts, "attempt")
    );
    if let Some(l) = s.latency {
        note!(
            "latency: p50 {} p95 {} p99 {}",
            ms(l.p50_us),
            ms(l.p95_us),
            ms(l.p99_us)
        );
    }
    let shown = if super::output::verbosity() == super::Verbosity::Verbose {
        s.steps.len()
    } else {
        5
    };
    for st in s.steps.iter().take(shown) {
        note!(
            "  step {:?}: p95 {} mean {} ({}, {} failed)",
            st.step,
            ms(st.p95_us),
            ms(st.mean_us),
            plural(st.attempts, "attempt"),
            st.failures
        );
    }
    if let Some(id) = &s.run_id {
        note!("run id: {id}");
    }
}

pub(super) fn render_journal_summary(s: &campaign::deliver::journal::Summary) -> String {
    use std::fmt::Write as _;
    let us = |u: u64| format!("{:.1}ms", u as f64 / 1000.0);
    let started = campaign::deliver::journal::report::rfc3339_ms(s.standing.started_ms);
    // Contact ids and errors come from the contacts file and the servers.
    let shown = |text: &str| campaign::terminal::escape(text).into_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} of campaign {:?}",
        shown(&s.standing.run_id),
        s.standing.campaign
    );
    let resumes = match s.standing.sessions {
        0 | 1 => "not resumed".to_string(),
        n => format!("resumed {}", plural(u64::from(n) - 1, "time")),
    };
    let _ = writeln!(
        out,
        "started {started}, {} ({resumes})",
        plural(u64::from(s.standing.sessions), "session")
    );
    let _ = writeln!(
        out,
        "contacts: {} done, {} failed, {} waiting",
        s.standing.contacts_done, s.standing.contacts_failed, s.standing.contacts_waiting
    );
    let _ = writeln!(
        out,
        "requests: {} ok, {} failed, {} retried ({})",
        s.requests_ok,
        s.requests_failed,
        s.retries,
        plural(s.attempts, "attempt")
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
                "  {:?}: p95 {} mean {} ({}, {} failed)",
                st.step,
                us(st.p95_us),
                us(st.mean_us),
                plural(st.attempts, "attempt"),
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
    if !s.waiting.is_empty() {
        let _ = writeln!(out, "waiting contacts (soonest first):");
        for w in s.waiting.iter().take(WAITING_SHOWN) {
            let _ = writeln!(out, "  {}: until {}", shown(&w.contact), w.resume_at);
        }
        if s.waiting.len() > WAITING_SHOWN {
            let _ = writeln!(
                out,
                "  ... and {} more (`--format json` lists them all)",
                s.waiting.len() - WAITING_SHOWN
            );
        }
    }
    out
}

/// How many waiting contacts the human report lists.
const WAITING_SHOWN: usize = 20;

/// A JSON array written element by element, byte for byte as
/// `serde_json::to_string_pretty` writes a whole one, so memory does not
/// grow with the number of diagnostics. The first write error stops it.
pub(super) struct JsonArray<W: Write> {
    out: W,
    count: usize,
    error: Option<io::Error>,
}

impl<W: Write> JsonArray<W> {
    pub(super) fn new(out: W) -> Self {
        JsonArray {
            out,
            count: 0,
            error: None,
        }
    }

    pub(super) fn push(&mut self, value: &serde_json::Value) {
        if self.error.is_some() {
            return;
        }
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        let mut chunk = String::with_capacity(text.len() + 64);
        chunk.push_str(if self.count == 0 { "[\n" } else { ",\n" });
        // Pretty JSON escapes line breaks inside strings: every line is structure.
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                chunk.push('\n');
            }
            chunk.push_str("  ");
            chunk.push_str(line);
        }
        self.count += 1;
        if let Err(e) = self.out.write_all(chunk.as_bytes()) {
            self.error = Some(e);
        }
    }

    pub(super) fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let end = if self.count == 0 { "[]\n" } else { "\n]\n" };
        self.out.write_all(end.as_bytes())?;
        self.out.flush()
    }
}

/// Longest `message`, `label` or `help` in JSON output, in bytes.
pub(super) const JSON_TEXT_BYTES: usize = 1024;

pub(super) fn diagnostic_json(source: &SourceFile, d: &Diagnostic) -> serde_json::Value {
    use campaign::diagnostics::clip;
    let (line, column) = source.line_col(d.span.start);
    let (end_line, end_column) = source.line_col(d.span.end);
    let mut json = serde_json::json!({
        "file": source.name,
        "severity": d.severity,
        "code": d.code,
        "message": clip(&d.message, JSON_TEXT_BYTES),
        "span": { "start": d.span.start, "end": d.span.end },
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "label": clip(&d.label, JSON_TEXT_BYTES),
        "help": d.help.as_deref().map(|h| clip(h, JSON_TEXT_BYTES)),
    });
    // Only when there are some, so the common object stays as it was.
    if !d.related().is_empty() {
        let related: Vec<serde_json::Value> = d
            .related()
            .iter()
            .map(|r| {
                let (line, column) = source.line_col(r.span.start);
                serde_json::json!({
                    "message": clip(&r.message, JSON_TEXT_BYTES),
                    "span": { "start": r.span.start, "end": r.span.end },
                    "line": line,
                    "column": column,
                })
            })
            .collect();
        json["related"] = related.into();
    }
    if let Some(fix) = d.fix() {
        json["fix"] = serde_json::json!({
            "title": clip(&fix.title, JSON_TEXT_BYTES),
            "span": { "start": fix.span.start, "end": fix.span.end },
            "replacement": fix.replacement,
        });
    }
    json
}
