//! The dry run: every contact through the VM, every effect recorded as it
//! would happen, nothing sent. Contacts stream through; memory stays flat
//! but for the ids already seen (see [`crate::contacts`]).
//!
//! A webhook is shown as [`crate::request::build`] makes it, the function a
//! real run sends with: the same URL, headers and body, with the
//! `Idempotency-Key` of the dry run's own run id
//! ([`crate::request::dry_run_id`], fixed by the campaign's source) and, for
//! a signed webhook, `webhook-signature: v1,***` timed at the contact's
//! virtual clock.

use std::borrow::Cow;
use std::io::{Read, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::compile::instructions::Program;
use crate::contacts::{for_each_contact, ContactsError, ContactsFormat, Row};
use crate::diagnostics::{Diagnostic, SourceFile};
use crate::effect::{self, Seconds};
use crate::failure::{Failure, FirstFailure, FirstFailures, Location};
use crate::frames;
use crate::request::{self, HttpRequest, KeyDeriver, Signature};
use crate::vm::{Event, Run, Secrets, Trace, Vm};

/// How effects are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A readable per-contact timeline.
    Human,
    /// One JSON object per effect.
    Ndjson,
    /// One [`crate::frames`] frame per effect, holding what its NDJSON line
    /// would: for a comparison in the same process (`campaign diff`), which
    /// reads them without parsing JSON.
    Frames,
}

/// What happened over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Contacts run (including failed ones).
    pub contacts: u64,
    /// Contacts whose run failed, and unreadable records.
    pub failed: u64,
    /// Effects printed.
    pub effects: u64,
    /// The first failure of each kind and place, with how many contacts
    /// met it, in the order first met.
    pub failures: Vec<FirstFailure>,
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

/// Renders a diagnostic for people (the CLI's renderer).
pub type Render<'a> = &'a dyn Fn(&Diagnostic) -> String;

/// A dry run of one compiled campaign.
pub struct DryRun<'a> {
    program: &'a Program,
    source: &'a SourceFile,
    output: OutputFormat,
    now: i64,
    render: Option<Render<'a>>,
}

impl<'a> DryRun<'a> {
    /// A dry run of `program`, compiled from `source` (failures point into
    /// it), printing `output`, with every contact entering at `now` (unix
    /// seconds).
    pub fn new(
        program: &'a Program,
        source: &'a SourceFile,
        output: OutputFormat,
        now: i64,
    ) -> DryRun<'a> {
        DryRun {
            program,
            source,
            output,
            now,
            render: None,
        }
    }

    /// In the human timeline, the first failure of each kind and place is
    /// followed by its diagnostic as `render` draws it: the source line
    /// with the step or merge underlined.
    pub fn render_with(mut self, render: Render<'a>) -> DryRun<'a> {
        self.render = Some(render);
        self
    }

    /// Runs every contact and writes each effect to `out`.
    pub fn run<R: Read, W: Write>(
        &self,
        contacts: R,
        format: ContactsFormat,
        out: W,
    ) -> Result<Summary, DryRunError> {
        self.drive(contacts, format, Some(out), |_, _| Ok(()), ())
            .map(|(summary, ())| summary)
    }

    /// [`DryRun::run`], with the VM reporting its path to `trace` (which
    /// is handed back with the summary): how `campaign graph --contacts`
    /// counts the contacts on each step of the very run that printed them.
    pub fn run_traced<R: Read, W: Write, T: Trace>(
        &self,
        contacts: R,
        format: ContactsFormat,
        out: W,
        trace: T,
    ) -> Result<(Summary, T), DryRunError> {
        self.drive(contacts, format, Some(out), |_, _| Ok(()), trace)
    }

    /// Runs every contact and hands `each` the contact's id and its output
    /// (every line printed for it, in this dry run's format), one contact
    /// at a time: what `campaign diff` and `campaign test` compare. Nothing
    /// is kept between contacts.
    pub fn run_each<R: Read>(
        &self,
        contacts: R,
        format: ContactsFormat,
        each: impl FnMut(&str, &[u8]) -> Result<(), DryRunError>,
    ) -> Result<Summary, DryRunError> {
        self.drive(contacts, format, None::<std::io::Sink>, each, ())
            .map(|(summary, ())| summary)
    }

    /// The dry run: with `out`, the output is written there in chunks;
    /// without, each contact's output is dropped after `each` saw it.
    fn drive<R: Read, W: Write, T: Trace>(
        &self,
        contacts: R,
        format: ContactsFormat,
        mut out: Option<W>,
        mut each: impl FnMut(&str, &[u8]) -> Result<(), DryRunError>,
        trace: T,
    ) -> Result<(Summary, T), DryRunError> {
        let program = self.program;
        let mut vm = Vm::with_trace(program, Secrets::Masked, trace);
        let mut run = Run::default();
        // The output buffer itself, written out in chunks of whole contacts
        // (a BufWriter behind it would copy every byte once more).
        let mut buffer: Vec<u8> = Vec::with_capacity(OUTPUT_CHUNK + 64 * 1024);
        let mut summary = Summary::default();
        let mut failures = FirstFailures::default();
        let run_id = request::dry_run_id(&request::campaign_digest(&self.source.text));
        let mut printer = Printer {
            dry_run: self,
            keys: KeyDeriver::new(&run_id),
            buffer: &mut buffer,
        };
        let read = for_each_contact(contacts, format, &program.fields, |row| {
            summary.contacts += 1;
            let start = printer.buffer.len();
            let id = match row {
                Row::Invalid(e) => {
                    summary.failed += 1;
                    let id = e.id.clone().unwrap_or_else(|| e.row.to_string());
                    let failure = Failure::new(
                        e.kind.code(),
                        format!("record {}: {}", e.row, e.message),
                        None,
                    );
                    failures.note(&id, &failure);
                    if self.output == OutputFormat::Human {
                        printer.contact(&id);
                    }
                    printer.failure(&id, 0, &failure, false)?;
                    if self.output == OutputFormat::Human {
                        printer.buffer.push(b'\n');
                    }
                    summary.effects += 1;
                    Cow::Owned(id)
                }
                Row::Contact(contact) => {
                    run.restart(contact, self.now);
                    if self.output == OutputFormat::Human {
                        printer.contact(&contact.id);
                    }
                    loop {
                        let at = run.clock_ms;
                        let id = contact.id.as_str();
                        let event = vm.next(&mut run);
                        match event {
                            Event::Done => break,
                            Event::Error(e) => {
                                summary.failed += 1;
                                summary.effects += 1;
                                let failure = Failure::from(e);
                                let first = failures.note(id, &failure);
                                printer.failure(id, at, &failure, first)?;
                                break;
                            }
                            event => {
                                summary.effects += 1;
                                printer.effect(id, at, &event)?;
                                if let Event::Stop = event {
                                    break;
                                }
                            }
                        }
                    }
                    if self.output == OutputFormat::Human {
                        printer.buffer.push(b'\n');
                    }
                    Cow::Borrowed(contact.id.as_str())
                }
            };
            each(&id, &printer.buffer[start..])?;
            match out.as_mut() {
                Some(out) if printer.buffer.len() >= OUTPUT_CHUNK => {
                    out.write_all(printer.buffer)?;
                    printer.buffer.clear();
                }
                Some(_) => {}
                None => printer.buffer.clear(),
            }
            Ok::<(), DryRunError>(())
        });
        // What was printed before a contacts file turned unreadable is
        // still written.
        let written = match out.as_mut() {
            Some(out) => out.write_all(printer.buffer).and_then(|()| out.flush()),
            None => Ok(()),
        };
        read?;
        written?;
        summary.failures = failures.into_vec();
        Ok((summary, vm.into_trace()))
    }
}

/// Output is written in chunks of at least this many bytes.
const OUTPUT_CHUNK: usize = 64 * 1024;

/// Writes effects into the output buffer.
struct Printer<'a, 'r> {
    dry_run: &'r DryRun<'a>,
    /// The dry run's idempotency keys.
    keys: KeyDeriver,
    buffer: &'r mut Vec<u8>,
}

impl Printer<'_, '_> {
    /// The human timeline's `contact <id>` line.
    fn contact(&mut self, id: &str) {
        self.buffer.extend_from_slice(b"contact ");
        self.buffer.extend_from_slice(visible(id).as_bytes());
        self.buffer.push(b'\n');
    }

    /// One effect, not a failure.
    fn effect(&mut self, contact: &str, at: u64, event: &Event<'_>) -> std::io::Result<()> {
        let program = self.dry_run.program;
        let key;
        let signature;
        let webhook = match event {
            Event::Webhook(request) => {
                let info = &program.webhooks[request.webhook as usize];
                key = self.keys.key(contact, request.webhook);
                signature = info.sign.map(|_| {
                    let seconds = i64::try_from(at / 1000).unwrap_or(i64::MAX);
                    Signature::masked(self.dry_run.now.saturating_add(seconds))
                });
                Some((
                    info.name.as_str(),
                    request::build(info, request, key.as_str(), signature.as_ref()),
                ))
            }
            _ => None,
        };
        let effect = || Effect {
            contact,
            at,
            event,
            webhook: webhook.as_ref(),
        };
        match self.dry_run.output {
            OutputFormat::Ndjson => {
                serde_json::to_writer(&mut *self.buffer, &effect())?;
                self.buffer.push(b'\n');
            }
            OutputFormat::Frames => {
                // Keys marked: the comparison sets them aside unread.
                frames::write_marking(self.buffer, &effect(), &request::KEY_HEADERS)
                    .map_err(std::io::Error::other)?;
            }
            OutputFormat::Human => human(self.buffer, at, event, webhook.as_ref())?,
        }
        Ok(())
    }

    /// A failure: the contact's last effect. `first`: the first of its kind
    /// and place, which the human timeline draws in full.
    fn failure(
        &mut self,
        contact: &str,
        at: u64,
        failure: &Failure,
        first: bool,
    ) -> std::io::Result<()> {
        let source = self.dry_run.source;
        let location = failure.location(source);
        let line = || ErrorLine {
            contact,
            at: Seconds(at),
            action: "error",
            code: failure.code,
            message: &failure.message,
            line: location.map(|l| l.line),
            column: location.map(|l| l.column),
        };
        match self.dry_run.output {
            OutputFormat::Ndjson => {
                serde_json::to_writer(&mut *self.buffer, &line())?;
                self.buffer.push(b'\n');
            }
            OutputFormat::Frames => {
                frames::write(self.buffer, &line()).map_err(std::io::Error::other)?;
            }
            OutputFormat::Human => {
                let text = &mut *self.buffer;
                write!(
                    text,
                    "  {:<8} error: {} [{}]",
                    format!("+{}", human_duration(at)),
                    visible(&failure.message),
                    failure.code
                )?;
                if let Some(Location { line, column }) = location {
                    write!(text, " at {}:{line}:{column}", visible(&source.name))?;
                }
                text.push(b'\n');
                if let (true, Some(render), Some(d)) =
                    (first, self.dry_run.render, failure.diagnostic(None))
                {
                    // Indented under the effect, so the timeline's shape holds.
                    for l in render(&d).lines() {
                        if l.trim().is_empty() {
                            text.push(b'\n');
                        } else {
                            writeln!(text, "{TIMELINE_INDENT}{l}")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A request's headers as a JSON object, in the order they are sent.
struct Headers<'a>(&'a HttpRequest<'a>);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.header_count()))?;
        self.0
            .try_for_each_header(|name, value| map.serialize_entry(name, value))?;
        map.end()
    }
}

/// One effect's NDJSON line; keys in the order documented in docs/cli.md.
struct Effect<'a> {
    contact: &'a str,
    at: u64,
    event: &'a Event<'a>,
    /// For a webhook: its step's name and its request.
    webhook: Option<&'a (&'a str, HttpRequest<'a>)>,
}

impl Serialize for Effect<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("contact", self.contact)?;
        map.serialize_entry("at", &Seconds(self.at))?;
        if let Some((step, _)) = self.webhook {
            map.serialize_entry("step", step)?;
        }
        // Errors are written by `ErrorLine` and never reach here.
        map.serialize_entry("action", effect::action(self.event).unwrap_or("error"))?;
        match (self.event, self.webhook) {
            (Event::Webhook(_), Some((_, request))) => {
                map.serialize_entry("method", request.method)?;
                map.serialize_entry("url", request.url)?;
                map.serialize_entry("headers", &Headers(request))?;
                if let Some(body) = request.body {
                    map.serialize_entry("body", body)?;
                }
            }
            (event, _) => effect::write_details(&mut map, event)?,
        }
        map.end()
    }
}

/// An `error` effect's NDJSON line.
#[derive(serde::Serialize)]
struct ErrorLine<'a> {
    contact: &'a str,
    at: Seconds,
    action: &'static str,
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
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

/// Where a webhook's lines start in the timeline.
const TIMELINE_INDENT: &str = "             ";

fn human(
    text: &mut Vec<u8>,
    at: u64,
    event: &Event<'_>,
    webhook: Option<&(&str, HttpRequest<'_>)>,
) -> std::io::Result<()> {
    write!(text, "  {:<8} ", format!("+{}", human_duration(at)))?;
    let indent = TIMELINE_INDENT;
    match event {
        Event::Webhook(_) => {
            if let Some((name, request)) = webhook {
                writeln!(text, "webhook {name:?}")?;
                writeln!(text, "{indent}{} {}", request.method, visible(request.url))?;
                for (name, value) in request.headers() {
                    writeln!(text, "{indent}{}: {}", visible(name), visible(value))?;
                }
                if let Some(body) = request.body {
                    writeln!(text, "{indent}{}", visible(body))?;
                }
            }
        }
        Event::TagAdd(tag) => writeln!(text, "tag add {tag:?}")?,
        Event::TagRemove(tag) => writeln!(text, "tag remove {tag:?}")?,
        Event::FieldSet { field, value } => {
            writeln!(text, "field set [{}] = {value:?}", visible(field))?
        }
        Event::Note(note) => writeln!(text, "note {note:?}")?,
        Event::Wait { millis } => writeln!(text, "wait {}", human_duration(*millis))?,
        Event::Goal(name) => writeln!(text, "goal {name:?} reached")?,
        Event::Stop => text.extend_from_slice(b"stop\n"),
        Event::Error(_) | Event::Done => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output is written in chunks: whatever chunk a contacts file
    /// turns unreadable in, every contact before it is written, whole, and
    /// no line twice.
    #[test]
    fn contacts_before_a_fatal_error_are_written_whole() {
        let text = "campaign \"A\" {\n webhook \"W\" {\n  url \"https://x.example.com/\"\n  post \"n=[Name]\"\n }\n}\n";
        let source = SourceFile::new("a.campaign", text);
        let program = crate::compile(text, None).unwrap().program;
        for contacts in [1, 100, 3_000, 10_000] {
            let mut json = String::from("[");
            for i in 0..contacts {
                json.push_str(&format!("{{\"Contact ID\": {i}, \"Name\": \"n{i}\"}},"));
            }
            json.push_str("{\"Contact ID\": ");
            let mut out = Vec::new();
            let result = DryRun::new(&program, &source, OutputFormat::Ndjson, 0).run(
                json.as_bytes(),
                ContactsFormat::Json,
                &mut out,
            );
            assert!(
                matches!(result, Err(DryRunError::Contacts(_))),
                "{result:?}"
            );
            let text = String::from_utf8(out).unwrap();
            assert!(text.ends_with('\n'));
            let lines: Vec<_> = text.lines().collect();
            assert_eq!(lines.len(), contacts, "{contacts} contacts");
            for (i, line) in lines.iter().enumerate() {
                let effect: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(effect["contact"], i.to_string());
            }
        }
    }
}
