//! The dry run: every contact through the VM, every effect recorded as it
//! would happen, nothing sent. Contacts stream through; memory stays flat
//! but for the ids already seen (see [`crate::contacts`]).

use std::io::{Read, Write};

use crate::compile::instructions::Program;
use crate::contacts::{for_each_contact, ContactsError, ContactsFormat, Row};
use crate::encode::{json_string_into, write_number};
use crate::vm::{Event, Run, Secrets, Vm};

/// How effects are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A readable per-contact timeline.
    Human,
    /// One JSON object per effect.
    Ndjson,
}

/// What happened over the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Contacts run (including failed ones).
    pub contacts: u64,
    /// Contacts whose run failed, and unreadable records.
    pub failed: u64,
    /// Effects printed.
    pub effects: u64,
}

/// Why a dry run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    /// The contacts file could not be read.
    #[error(transparent)]
    Contacts(#[from] ContactsError),
    /// Output could not be written.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs every contact and writes each effect to `out`.
pub fn dry_run<R: Read, W: Write>(
    program: &Program,
    contacts: R,
    format: ContactsFormat,
    out: W,
    output: OutputFormat,
    now: i64,
) -> Result<Summary, DryRunError> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut vm = Vm::new(program, Secrets::Masked);
    let mut run = Run::default();
    let mut line = String::with_capacity(1024);
    let mut summary = Summary::default();
    for_each_contact(contacts, format, &program.fields, |row| {
        summary.contacts += 1;
        line.clear();
        match row {
            Row::Invalid(e) => {
                summary.failed += 1;
                let id = e.id.clone().unwrap_or_else(|| e.row.to_string());
                let message = format!("record {}: {}", e.row, e.message);
                match output {
                    OutputFormat::Ndjson => {
                        start_line(&mut line, &id, 0, None, "error");
                        push_key_str(&mut line, "code", e.kind.code());
                        push_key_str(&mut line, "message", &message);
                        line.push_str("}\n");
                    }
                    OutputFormat::Human => {
                        line.push_str("contact ");
                        line.push_str(&visible(&id));
                        line.push_str("\n  +0s      error: ");
                        line.push_str(&visible(&message));
                        line.push_str(" [");
                        line.push_str(e.kind.code());
                        line.push_str("]\n\n");
                    }
                }
                summary.effects += 1;
            }
            Row::Contact(contact) => {
                run.restart(contact, now);
                if output == OutputFormat::Human {
                    line.push_str("contact ");
                    line.push_str(&visible(&contact.id));
                    line.push('\n');
                }
                loop {
                    let at = run.clock_ms;
                    let id = contact.id.as_str();
                    let event = vm.next(&mut run);
                    if let Event::Done = event {
                        break;
                    }
                    if let Event::Error(_) = event {
                        summary.failed += 1;
                    }
                    summary.effects += 1;
                    match output {
                        OutputFormat::Ndjson => ndjson(&mut line, program, id, at, &event),
                        OutputFormat::Human => human(&mut line, program, at, &event),
                    }
                    if matches!(event, Event::Stop | Event::Error(_)) {
                        break;
                    }
                }
                if output == OutputFormat::Human {
                    line.push('\n');
                }
            }
        }
        out.write_all(line.as_bytes())?;
        Ok::<(), DryRunError>(())
    })?;
    out.flush()?;
    Ok(summary)
}

fn push_key_str(line: &mut String, key: &str, value: &str) {
    line.push_str(",\"");
    line.push_str(key);
    line.push_str("\":\"");
    json_string_into(line, value);
    line.push('"');
}

fn push_seconds(line: &mut String, millis: u64) {
    if millis.is_multiple_of(1000) {
        use std::fmt::Write as _;
        let _ = write!(line, "{}", millis / 1000);
    } else {
        write_number(line, millis as f64 / 1000.0);
    }
}

fn start_line(line: &mut String, contact: &str, at_ms: u64, step: Option<&str>, action: &str) {
    line.push_str("{\"contact\":\"");
    json_string_into(line, contact);
    line.push_str("\",\"at\":");
    push_seconds(line, at_ms);
    if let Some(step) = step {
        push_key_str(line, "step", step);
    }
    push_key_str(line, "action", action);
}

/// One effect as a JSON object on its own line; keys as documented in
/// docs/cli.md.
fn ndjson(line: &mut String, program: &Program, contact: &str, at: u64, event: &Event<'_>) {
    match event {
        Event::Webhook(request) => {
            let info = &program.webhooks[request.webhook as usize];
            start_line(line, contact, at, Some(&info.name), "webhook");
            push_key_str(line, "method", info.method.as_str());
            push_key_str(line, "url", &request.url);
            line.push_str(",\"headers\":{");
            let mut first = true;
            for (name, value) in info.headers.iter().zip(&request.header_values) {
                if !first {
                    line.push(',');
                }
                first = false;
                line.push('"');
                json_string_into(line, name);
                line.push_str("\":\"");
                json_string_into(line, value);
                line.push('"');
            }
            if let Some(ct) = &info.content_type {
                if !first {
                    line.push(',');
                }
                line.push_str("\"Content-Type\":\"");
                json_string_into(line, ct);
                line.push('"');
            }
            line.push('}');
            if info.has_body {
                push_key_str(line, "body", &request.body);
            }
        }
        Event::TagAdd(tag) => {
            start_line(line, contact, at, None, "tag_add");
            push_key_str(line, "tag", tag);
        }
        Event::TagRemove(tag) => {
            start_line(line, contact, at, None, "tag_remove");
            push_key_str(line, "tag", tag);
        }
        Event::FieldSet { field, value } => {
            start_line(line, contact, at, None, "field_set");
            push_key_str(line, "field", field);
            push_key_str(line, "value", value);
        }
        Event::Note(text) => {
            start_line(line, contact, at, None, "note");
            push_key_str(line, "text", text);
        }
        Event::Wait { millis } => {
            start_line(line, contact, at, None, "wait");
            line.push_str(",\"seconds\":");
            push_seconds(line, *millis);
        }
        Event::Goal(name) => {
            start_line(line, contact, at, None, "goal");
            push_key_str(line, "goal", name);
        }
        Event::Stop => start_line(line, contact, at, None, "stop"),
        Event::Error(e) => {
            start_line(line, contact, at, None, "error");
            push_key_str(line, "code", e.code);
            push_key_str(line, "message", &e.message);
        }
        Event::Done => return,
    }
    line.push_str("}\n");
}

/// Text as printed in the timeline: what a terminal would act on (control
/// characters, bidi overrides) escaped, so one body stays on one line and
/// contact data cannot drive the terminal; everything else as sent.
fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    crate::terminal::escape(text)
}

/// `2d 3h`, `90s` -> `1m 30s`, `500ms`.
pub fn human_duration(millis: u64) -> String {
    if millis == 0 {
        return "0s".into();
    }
    let mut parts = Vec::new();
    let mut rest = millis;
    for (unit, size) in [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    parts.join(" ")
}

fn human(line: &mut String, program: &Program, at: u64, event: &Event<'_>) {
    use std::fmt::Write as _;
    let _ = write!(line, "  {:<8} ", format!("+{}", human_duration(at)));
    let indent = "             ";
    match event {
        Event::Webhook(request) => {
            let info = &program.webhooks[request.webhook as usize];
            let _ = writeln!(line, "webhook {:?}", info.name);
            let url = visible(&request.url);
            let _ = writeln!(line, "{indent}{} {url}", info.method.as_str());
            for (name, value) in info.headers.iter().zip(&request.header_values) {
                let _ = writeln!(line, "{indent}{}: {}", visible(name), visible(value));
            }
            if let Some(ct) = &info.content_type {
                let _ = writeln!(line, "{indent}Content-Type: {}", visible(ct));
            }
            if info.has_body {
                let _ = writeln!(line, "{indent}{}", visible(&request.body));
            }
        }
        Event::TagAdd(tag) => {
            let _ = writeln!(line, "tag add {tag:?}");
        }
        Event::TagRemove(tag) => {
            let _ = writeln!(line, "tag remove {tag:?}");
        }
        Event::FieldSet { field, value } => {
            let _ = writeln!(line, "field set [{}] = {value:?}", visible(field));
        }
        Event::Note(text) => {
            let _ = writeln!(line, "note {text:?}");
        }
        Event::Wait { millis } => {
            let _ = writeln!(line, "wait {}", human_duration(*millis));
        }
        Event::Goal(name) => {
            let _ = writeln!(line, "goal {name:?} reached");
        }
        Event::Stop => line.push_str("stop\n"),
        Event::Error(e) => {
            let _ = writeln!(line, "error: {} [{}]", visible(&e.message), e.code);
        }
        Event::Done => {}
    }
}
