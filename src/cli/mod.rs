//! Command-line parsing and the only place that renders diagnostics.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use miette::{GraphicalReportHandler, GraphicalTheme};

use campaign::check::Schema;
use campaign::contacts::{field_names, ContactsFormat};
use campaign::diagnostics::{Diagnostic, Report, Severity, SourceFile};
use campaign::run::dry_run::{dry_run, DryRunError, OutputFormat};

/// Every `eprintln!` in this file goes through [`write_stderr`], which
/// cannot panic on a closed or full stderr (`2>&1 | head`) as std's does,
/// with what a terminal would act on escaped: these lines quote paths,
/// contact ids and server replies.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        let mut line = campaign::terminal::escape_keep_lines(&format!($($arg)*)).into_owned();
        line.push('\n');
        write_stderr(&line);
    }};
}

/// Compile, check and run `.campaign` scripts: marketing-automation steps as text.
#[derive(Parser)]
#[command(name = "campaign", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report every error and lint in campaign files (exit 1 on any error).
    Check {
        /// Campaign files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Sample contacts (CSV, JSON or NDJSON): merge fields must be among their fields.
        #[arg(long, conflicts_with = "schema")]
        contacts: Option<PathBuf>,
        /// Format of --contacts when its extension does not tell.
        #[arg(long, value_name = "csv|json|ndjson")]
        contacts_format: Option<ContactsFormat>,
        /// Known field names: a file (one per line, or a JSON array) or a comma-separated list.
        #[arg(long, value_name = "FIELDS")]
        schema: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
        format: CheckFormat,
        /// Make warnings fail too (`--deny warnings`).
        #[arg(long, value_enum)]
        deny: Vec<Deny>,
    },
    /// Print the bytecode listing of a campaign.
    Disasm {
        /// The campaign file.
        file: PathBuf,
    },
    /// Run a campaign for every contact in a file.
    Run {
        /// The campaign file.
        file: PathBuf,
        /// Contacts: CSV with a header row, a JSON array of objects, or NDJSON.
        #[arg(long)]
        contacts: PathBuf,
        /// Format of --contacts when its extension does not tell.
        #[arg(long, value_name = "csv|json|ndjson")]
        contacts_format: Option<ContactsFormat>,
        /// Record what would happen instead of sending anything.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = RunFormat::Human)]
        format: RunFormat,
        /// Start of the virtual clock (RFC 3339), for `wait until` in a dry run; default: now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// Contacts in flight at once (real runs).
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
        concurrency: u32,
        /// Overall request rate limit, e.g. `50/s`, `600/m` (real runs).
        #[arg(long, value_name = "N/UNIT")]
        rate: Option<String>,
        /// SQLite journal: records the run and resumes it when given again.
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// Write one result line per contact (NDJSON) to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Read secrets from this file (`NAME=value` lines) as well as the environment.
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
        /// Let webhooks whose URL merges contact data reach private, loopback, link-local and other non-public addresses.
        #[arg(long)]
        allow_private: bool,
    },
    /// Print the summary of a run from its journal.
    Report {
        /// The journal file given to `run --journal`.
        journal: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum RunFormat {
    Human,
    Ndjson,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Deny {
    Warnings,
}

/// Parses arguments, runs the command, maps the outcome to an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            files,
            contacts,
            contacts_format,
            schema,
            format,
            deny,
        } => {
            let schema = match load_schema(contacts.as_deref(), contacts_format, schema.as_deref())
            {
                Ok(s) => s,
                Err(message) => return fail(&message),
            };
            check(
                &files,
                schema.as_ref(),
                format,
                deny.contains(&Deny::Warnings),
            )
        }
        Command::Disasm { file } => {
            let Some(source) = read_source(&file) else {
                return ExitCode::FAILURE;
            };
            let source = match source {
                Ok(s) => s,
                Err((file, d)) => {
                    render(&file, &[d]);
                    return ExitCode::FAILURE;
                }
            };
            match campaign::compile(&source.text, None) {
                Ok(compiled) => {
                    render(&source, &compiled.warnings);
                    let listing = compiled.program.listing();
                    if print_stdout(&campaign::terminal::escape_keep_lines(&listing)) {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(diagnostics) => {
                    render(&source, &diagnostics);
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            file,
            contacts,
            contacts_format,
            dry_run: is_dry,
            format,
            now,
            concurrency,
            rate,
            journal,
            out,
            env_file,
            allow_private,
        } => {
            let real = RealRun {
                concurrency: concurrency as usize,
                rate,
                journal,
                out,
                env_file,
                allow_private,
            };
            run(
                &file,
                &contacts,
                contacts_format,
                is_dry,
                format,
                now.as_deref(),
                real,
            )
        }
        Command::Report { journal } => report(&journal),
    }
}

/// Flags that matter only when sending for real.
struct RealRun {
    concurrency: usize,
    rate: Option<String>,
    journal: Option<PathBuf>,
    out: Option<PathBuf>,
    env_file: Option<PathBuf>,
    allow_private: bool,
}

/// Writes to stdout; false if that failed for another reason than a
/// reader that went away (see [`stdout_went_away`]).
fn print_stdout(text: &str) -> bool {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) => stdout_went_away(&e),
    }
}

/// What a failed write to stdout means. A reader that went away
/// (`| head`: a broken pipe) ends the output quietly, and the command keeps
/// the exit status it had; true then. Any other error (a full disk, a
/// closed descriptor) is reported, and false: the command fails.
fn stdout_went_away(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return true;
    }
    eprintln!("error: writing output: {e}");
    false
}

/// A JSON array written element by element, byte for byte as
/// `serde_json::to_string_pretty` writes a whole one, so memory does not
/// grow with the number of diagnostics. The first write error stops it.
struct JsonArray<W: Write> {
    out: W,
    count: usize,
    error: Option<io::Error>,
}

impl<W: Write> JsonArray<W> {
    fn new(out: W) -> Self {
        JsonArray {
            out,
            count: 0,
            error: None,
        }
    }

    fn push(&mut self, value: &serde_json::Value) {
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

    fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let end = if self.count == 0 { "[]\n" } else { "\n]\n" };
        self.out.write_all(end.as_bytes())?;
        self.out.flush()
    }
}

/// Writes to stderr, and says whether it could: a closed or full stderr
/// loses the text but never stops the command, whose exit status still
/// tells. std's `eprintln!` panics there instead.
fn write_stderr(text: &str) -> bool {
    let mut err = io::stderr().lock();
    err.write_all(text.as_bytes())
        .and_then(|()| err.flush())
        .is_ok()
}

/// `1 file`, `2 files`.
fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

type Source = Result<SourceFile, (SourceFile, Diagnostic)>;

/// Reads a campaign file. Invalid UTF-8 becomes a diagnostic at the first bad
/// byte (the source is shown lossily); an unreadable file is reported and
/// gives `None`.
fn read_source(path: &Path) -> Option<Source> {
    use campaign::input::{read_limited, InputError};
    use campaign::syntax::parser::MAX_SOURCE_BYTES;

    let name = path.display().to_string();
    let bytes = match read_limited(path, MAX_SOURCE_BYTES as u64) {
        Ok(b) => b,
        Err(InputError::TooLarge { limit, .. }) => {
            let d = Diagnostic::error(
                "campaign::source::too_large",
                campaign::syntax::span::Span::new(0, 0),
                format!("this file is larger than {}", campaign::input::Bytes(limit)),
            )
            .label("file starts here")
            .help("split the campaign into smaller files");
            return Some(Err((SourceFile::new(name, String::new()), d)));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    Some(match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(name, text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            // Offsets after the bad byte shift in the lossy text; the first bad one does not.
            let d = Diagnostic::error(
                "campaign::source::invalid_utf8",
                campaign::syntax::span::Span::new(at, at + 1),
                format!("this file is not valid UTF-8 (byte {at})"),
            )
            .label("invalid byte")
            .help("save the file as UTF-8; campaign files are text");
            Err((SourceFile::new(name, text), d))
        }
    })
}

/// Largest `--schema` file read: far beyond any real list of field names.
const SCHEMA_LIMIT: u64 = 16 << 20;

fn load_schema(
    contacts: Option<&Path>,
    format: Option<ContactsFormat>,
    schema: Option<&str>,
) -> Result<Option<Schema>, String> {
    if let Some(path) = contacts {
        let format = contacts_format(path, format)?;
        let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let fields = field_names(BufReader::new(file), format)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(Some(Schema {
            fields,
            origin: format!("the sample contacts ({})", path.display()),
        }));
    }
    let Some(schema) = schema else {
        return Ok(None);
    };
    let path = Path::new(schema);
    // Anything that exists and is not a directory is read as a file, so
    // `--schema <(...)` and `/dev/stdin` work; a list may contain no file name.
    let is_file = std::fs::metadata(path).is_ok_and(|m| !m.is_dir());
    let fields: Vec<String> = if is_file {
        let bytes = campaign::input::read_limited(path, SCHEMA_LIMIT).map_err(|e| e.to_string())?;
        let text = String::from_utf8(bytes).map_err(|e| {
            format!(
                "cannot read {schema}: not UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            )
        })?;
        if text.trim_start().starts_with('[') {
            serde_json::from_str(&text)
                .map_err(|e| format!("{schema}: expected a JSON array of field names: {e}"))?
        } else {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect()
        }
    } else if !schema.contains(',')
        && (schema.ends_with(".txt") || schema.ends_with(".json") || schema.contains('/'))
    {
        return Err(format!("cannot read schema file {schema}: no such file"));
    } else {
        schema
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect()
    };
    Ok(Some(Schema {
        fields,
        origin: if is_file {
            format!("the schema ({schema})")
        } else {
            "the schema".into()
        },
    }))
}

fn contacts_format(path: &Path, given: Option<ContactsFormat>) -> Result<ContactsFormat, String> {
    given.or_else(|| ContactsFormat::from_path(path)).ok_or_else(|| {
        format!(
            "cannot tell the format of {} from its extension; pass --contacts-format csv|json|ndjson",
            path.display()
        )
    })
}

fn check(
    files: &[PathBuf],
    schema: Option<&Schema>,
    format: CheckFormat,
    deny_warnings: bool,
) -> ExitCode {
    let mut errors = 0;
    let mut warnings = 0;
    let mut unreadable = false;
    let mut json = JsonArray::new(io::BufWriter::new(io::stdout().lock()));
    let (mut shown, mut hidden) = (0, 0);
    for path in files {
        let Some(source) = read_source(path) else {
            unreadable = true;
            continue;
        };
        let (source, diagnostics) = match source {
            Ok(s) => {
                let d = campaign::diagnose(&s.text, schema);
                (s, d)
            }
            Err((s, d)) => (s, vec![d]),
        };
        errors += diagnostics.iter().filter(|d| d.is_error()).count();
        warnings += diagnostics.iter().filter(|d| !d.is_error()).count();
        match format {
            CheckFormat::Human => hidden += render_capped(&source, &diagnostics, &mut shown),
            CheckFormat::Json => {
                for d in &diagnostics {
                    json.push(&diagnostic_json(&source, d));
                }
            }
        }
    }
    match format {
        CheckFormat::Json => {
            if let Err(e) = json.finish() {
                if !stdout_went_away(&e) {
                    return ExitCode::FAILURE;
                }
            }
        }
        CheckFormat::Human => {
            note_hidden(hidden);
            eprintln!(
                "checked {}: {}, {}",
                plural(files.len() as u64, "file"),
                plural(errors as u64, "error"),
                plural(warnings as u64, "warning")
            );
        }
    }
    if unreadable || errors > 0 || (deny_warnings && warnings > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Longest `message`, `label` or `help` in JSON output, in bytes.
const JSON_TEXT_BYTES: usize = 1024;

fn diagnostic_json(source: &SourceFile, d: &Diagnostic) -> serde_json::Value {
    use campaign::diagnostics::clip;
    let (line, column) = source.line_col(d.span.start);
    let (end_line, end_column) = source.line_col(d.span.end);
    serde_json::json!({
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
    })
}

/// Diagnostics rendered per command: the first ones explain the rest, and
/// thousands would bury the summary. `--format json` lists them all.
const SHOWN_DIAGNOSTICS: usize = 200;

/// Renders diagnostics to stderr with miette (at most
/// [`SHOWN_DIAGNOSTICS`], then a count of the rest); colour only on a
/// terminal and when NO_COLOR is unset.
fn render(source: &SourceFile, diagnostics: &[Diagnostic]) {
    let mut shown = 0;
    let hidden = render_capped(source, diagnostics, &mut shown);
    note_hidden(hidden);
}

/// Renders while `shown` is under the cap, counting what it renders;
/// returns how many it left out.
fn render_capped(source: &SourceFile, diagnostics: &[Diagnostic], shown: &mut usize) -> usize {
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
fn note_hidden(hidden: usize) {
    if hidden > 0 {
        eprintln!(
            "note: {} not shown (the first {SHOWN_DIAGNOSTICS} are); `--format json` lists them all",
            plural(hidden as u64, "more diagnostic")
        );
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn run(
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

fn deliver(
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

fn ms(d: std::time::Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

fn print_summary(s: &campaign::deliver::Summary) {
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

fn report(path: &Path) -> ExitCode {
    match campaign::deliver::journal::summary(path) {
        Ok(summary) => {
            if print_stdout(&render_journal_summary(&summary)) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn render_journal_summary(s: &campaign::deliver::journal::Summary) -> String {
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
