//! `campaign diff OLD NEW --contacts FILE`: what a change to a campaign does
//! to its requests, contact by contact, from two dry runs over the same
//! contacts. Exit status 0 when they are the same, 1 when they differ, 2
//! when something stopped the comparison (as diff(1)).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::mpsc;

use campaign::compile::Program;
use campaign::diagnostics::SourceFile;
use campaign::diff::{self, Change, Options};
use campaign::run::dry_run::{DryRun, DryRunError, OutputFormat};

use super::error::{CliError, Failure};
use super::inputs::{is_stdin, open_contacts, read_source, SourceError};
use super::render::{plural, render};
use super::{DataFormat, DiffArgs};

/// The exit status when the comparison itself failed.
const TROUBLE: u8 = 2;

/// A campaign given as a file, or as `REV:path` read with `git show`.
pub(super) fn read_revision(spec: &str) -> Result<SourceFile, Failure> {
    let path = Path::new(spec);
    if path.exists() || is_stdin(path) || !spec.contains(':') {
        return match read_source(path) {
            Ok(s) => Ok(s),
            Err(SourceError::Refused(s, d)) => {
                render(&s, &[*d]);
                Err(Failure::Stopped(TROUBLE))
            }
            Err(SourceError::Unreadable(e)) => {
                eprintln!("error: {e}");
                Err(Failure::Stopped(TROUBLE))
            }
        };
    }
    let out = std::process::Command::new("git")
        .args(["show", spec])
        .output()
        .map_err(|e| {
            eprintln!("error: {spec}: cannot run git: {e}");
            Failure::Stopped(TROUBLE)
        })?;
    if !out.status.success() {
        eprintln!(
            "error: git show {spec}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return Err(Failure::Stopped(TROUBLE));
    }
    match String::from_utf8(out.stdout) {
        Ok(text) => Ok(SourceFile::new(spec, text)),
        Err(_) => {
            eprintln!("error: {spec} is not UTF-8 text");
            Err(Failure::Stopped(TROUBLE))
        }
    }
}

/// Compiles a campaign; errors are rendered and stop with [`TROUBLE`].
pub(super) fn compile_or_stop(source: &SourceFile) -> Result<Program, Failure> {
    campaign::compile(&source.text, None)
        .map(|c| c.program)
        .map_err(|diagnostics| {
            render(source, &diagnostics);
            Failure::Stopped(TROUBLE)
        })
}

/// Contacts' outputs from one side, in one buffer: per contact, where its
/// id and its output (its effects as [`campaign::frames`]) end.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<(usize, usize)>,
}

impl Batch {
    fn push(&mut self, id: &str, output: &[u8]) {
        self.bytes.extend_from_slice(id.as_bytes());
        let id_end = self.bytes.len();
        self.bytes.extend_from_slice(output);
        self.ends.push((id_end, self.bytes.len()));
    }

    /// Empty, its buffers kept for the next contacts.
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Contact `i`: its id and output.
    fn get(&self, i: usize) -> (&str, &[u8]) {
        let start = if i == 0 { 0 } else { self.ends[i - 1].1 };
        let (id_end, end) = self.ends[i];
        (
            std::str::from_utf8(&self.bytes[start..id_end]).unwrap_or(""),
            &self.bytes[id_end..end],
        )
    }
}

/// Contacts handed from a dry run's thread at once.
const BATCH: usize = 256;

/// One side's dry run as the comparison sees it: its batches, a way to
/// hand used ones back, and its thread.
type Side<'s> = (
    mpsc::Receiver<Batch>,
    mpsc::Sender<Batch>,
    std::thread::ScopedJoinHandle<'s, Result<(), Failure>>,
);

/// Runs `program`'s dry run on its own thread, sending each contact's
/// output in batches. Batches the comparison is done with come back to be
/// filled again: a new one each time would be fresh memory, faulted in
/// page by page, and grown by copies.
fn spawn_side<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    program: &'s Program,
    source: &'s SourceFile,
    args: &'s DiffArgs,
    now: i64,
) -> Side<'s> {
    let (tx, rx) = mpsc::sync_channel::<Batch>(8);
    let (back, used) = mpsc::channel::<Batch>();
    let handle = scope.spawn(move || {
        let (input, format) = open_contacts(&args.contacts, args.contacts_format)?;
        let dry = DryRun::new(program, source, OutputFormat::Frames, now);
        let mut batch = Batch::default();
        let result = dry.run_each(input, format, |id, bytes| {
            batch.push(id, bytes);
            if batch.ends.len() >= BATCH {
                let full = std::mem::replace(&mut batch, used.try_recv().unwrap_or_default());
                tx.send(full)
                    .map_err(|_| DryRunError::Output(std::io::ErrorKind::BrokenPipe.into()))?;
            }
            Ok(())
        });
        if !batch.ends.is_empty() {
            let _ = tx.send(batch);
        }
        result.map(|_| ()).map_err(|source| {
            Failure::from(CliError::DryRun {
                contacts: args.contacts.clone(),
                source,
            })
        })
    });
    (rx, back, handle)
}

/// Both sides' batches of the same contacts, numbered in contact order,
/// for whichever worker is free: both receivers under one lock, so that
/// batch `k` of one side is paired with batch `k` of the other. `None`
/// once a side has ended.
struct Pairs {
    sides: Option<(mpsc::Receiver<Batch>, mpsc::Receiver<Batch>)>,
    next: usize,
}

impl Pairs {
    /// The next pair of batches and its number; `None` when a side has
    /// ended (its receivers are dropped then, so that a side still
    /// running stops rather than waits).
    fn next(&mut self) -> Option<(usize, Batch, Batch)> {
        let (old, new) = self.sides.as_ref()?;
        match (old.recv(), new.recv()) {
            (Ok(a), Ok(b)) => {
                self.next += 1;
                Some((self.next - 1, a, b))
            }
            _ => {
                self.sides = None;
                None
            }
        }
    }
}

/// Runs both dry runs and compares them as they go, on worker threads that
/// take a batch of contacts each (so that the comparison is spread over
/// the cores rather than being one thread's work): `each` is handed every
/// contact that changed, with the accumulator of its batch, and `merge`
/// every batch's accumulator in contact order. Returns how many contacts
/// were compared.
fn compare<A: Default + Send>(
    old: (&Program, &SourceFile),
    new: (&Program, &SourceFile),
    args: &DiffArgs,
    now: i64,
    each: impl Fn(&mut A, &str, Vec<Change>) + Sync,
    mut merge: impl FnMut(A),
) -> Result<u64, Failure> {
    let options = Options { keys: args.keys };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    // Outside the scope, so that its threads may borrow it; filled in it.
    let pairs = std::sync::Mutex::new(Pairs {
        sides: None,
        next: 0,
    });
    std::thread::scope(|scope| {
        let (rx_old, back_old, h_old) = spawn_side(scope, old.0, old.1, args, now);
        let (rx_new, back_new, h_new) = spawn_side(scope, new.0, new.1, args, now);
        if let Ok(mut p) = pairs.lock() {
            p.sides = Some((rx_old, rx_new));
        }
        let (done, results) = mpsc::channel::<(usize, A, u64)>();
        for _ in 0..workers {
            let (pairs, each, done) = (&pairs, &each, done.clone());
            let (back_old, back_new) = (back_old.clone(), back_new.clone());
            scope.spawn(move || loop {
                // A worker that panicked holding the lock left the pairs
                // as they were: the others go on, and the sides can end.
                let next = pairs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .next();
                let Some((k, mut a, mut b)) = next else {
                    break;
                };
                // Batches hold `BATCH` contacts each but a side's last:
                // the contacts both have are compared, and a side that
                // ended early has no next batch, which ends the comparison.
                let n = a.ends.len().min(b.ends.len());
                let mut acc = A::default();
                for i in 0..n {
                    let ((id, old_out), (_, new_out)) = (a.get(i), b.get(i));
                    let changes = diff::compare_frames(old_out, new_out, options);
                    if !changes.is_empty() {
                        each(&mut acc, id, changes);
                    }
                }
                if done.send((k, acc, n as u64)).is_err() {
                    break;
                }
                a.clear();
                b.clear();
                // A side that has finished takes none back.
                let _ = back_old.send(a);
                let _ = back_new.send(b);
            });
        }
        drop(done);
        // Batches come back in any order; merged in contact order.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        let mut contacts = 0;
        for (k, acc, n) in results {
            waiting.insert(k, (acc, n));
            while let Some((acc, n)) = waiting.remove(&next) {
                merge(acc);
                contacts += n;
                next += 1;
            }
        }
        let joined = |h: std::thread::ScopedJoinHandle<'_, Result<(), Failure>>| {
            h.join().unwrap_or(Err(Failure::Stopped(TROUBLE)))
        };
        joined(h_old)?;
        joined(h_new)?;
        Ok(contacts)
    })
}

/// `old` and `new` quoted, with what differs between them marked:
/// coloured, or `[-…-]` and `{+…+}` without colour.
fn marked(old: &str, new: &str, color: bool) -> (String, String) {
    let (prefix, a, b, suffix) = diff::split_change(old, new);
    let show = |s: &str| campaign::terminal::escape(s).into_owned();
    let wrap = |middle: &str, open: &str, close: &str| {
        if middle.is_empty() {
            format!("\"{}{}\"", show(prefix), show(suffix))
        } else {
            format!(
                "\"{}{open}{}{close}{}\"",
                show(prefix),
                show(middle),
                show(suffix)
            )
        }
    };
    if color {
        (
            wrap(a, "\x1b[31;1m", "\x1b[0m"),
            wrap(b, "\x1b[32;1m", "\x1b[0m"),
        )
    } else {
        (wrap(a, "[-", "-]"), wrap(b, "{+", "+}"))
    }
}

/// The human report of one contact's changes.
pub(super) fn human_changes(out: &mut String, changes: &[Change], color: bool) {
    for c in changes {
        let sign = match c.kind {
            "added" => "+",
            "removed" => "-",
            _ => "~",
        };
        // `  ~ what: old -> new`, pushed piece by piece (no format machinery
        // for the hundreds of thousands of lines a wide change makes).
        out.push_str("  ");
        out.push_str(sign);
        out.push(' ');
        out.push_str(&c.what);
        match (&c.old, &c.new) {
            (Some(old), Some(new)) => {
                let (old, new) = marked(old, new, color);
                out.push_str(": ");
                out.push_str(&old);
                out.push_str(" -> ");
                out.push_str(&new);
            }
            (Some(v), None) | (None, Some(v)) => {
                out.push_str(": ");
                out.push_str(&campaign::terminal::escape(v));
            }
            (None, None) => {}
        }
        out.push('\n');
    }
}

/// Contacts per kind of change ([`Change::group`]), counted contact by
/// contact as they come: keyed by what changed, so that a group's line is
/// written once for the summary, not once per change.
#[derive(Default)]
struct Groups {
    counts: HashMap<String, Vec<(&'static str, u64)>>,
}

impl Groups {
    /// One contact's changes: each kind of change counted once.
    fn add(&mut self, changes: &[Change]) {
        // A few changes (most contacts) are checked against each other
        // in place; more are sorted.
        if changes.len() <= 8 {
            for (i, c) in changes.iter().enumerate() {
                if !changes[..i]
                    .iter()
                    .any(|d| d.kind == c.kind && d.what == c.what)
                {
                    self.count(&c.what, c.kind);
                }
            }
            return;
        }
        let mut mine: Vec<(&str, &'static str)> =
            changes.iter().map(|c| (c.what.as_str(), c.kind)).collect();
        mine.sort_unstable();
        mine.dedup();
        for (what, kind) in mine {
            self.count(what, kind);
        }
    }

    /// One more contact with this change.
    fn count(&mut self, what: &str, kind: &'static str) {
        if let Some(kinds) = self.counts.get_mut(what) {
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((kind, 1)),
            }
        } else {
            self.counts.insert(what.to_owned(), vec![(kind, 1)]);
        }
    }

    /// `other`'s contacts counted in too.
    fn merge(&mut self, other: Groups) {
        for (what, kinds) in other.counts {
            match self.counts.get_mut(&what) {
                Some(mine) => {
                    for (kind, n) in kinds {
                        match mine.iter_mut().find(|(k, _)| *k == kind) {
                            Some((_, m)) => *m += n,
                            None => mine.push((kind, n)),
                        }
                    }
                }
                None => {
                    self.counts.insert(what, kinds);
                }
            }
        }
    }

    /// Each group's line and contacts, most contacts first (a kind holds
    /// no space, so two groups never make one line).
    fn list(self) -> Vec<(String, u64)> {
        let mut list: Vec<(String, u64)> = self
            .counts
            .into_iter()
            .flat_map(|(what, kinds)| {
                kinds
                    .into_iter()
                    .map(move |(kind, n)| (format!("{what} {kind}"), n))
            })
            .collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        list
    }
}

pub(super) fn diff(args: &DiffArgs) -> Result<(), Failure> {
    if is_stdin(&args.contacts) {
        eprintln!("error: --contacts must be a file: both dry runs read it");
        return Err(Failure::Stopped(TROUBLE));
    }
    let old_source = read_revision(&args.old)?;
    let new_source = read_revision(&args.new.to_string_lossy())?;
    let old = compile_or_stop(&old_source)?;
    let new = compile_or_stop(&new_source)?;
    let now = match args.now.as_deref() {
        None => chrono::Utc::now().timestamp(),
        Some(text) => match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(t) => t.timestamp(),
            Err(source) => {
                eprintln!(
                    "error: {}",
                    CliError::Now {
                        text: text.to_owned(),
                        source
                    }
                );
                return Err(Failure::Stopped(TROUBLE));
            }
        },
    };
    let stopped = |e| match e {
        Failure::Error(e) => {
            eprintln!("error: {e}");
            Failure::Stopped(TROUBLE)
        }
        other => other,
    };
    let old = (&old, &old_source);
    let new = (&new, &new_source);
    let mut groups = Groups::default();
    let changed;
    if args.format == DataFormat::Json {
        let mut differences = Vec::new();
        let contacts = compare(
            old,
            new,
            args,
            now,
            |(found, groups): &mut (Vec<_>, Groups), id, changes| {
                groups.add(&changes);
                found.push(serde_json::json!({"contact": id, "changes": changes}));
            },
            |(found, batch_groups)| {
                differences.extend(found);
                groups.merge(batch_groups);
            },
        )
        .map_err(stopped)?;
        changed = differences.len();
        let json = serde_json::json!({
            "contacts": contacts,
            "changed": changed,
            "differences": differences,
            "summary": groups.list().iter().map(|(g, n)| serde_json::json!({"change": g, "contacts": n})).collect::<Vec<_>>(),
        });
        super::output::print_stdout(&format!("{json}\n"))?;
    } else {
        // Each batch's report is written by the worker that compared it,
        // its changes dropped there; the batches' reports are joined in
        // contact order.
        let color = super::color::stdout();
        let mut out = String::new();
        let mut n = 0;
        let contacts = compare(
            old,
            new,
            args,
            now,
            |(report, groups, n): &mut (String, Groups, usize), id, changes| {
                *n += 1;
                groups.add(&changes);
                report.push_str("contact ");
                report.push_str(&campaign::terminal::escape(id));
                report.push('\n');
                human_changes(report, &changes, color);
            },
            |(report, batch_groups, batch_n)| {
                out.push_str(&report);
                groups.merge(batch_groups);
                n += batch_n;
            },
        )
        .map_err(stopped)?;
        changed = n;
        if changed > 0 {
            out.push('\n');
        }
        for (g, n) in &groups.list() {
            let _ = writeln!(out, "{}: {g}", plural(*n, "contact"));
        }
        if changed == 0 {
            let _ = writeln!(out, "no differences in {}", plural(contacts, "contact"));
        } else {
            let _ = writeln!(
                out,
                "{} of {} changed",
                changed,
                plural(contacts, "contact")
            );
        }
        super::output::print_stdout(&out)?;
    }
    if changed == 0 {
        Ok(())
    } else {
        Err(Failure::Reported)
    }
}
