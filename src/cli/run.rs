//! `campaign run`: the dry run and the real one.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use campaign::contacts::ContactsFormat;
use campaign::diagnostics::SourceFile;
use campaign::run::dry_run::{dry_run, DryRunError, OutputFormat};

use super::inputs::{contacts_format, read_source};
use super::output::fail;
use super::render::{plural, print_summary, render};
use super::RunFormat;

/// Flags that matter only when sending for real.
pub(super) struct RealRun {
    pub(super) concurrency: usize,
    pub(super) rate: Option<String>,
    pub(super) journal: Option<PathBuf>,
    pub(super) out: Option<PathBuf>,
    pub(super) env_file: Option<PathBuf>,
    pub(super) allow_private: bool,
}

pub(super) fn run(
    file: &Path,
    contacts: &Path,
    format_given: Option<ContactsFormat>,
    is_dry: bool,
    format: RunFormat,
    now: Option<&str>,
    real: RealRun,
) -> ExitCode {
    let Some(source) = read_source(file) else {
        return ExitCode::FAILURE;
    };
    let source = match source {
        Ok(s) => s,
        Err((s, d)) => {
            render(&s, &[d]);
            return ExitCode::FAILURE;
        }
    };
    let compiled = match campaign::compile(&source.text, None) {
        Ok(c) => c,
        Err(d) => {
            render(&source, &d);
            return ExitCode::FAILURE;
        }
    };
    let now = match now {
        None => chrono::Utc::now().timestamp(),
        Some(text) => match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(t) => t.timestamp(),
            Err(e) => {
                return fail(&format!(
                    "--now {text:?} is not an RFC 3339 time ({e}); e.g. 2026-11-27T09:00:00Z"
                ))
            }
        },
    };
    let contacts_format = match contacts_format(contacts, format_given) {
        Ok(f) => f,
        Err(m) => return fail(&m),
    };
    let input = match File::open(contacts) {
        Ok(f) => BufReader::with_capacity(256 * 1024, f),
        Err(e) => return fail(&format!("cannot read {}: {e}", contacts.display())),
    };
    if !is_dry {
        return deliver(
            &source,
            &compiled.program,
            input,
            contacts_format,
            contacts,
            real,
        );
    }
    let output = match format {
        RunFormat::Human => OutputFormat::Human,
        RunFormat::Ndjson => OutputFormat::Ndjson,
    };
    let stdout = io::stdout().lock();
    match dry_run(
        &compiled.program,
        input,
        contacts_format,
        stdout,
        output,
        now,
    ) {
        Ok(summary) => {
            eprintln!(
                "dry run: {}, {} failed, {}; nothing was sent",
                plural(summary.contacts, "contact"),
                summary.failed,
                plural(summary.effects, "effect")
            );
            if summary.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        // A reader that went away (`| head`) is not a failure of the run.
        Err(DryRunError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(DryRunError::Output(e)) => fail(&format!("writing output: {e}")),
        Err(e) => fail(&format!("{}: {e}", contacts.display())),
    }
}

pub(super) fn deliver(
    source: &SourceFile,
    program: &campaign::compile::Program,
    input: BufReader<File>,
    format: ContactsFormat,
    contacts_path: &Path,
    real: RealRun,
) -> ExitCode {
    use campaign::deliver::{self, rate::parse_rate, secrets, Options};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let rate = match real.rate.as_deref().map(parse_rate).transpose() {
        Ok(r) => r,
        Err(e) => return fail(&format!("--rate: {e}")),
    };
    // Every secret must be there before anything is sent.
    let secret_values = match secrets::load(&program.secrets, real.env_file.as_deref()) {
        Ok(v) => v,
        Err(e) => return fail(&format!("{e}; nothing was sent")),
    };
    let digest = {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(source.text.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let progress = io::stderr().is_terminal().then(|| {
        // Counting lines is fast and gives the bar a length, hence an ETA;
        // a JSON array would need parsing, so it gets a spinner.
        let total = match format {
            ContactsFormat::Csv => count_lines(contacts_path).map(|n| n.saturating_sub(1)),
            ContactsFormat::Ndjson => count_lines(contacts_path),
            ContactsFormat::Json => None,
        };
        let (bar, template) = match total {
            Some(n) => (
                indicatif::ProgressBar::new(n),
                "{bar:30} {pos}/{len} contacts ({per_sec}, ETA {eta}) {msg}",
            ),
            None => (
                indicatif::ProgressBar::new_spinner(),
                "{spinner} {pos} contacts ({per_sec}) {msg} [{elapsed}]",
            ),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
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
    let mut input = input;
    let contacts_fingerprint = match &real.journal {
        Some(_) => match deliver::fingerprint::contacts(&mut input, format) {
            Ok(f) => f,
            Err(e) => return fail(&format!("{}: {e}", contacts_path.display())),
        },
        None => String::new(),
    };
    let options = Options {
        concurrency: real.concurrency,
        rate,
        allow_private: real.allow_private,
        journal: real.journal.clone(),
        out: real.out.clone(),
        campaign_digest: digest,
        contacts_fingerprint,
        progress: callback,
        inputs: [
            ("the campaign", Some(Path::new(&source.name))),
            ("the contacts file", Some(contacts_path)),
            ("the env file", real.env_file.as_deref()),
        ]
        .into_iter()
        .filter_map(|(what, path)| Some((what, path?.to_path_buf())))
        .collect(),
    };
    // One thread drives every contact and connection: measured faster than
    // a multi-thread runtime, where each response costs a cross-thread wake.
    // Reading contacts and writing the journal have threads of their own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let stopping = Arc::new(AtomicBool::new(false));
    // SIGINT and SIGTERM stop alike; the exit status says which came.
    let stopped_by = Arc::new(std::sync::atomic::AtomicU8::new(130));
    let result = runtime.block_on(async {
        let signals = deliver::stop::StopSignals::install()
            .map_err(|e| format!("cannot handle signals: {e}"))?;
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
        .map_err(|e| e.to_string())
    });
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    print_summary(&summary);
    if summary.stopped_early {
        match &real.journal {
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
        return ExitCode::from(stopped_by.load(Ordering::Relaxed));
    }
    if summary.waiting > 0 && real.journal.is_none() {
        eprintln!(
            "{} contacts stopped at a wait; run with --journal to resume them once it has passed",
            summary.waiting
        );
    }
    if summary.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Non-blank lines in a file, for the progress bar's length. Only a regular
/// file is read twice: a pipe or `/dev/stdin` would lose what was counted.
pub(super) fn count_lines(path: &Path) -> Option<u64> {
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
