//! `campaign run`: the dry run, and the real one that sends.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use campaign::compile::Program;
use campaign::contacts::ContactsFormat;
use campaign::deliver::{self, secrets, Options};
use campaign::diagnostics::SourceFile;
use campaign::run::dry_run::{DryRun, DryRunError, OutputFormat};

use super::error::{CliError, Failure};
use super::inputs::{compile, is_stdin, open_contacts, read_campaign};
use super::render::{plural, print_summary, render_failures, rendered};
use super::{rate_flag, RunArgs, RunFormat};

pub(super) fn run(args: &RunArgs) -> Result<(), Failure> {
    let source = read_campaign(&args.file)?;
    let compiled = compile(&source)?;
    let now = parse_now(args.now.as_deref())?;
    if is_stdin(&args.file) && is_stdin(&args.contacts) {
        return Err(CliError::StdinTwice.into());
    }
    let (input, format) = open_contacts(&args.contacts, args.contacts_format)?;
    if args.dry_run {
        dry(&source, &compiled.program, input, format, now, args)
    } else {
        send(&source, &compiled.program, input, format, args)
    }
}

/// `--now`: an RFC 3339 time as Unix seconds; by default, now.
pub(super) fn parse_now(now: Option<&str>) -> Result<i64, CliError> {
    Ok(match now {
        None => chrono::Utc::now().timestamp(),
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|source| CliError::Now {
                text: text.to_owned(),
                source,
            })?
            .timestamp(),
    })
}

/// Records what would happen, to stdout, and sends nothing.
fn dry(
    source: &SourceFile,
    program: &Program,
    input: BufReader<File>,
    format: ContactsFormat,
    now: i64,
    args: &RunArgs,
) -> Result<(), Failure> {
    let output = match args.format {
        RunFormat::Human => OutputFormat::Human,
        RunFormat::Ndjson => OutputFormat::Ndjson,
    };
    let color = super::color::stdout();
    let render = |d: &campaign::diagnostics::Diagnostic| rendered(source, d, color);
    let dry_run = DryRun::new(program, source, output, now).render_with(&render);
    match dry_run.run(input, format, io::stdout().lock()) {
        Ok(summary) => {
            note!(
                "dry run: {}, {} failed, {}; nothing was sent",
                plural(summary.contacts, "contact"),
                summary.failed,
                plural(summary.effects, "effect")
            );
            if summary.failed > 0 {
                Err(Failure::Reported)
            } else {
                Ok(())
            }
        }
        // A reader that went away (`| head`) is not a failure of the run.
        Err(DryRunError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(DryRunError::Output(e)) => Err(CliError::Output(e).into()),
        Err(source) => Err(CliError::DryRun {
            contacts: args.contacts.clone(),
            source,
        }
        .into()),
    }
}

/// Sends every webhook for real, on a runtime of its own, stopping cleanly
/// on SIGINT or SIGTERM.
fn send(
    source: &SourceFile,
    program: &Program,
    mut input: BufReader<File>,
    format: ContactsFormat,
    args: &RunArgs,
) -> Result<(), Failure> {
    let rate = rate_flag(args.rate.as_deref())?;
    // Every secret must be there before anything is sent.
    let secret_values = step_secrets(program, args.env_file.as_deref())?;
    let progress = progress_bar(format, &args.contacts);
    let callback: Option<Arc<dyn Fn(u64, u64) + Send + Sync>> = progress.clone().map(|bar| {
        Arc::new(move |done: u64, failed: u64| {
            bar.set_position(done);
            if failed > 0 {
                bar.set_message(format!("{failed} failed"));
            }
        }) as Arc<dyn Fn(u64, u64) + Send + Sync>
    });
    // A resume must be refused before anything is sent if the contacts
    // changed, so they are fingerprinted in a pass of their own.
    let rereadable = input.get_ref().metadata().is_ok_and(|m| m.is_file());
    if args.journal.is_some() && !rereadable {
        return Err(CliError::JournalNeedsFile.into());
    }
    let contacts_fingerprint = match &args.journal {
        Some(_) => deliver::fingerprint::contacts(&mut input, format).map_err(|source| {
            CliError::Fingerprint {
                path: args.contacts.clone(),
                source,
            }
        })?,
        None => String::new(),
    };
    if let Some(journal) = &args.journal {
        announce_resume(journal, source);
    }
    let options = Options {
        concurrency: args.concurrency as usize,
        rate,
        allow_private: args.allow_private,
        journal: args.journal.clone(),
        out: args.out.clone(),
        source: source.clone(),
        contacts_fingerprint,
        progress: callback,
        inputs: [
            ("the campaign", Some(Path::new(&source.name))),
            ("the contacts file", Some(args.contacts.as_path())),
            ("the env file", args.env_file.as_deref()),
        ]
        .into_iter()
        .filter_map(|(what, path)| Some((what, path?.to_path_buf())))
        .collect(),
    };
    // One thread drives every contact and connection: measured faster than
    // a multi-thread runtime, where each response costs a cross-thread wake.
    // Reading contacts and writing the journal have threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let stopping = Arc::new(AtomicBool::new(false));
    // SIGINT and SIGTERM stop alike; the exit status says which came.
    let stopped_by = Arc::new(AtomicU8::new(130));
    let result = runtime.block_on(async {
        let signals = deliver::stop::StopSignals::install().map_err(CliError::Signals)?;
        tokio::spawn(signals.watch(stopping.clone(), stopped_by.clone()));
        deliver::deliver(
            program,
            input,
            format,
            secret_values,
            options,
            stopping.clone(),
        )
        .await
        .map_err(CliError::from)
    });
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let summary = result?;
    render_failures(source, &summary.failures);
    print_summary(&summary);
    if summary.stopped_early {
        match &args.journal {
            Some(j) => eprintln!(
                "stopped early: {} contacts not finished; run the same command again to resume (journal {})",
                summary.interrupted,
                j.display()
            ),
            None => eprintln!(
                "stopped early: {} contacts not finished; without --journal a resumed run cannot know what was sent",
                summary.interrupted
            ),
        }
        return Err(Failure::Stopped(stopped_by.load(Ordering::Relaxed)));
    }
    if summary.waiting > 0 && args.journal.is_none() {
        note!(
            "{} contacts stopped at a wait; run with --journal to resume them once it has passed",
            summary.waiting
        );
    }
    if summary.failed > 0 {
        Err(Failure::Reported)
    } else {
        Ok(())
    }
}

/// A progress bar on a terminal (none otherwise). Counting lines is fast
/// and gives the bar a length, hence an ETA; a JSON array would need
/// parsing, so it gets a spinner.
/// The secrets a run merges or signs with, which must all be set; a
/// trigger's `verify` secret, which only `campaign serve` uses, is loaded
/// when set (so that it is redacted) and left empty when not.
fn step_secrets(program: &Program, env_file: Option<&Path>) -> Result<Vec<String>, Failure> {
    let used = program.secrets_used_by_steps();
    let needed: Vec<String> = program
        .secrets
        .iter()
        .zip(&used)
        .filter(|(_, &u)| u)
        .map(|(n, _)| n.clone())
        .collect();
    let mut loaded = secrets::load(&needed, env_file)?.into_iter();
    Ok(program
        .secrets
        .iter()
        .zip(&used)
        .map(|(name, &u)| {
            if u {
                loaded.next().unwrap_or_default()
            } else {
                secrets::load(std::slice::from_ref(name), env_file)
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .unwrap_or_default()
            }
        })
        .collect())
}

fn progress_bar(format: ContactsFormat, contacts: &Path) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() || !super::output::chatty() {
        return None;
    }
    let total = match format {
        ContactsFormat::Csv => count_lines(contacts).map(|n| n.saturating_sub(1)),
        ContactsFormat::Ndjson => count_lines(contacts),
        ContactsFormat::Json => None,
    };
    let (bar, template) = match total {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{bar:30} {pos}/{len} contacts ({rate}, ETA {eta}) {msg}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {pos} contacts ({rate}) {msg} [{elapsed}]",
        ),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
            // indicatif's own {per_sec} prints four decimals (416.0099/s).
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", state.per_sec());
                },
            ),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

/// Non-blank lines in a file, for the progress bar's length. Only a regular
/// file is read twice: a pipe or `/dev/stdin` would lose what was counted.
fn count_lines(path: &Path) -> Option<u64> {
    use std::io::Read as _;
    let mut file = File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = vec![0u8; 256 * 1024];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[n - 1];
    }
    Some(lines + u64::from(last != b'\n'))
}

/// Says, before anything is sent, that this run resumes an earlier one, and
/// where it stands. Only for a journal of this very campaign: any other is
/// refused by the run itself, with its own message.
fn announce_resume(journal: &Path, source: &SourceFile) {
    if !journal.exists() {
        return;
    }
    let Ok(s) = deliver::journal::report::standing(journal) else {
        return;
    };
    if s.digest != campaign::request::campaign_digest(&source.text) {
        return;
    }
    note!(
        "resuming run {} from {} (session {}): {} done, {} failed, {} waiting so far; finished contacts are skipped",
        s.run_id,
        journal.display(),
        s.sessions + 1,
        s.contacts_done,
        s.contacts_failed,
        s.contacts_waiting
    );
}
