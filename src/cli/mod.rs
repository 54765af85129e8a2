//! The command line: the clap definitions and the dispatch to one file per
//! subcommand (`check`, `disasm`, `run`, `report`, `new`; completions and
//! the man page come from the clap definitions). [`render`] is the only
//! place that renders diagnostics and summaries; [`error`] the only place
//! that chooses an exit status.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use campaign::contacts::ContactsFormat;
use campaign::deliver::rate::{parse_rate, Rate};

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

/// A summary or note on stderr, left out with `-q`.
macro_rules! note {
    ($($arg:tt)*) => {{
        if $crate::cli::output::chatty() {
            eprintln!($($arg)*);
        }
    }};
}

mod check;
mod color;
mod diff;
mod disasm;
mod error;
mod fmt;
mod graph;
mod inputs;
mod lsp;
mod new;
mod output;
mod render;
mod report;
mod run;
mod serve;
mod test;

pub(crate) use error::Failure;

/// Compile, check and run `.campaign` scripts: marketing-automation steps as text.
#[derive(Parser)]
#[command(
    name = "campaign",
    version,
    about,
    long_about = None,
    after_help = "Examples:
  campaign new welcome                 write welcome.campaign, its sample contacts and a test
  campaign check welcome.campaign      every error and lint, at the exact characters
  campaign run welcome.campaign -c welcome.contacts.csv --dry-run
                                       every request, byte for byte; nothing is sent

Docs: README.md and docs/ (docs/cli.md for every command and flag)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// When to colour diagnostics: `auto` (a terminal, unless NO_COLOR is set or CLICOLOR_FORCE asks for colour), `always`, `never`.
    #[arg(long, global = true, value_enum, default_value_t = color::When::Auto, value_name = "WHEN")]
    color: color::When,
    /// Print only errors and diagnostics: no progress, summaries or notes.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more: every step's latency in a run's summary, and a line per file in `check`.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Report every error and lint in campaign files (exit 1 on any error).
    #[command(after_help = "Examples:
  campaign check welcome.campaign
  campaign check campaigns/*.campaign --contacts sample.csv --deny warnings
  campaign check - < welcome.campaign
  campaign check welcome.campaign --format json | jq .")]
    Check(CheckArgs),
    /// Print the bytecode listing of a campaign.
    #[command(after_help = "Examples:
  campaign disasm welcome.campaign
  campaign disasm welcome.campaign --format json")]
    Disasm(DisasmArgs),
    /// Run a campaign for every contact in a file (a dry run with --dry-run).
    #[command(after_help = "Examples:
  campaign run welcome.campaign -c contacts.csv --dry-run
  campaign run welcome.campaign -c contacts.csv -n -f ndjson --now 2026-12-01T09:00:00Z
  campaign run welcome.campaign -c contacts.csv --journal run.sqlite -o results.ndjson -e .env
  cat contacts.ndjson | campaign run welcome.campaign -c - --dry-run")]
    Run(RunArgs),
    /// Print the summary of a run from its journal.
    #[command(after_help = "Examples:
  campaign report run.sqlite
  campaign report run.sqlite --format json")]
    Report(ReportArgs),
    /// Show what a change does to the requests: two dry runs over the same contacts, compared.
    #[command(after_help = "Examples:
  campaign diff old.campaign welcome.campaign -c sample.csv
  campaign diff HEAD:welcome.campaign welcome.campaign -c sample.csv --now 2026-12-01T09:00:00Z
  campaign diff old.campaign new.campaign -c sample.csv --format json | jq .summary

Exit status: 0 the same, 1 different, 2 trouble (as diff)")]
    Diff(DiffArgs),
    /// Run every *.campaign.test: dry runs checked against golden files and expectations.
    #[command(after_help = "Examples:
  campaign test                      every *.campaign.test under this folder
  campaign test tests/ --update      rewrite the golden files
  campaign test --format junit > report.xml

Exit status: 0 all passed, 1 a test failed or is new")]
    Test(TestArgs),
    /// Run campaigns live: inbound webhooks, the contacts API, durable waits and goals.
    #[command(after_help = "Examples:
  CAMPAIGN_API_TOKEN=... campaign serve campaigns/ --db campaign.db --listen 127.0.0.1:8080
  campaign serve welcome.campaign --no-api -e .env --log-format json
  kill -HUP <pid>       reload the campaigns (changed ones become new revisions)

The live map is at http://ADDR/: sign in with CAMPAIGN_API_TOKEN, or with
CAMPAIGN_MAP_TOKEN, which opens the map and nothing else.")]
    Serve(ServeArgs),
    /// Put a file of contacts into a served campaign, through its database.
    #[command(after_help = "Example:
  campaign enroll Welcome --contacts leads.csv --db campaign.db")]
    Enroll(EnrollArgs),
    /// Count contacts per campaign, revision, state and step.
    #[command(after_help = "Examples:
  campaign status --db campaign.db
  campaign status --db campaign.db --format json")]
    Status(StatusArgs),
    /// List a campaign's revisions with their counts.
    #[command(after_help = "Example:
  campaign revisions --db campaign.db Welcome")]
    Revisions(RevisionsArgs),
    /// Move contacts waiting in one revision to the same wait in another.
    #[command(after_help = "Examples:
  campaign migrate --db campaign.db Welcome --from 1 --to 2 --dry-run
  campaign migrate --db campaign.db Welcome --from 1 --to 2")]
    Migrate(MigrateArgs),
    /// Write a commented starter campaign, sample contacts and a test that check, run and pass.
    #[command(after_help = "Example:
  campaign new welcome     writes welcome.campaign, welcome.contacts.csv and welcome.campaign.test here")]
    New(NewArgs),
    /// Rewrite campaign files in the one canonical style, comments kept (`--check` for CI, `-` for editors).
    #[command(after_help = "Examples:
  campaign fmt welcome.campaign campaigns/*.campaign
  campaign fmt --check campaigns/*.campaign          exit 1 and list the files that would change
  campaign fmt --check --diff welcome.campaign       the change as a unified diff
  campaign fmt - < welcome.campaign                  stdin to stdout, for editors

Exit status: 0 done (or nothing to change), 1 a file would change (--check), has syntax errors or cannot be read or written")]
    Fmt(FmtArgs),
    /// Draw a campaign as a flow chart (SVG, DOT, Mermaid or JSON), with a dry run's counts per step.
    #[command(after_help = "Examples:
  campaign graph welcome.campaign -o welcome.svg
  campaign graph welcome.campaign --format mermaid >> README.md
  campaign graph welcome.campaign -c sample.csv --now 2026-12-01T09:00:00Z -o counted.svg
  campaign graph big.campaign --collapse            one box per top-level if/split, sections past --max-nodes
  campaign graph big.campaign --block s12 -f dot    one step's blocks

Exit status: 0 drawn, 1 the campaign has errors, the picture is too large, or an input cannot be read")]
    Graph(GraphArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  campaign completions bash > ~/.local/share/bash-completion/completions/campaign
  campaign completions zsh > ~/.zfunc/_campaign
  campaign completions fish > ~/.config/fish/completions/campaign.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `man`.
    #[command(after_help = "Example:
  campaign man > ~/.local/share/man/man1/campaign.1 && man campaign")]
    Man,
    /// Run the language server on stdin and stdout, for editors.
    #[command(after_help = "Editors start it themselves; see docs/editors.md.
Settings: campaign.toml beside the scripts (contacts, contacts_format, env_file).")]
    Lsp,
}

#[derive(Args)]
struct CheckArgs {
    /// Campaign files to check (`-` reads one from stdin).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Sample contacts (CSV, JSON or NDJSON; `-` for stdin): merge fields must be among their fields.
    #[arg(short, long, conflicts_with = "schema")]
    contacts: Option<PathBuf>,
    /// Format of --contacts when its extension does not tell (stdin is sniffed).
    #[arg(long, value_name = "csv|json|ndjson")]
    contacts_format: Option<ContactsFormat>,
    /// Known field names: a file (one per line, or a JSON array) or a comma-separated list.
    #[arg(short, long, value_name = "FIELDS")]
    schema: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = CheckFormat::Human)]
    format: CheckFormat,
    /// Make warnings fail too (`--deny warnings`).
    #[arg(long, value_enum)]
    deny: Vec<Deny>,
    /// Ignore campaign.toml (whose `contacts` otherwise gives the known fields).
    #[arg(long)]
    no_workspace: bool,
}

#[derive(Args)]
struct FmtArgs {
    /// Campaign files to format in place (`-` reads one from stdin and writes it to stdout).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write nothing: list the files that would change, and exit 1 if any would.
    #[arg(long)]
    check: bool,
    /// With --check, print each change as a unified diff instead of the file's name.
    #[arg(long, requires = "check")]
    diff: bool,
}

#[derive(Args)]
struct DisasmArgs {
    /// The campaign file (`-` for stdin).
    file: PathBuf,
    /// Output format: the listing, or the program as JSON.
    #[arg(short, long, value_enum, default_value_t = DataFormat::Human)]
    format: DataFormat,
}

#[derive(Args)]
struct GraphArgs {
    /// The campaign file (`-` for stdin).
    file: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = GraphFormat::Svg)]
    format: GraphFormat,
    /// Write the picture here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Contacts to dry-run (CSV, JSON or NDJSON; `-` for stdin): every node and edge shows how many passed it.
    #[arg(short, long, value_name = "FILE")]
    contacts: Option<PathBuf>,
    /// Format of --contacts when its extension does not tell (stdin is sniffed).
    #[arg(long, value_name = "csv|json|ndjson", requires = "contacts")]
    contacts_format: Option<ContactsFormat>,
    /// Start of the dry run's virtual clock (RFC 3339), for `wait until`; default: now.
    #[arg(long, value_name = "RFC3339", requires = "contacts")]
    now: Option<String>,
    /// Draw each top-level if/split as one box, and runs of top-level steps as sections when still over --max-nodes.
    #[arg(long)]
    collapse: bool,
    /// Draw only this step (an id such as s12 or s3_1_0) or section (s0-s49, from the collapsed view).
    #[arg(long, value_name = "ID")]
    block: Option<String>,
    /// The most nodes one picture may have (svg, dot, mermaid; json has no limit).
    #[arg(long, value_name = "N", default_value_t = campaign::graph::MAX_NODES, value_parser = clap::value_parser!(usize))]
    max_nodes: usize,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum GraphFormat {
    Svg,
    Dot,
    Mermaid,
    Json,
}

#[derive(Args)]
struct ReportArgs {
    /// The journal file given to `run --journal`.
    journal: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = DataFormat::Human)]
    format: DataFormat,
}

#[derive(Args)]
struct NewArgs {
    /// The campaign's name: writes NAME.campaign and NAME.contacts.csv.
    name: String,
    /// The folder to write them in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    /// The campaign file (`-` for stdin).
    file: PathBuf,
    /// Contacts: CSV with a header row, a JSON array of objects, or NDJSON (`-` for stdin).
    #[arg(short, long)]
    contacts: PathBuf,
    /// Format of --contacts when its extension does not tell (stdin is sniffed).
    #[arg(long, value_name = "csv|json|ndjson")]
    contacts_format: Option<ContactsFormat>,
    /// Record what would happen instead of sending anything.
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// Output format of a dry run.
    #[arg(short, long, value_enum, default_value_t = RunFormat::Human, requires = "dry_run")]
    format: RunFormat,
    /// Start of a dry run's virtual clock (RFC 3339), for `wait until`; default: now.
    #[arg(long, value_name = "RFC3339", requires = "dry_run")]
    now: Option<String>,
    /// Contacts in flight at once, 1 to 4096 (real runs).
    #[arg(short = 'j', long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096), conflicts_with = "dry_run")]
    concurrency: u32,
    /// Overall request rate limit, e.g. `50/s`, `600/minute`, `10/hours` (real runs).
    #[arg(long, value_name = "N/UNIT", conflicts_with = "dry_run")]
    rate: Option<String>,
    /// SQLite journal: records the run and resumes it when given again (real runs).
    #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
    journal: Option<PathBuf>,
    /// Write one result line per contact (NDJSON) to this file (real runs).
    #[arg(short, long, value_name = "FILE", conflicts_with = "dry_run")]
    out: Option<PathBuf>,
    /// Read secrets from this file (`NAME=value` lines) as well as the environment (real runs).
    #[arg(short, long, value_name = "FILE", conflicts_with = "dry_run")]
    env_file: Option<PathBuf>,
    /// Let webhooks whose URL merges contact data reach private, loopback, link-local and other non-public addresses (real runs).
    #[arg(long, conflicts_with = "dry_run")]
    allow_private: bool,
}

#[derive(Args)]
struct DiffArgs {
    /// The campaign before: a file, or REV:path (read with `git show`).
    old: String,
    /// The campaign after.
    new: PathBuf,
    /// The contacts both dry runs run (a file: it is read twice).
    #[arg(short, long)]
    contacts: PathBuf,
    #[arg(long, value_name = "csv|json|ndjson")]
    contacts_format: Option<ContactsFormat>,
    /// When the contacts enter (both runs); default: now.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    #[arg(short, long, value_enum, default_value_t = DataFormat::Human)]
    format: DataFormat,
    /// Also report differences in idempotency keys.
    #[arg(long)]
    keys: bool,
}

#[derive(Args)]
struct TestArgs {
    /// Test files, or folders searched for *.campaign.test (default: here).
    paths: Vec<PathBuf>,
    /// Rewrite the golden files with what the dry runs print now.
    #[arg(long)]
    update: bool,
    #[arg(short, long, value_enum, default_value_t = TestFormat::Human)]
    format: TestFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum TestFormat {
    Human,
    Junit,
}

#[derive(Args)]
struct ServeArgs {
    /// `.campaign` files, or folders of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The database: an SQLite file (created if missing) or a postgres:// URL.
    #[arg(long, default_value = "campaign.db")]
    db: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// Contacts run at once.
    #[arg(short = 'j', long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Overall send rate, e.g. 10/s.
    #[arg(long, value_name = "N/UNIT")]
    rate: Option<String>,
    /// Secrets file (KEY=value lines).
    #[arg(short, long, value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// Let `dynamic host` webhooks reach private addresses.
    #[arg(long)]
    allow_private: bool,
    /// Serve no /v1 API (no CAMPAIGN_API_TOKEN needed).
    #[arg(long)]
    no_api: bool,
    /// Log lines for people or as JSON.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Long-term retries after a webhook's own retries fail, e.g. 5s,5m,30m,2h.
    #[arg(long, value_name = "LIST")]
    retry_schedule: Option<String>,
    /// Days finished contacts' positions and send attempts are kept (0: for ever).
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    retention: u64,
    /// Seconds in-flight work may take to finish at shutdown.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    grace: u64,
    /// Seconds a worker's claim on a contact lasts unless renewed (renewed every third of it).
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    lease: u64,
}

#[derive(Args)]
struct EnrollArgs {
    /// The campaign's name (or its .campaign file).
    campaign: String,
    #[arg(short, long)]
    contacts: PathBuf,
    #[arg(long, value_name = "csv|json|ndjson")]
    contacts_format: Option<ContactsFormat>,
    #[arg(long, default_value = "campaign.db")]
    db: PathBuf,
}

#[derive(Args)]
struct StatusArgs {
    #[arg(long, default_value = "campaign.db")]
    db: PathBuf,
    #[arg(short, long, value_enum, default_value_t = DataFormat::Human)]
    format: DataFormat,
}

#[derive(Args)]
struct RevisionsArgs {
    /// The campaign's name (or its .campaign file).
    campaign: String,
    #[arg(long, default_value = "campaign.db")]
    db: PathBuf,
    #[arg(short, long, value_enum, default_value_t = DataFormat::Human)]
    format: DataFormat,
}

#[derive(Args)]
struct MigrateArgs {
    /// The campaign's name (or its .campaign file).
    campaign: String,
    #[arg(long, default_value = "campaign.db")]
    db: PathBuf,
    /// The revision the contacts wait in.
    #[arg(long, value_name = "R")]
    from: i64,
    /// The revision to move them to.
    #[arg(long, value_name = "S")]
    to: i64,
    /// Report what would move; move nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
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

/// `disasm` and `report`: for people, or as JSON for tools.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum DataFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Deny {
    Warnings,
}

/// How much the commands print besides their output and diagnostics.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// The `--rate` of `run` and `serve`, read by the parser a script's `rate`
/// uses, so both commands take and refuse the same rates with the same words.
fn rate_flag(text: Option<&str>) -> Result<Option<Rate>, error::CliError> {
    text.map(parse_rate)
        .transpose()
        .map_err(|e| error::CliError::Rate(e.to_string()))
}

/// Parses the arguments and runs the command. `Err` says how it failed;
/// [`Failure::report`] turns that into what the user sees and the exit
/// status.
pub(crate) fn run() -> Result<(), Failure> {
    let cli = Cli::parse();
    color::set(cli.color);
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    output::set_verbosity(verbosity);
    match cli.command {
        Command::Check(args) => check::check(&args),
        Command::Disasm(args) => disasm::disasm(&args),
        Command::Fmt(args) => fmt::fmt(&args),
        Command::Run(args) => run::run(&args),
        Command::Report(args) => report::report(&args),
        Command::New(args) => new::new(&args),
        Command::Diff(args) => diff::diff(&args),
        Command::Test(args) => test::test(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Enroll(args) => serve::enroll(&args),
        Command::Status(args) => serve::status(&args),
        Command::Revisions(args) => serve::revisions(&args),
        Command::Migrate(args) => serve::migrate(&args),
        Command::Graph(args) => graph::graph(&args),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "campaign", &mut out);
            output::print_stdout(&String::from_utf8_lossy(&out))?;
            Ok(())
        }
        Command::Lsp => lsp::lsp(),
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(error::CliError::Output)?;
            output::print_stdout(&String::from_utf8_lossy(&out))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_rate_flag_reads_a_script_rate_and_names_itself_when_refused() {
        assert_eq!(rate_flag(None).unwrap(), None);
        assert_eq!(
            rate_flag(Some("10/hours")).unwrap(),
            Some(Rate {
                count: 10,
                per: Duration::from_secs(3600)
            })
        );
        let refused = rate_flag(Some("10/fortnight")).unwrap_err().to_string();
        assert!(
            refused.starts_with("--rate: invalid rate `10/fortnight`: unknown unit `fortnight`"),
            "{refused}"
        );
    }
}
