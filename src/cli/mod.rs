//! The command line: the clap definitions and the dispatch to one file per
//! subcommand (`check`, `disasm`, `run`, `report`). [`render`] is the only
//! place that renders diagnostics and summaries; [`error`] the only place
//! that chooses an exit status.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use campaign::contacts::ContactsFormat;

/// Every `eprintln!` in the CLI goes through [`output::write_stderr`], which
/// cannot panic on a closed or full stderr (`2>&1 | head`) as std's does,
/// with what a terminal would act on escaped: these lines quote paths,
/// contact ids and server replies.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        let mut line = campaign::terminal::escape_keep_lines(&format!($($arg)*)).into_owned();
        line.push('\n');
        $crate::cli::output::write_stderr(&line);
    }};
}

mod check;
mod disasm;
mod error;
mod inputs;
mod output;
mod render;
mod report;
mod run;

pub(crate) use error::Failure;

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
    Check(CheckArgs),
    /// Print the bytecode listing of a campaign.
    Disasm {
        /// The campaign file.
        file: PathBuf,
    },
    /// Run a campaign for every contact in a file.
    Run(RunArgs),
    /// Print the summary of a run from its journal.
    Report {
        /// The journal file given to `run --journal`.
        journal: PathBuf,
    },
}

#[derive(Args)]
struct CheckArgs {
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
}

#[derive(Args)]
struct RunArgs {
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

/// Parses the arguments and runs the command. `Err` says how it failed;
/// [`Failure::report`] turns that into what the user sees and the exit
/// status.
pub(crate) fn run() -> Result<(), Failure> {
    match Cli::parse().command {
        Command::Check(args) => check::check(&args),
        Command::Disasm { file } => disasm::disasm(&file),
        Command::Run(args) => run::run(&args),
        Command::Report { journal } => report::report(&journal),
    }
}
