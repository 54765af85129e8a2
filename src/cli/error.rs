//! How a command fails, and the one place that turns a failure into what
//! the user sees and the exit status.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use campaign::deliver::journal::JournalError;
use campaign::deliver::secrets::SecretsError;
use campaign::deliver::DeliverError;
use campaign::input::InputError;
use campaign::run::dry_run::DryRunError;
use campaign::schema::SchemaError;

/// An error that stops a command before it could do its work, shown as
/// `error: ...`. Each says what went wrong in the user's terms (the flag,
/// the file); none carries a secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A campaign file that cannot be read at all.
    #[error(transparent)]
    Input(#[from] InputError),
    /// `--contacts` or `--schema` for `check`.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// No `--contacts-format`, and the extension does not tell.
    #[error(
        "cannot tell the format of {} from its extension; pass --contacts-format csv|json|ndjson",
        .0.display()
    )]
    ContactsFormat(PathBuf),
    /// `--now` is not an RFC 3339 time.
    #[error("--now {text:?} is not an RFC 3339 time ({source}); e.g. 2026-11-27T09:00:00Z")]
    Now {
        /// The value given.
        text: String,
        /// Why it does not parse.
        source: chrono::ParseError,
    },
    /// The contacts file cannot be opened.
    #[error("cannot read {}: {source}", .path.display())]
    OpenContacts {
        /// The contacts file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The contacts file could not be fingerprinted for the journal.
    #[error("{}: {source}", .path.display())]
    Fingerprint {
        /// The contacts file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A dry run stopped: its contacts could not be read.
    #[error("{}: {source}", .contacts.display())]
    DryRun {
        /// The contacts file.
        contacts: PathBuf,
        /// What went wrong.
        source: DryRunError,
    },
    /// `campaign new` with a name that cannot be a file name.
    #[error("{0:?} cannot name a campaign file: use a name without `/`, `\\`, control characters or a leading `.`")]
    NewName(String),
    /// `campaign new` would replace a file.
    #[error("{} already exists; nothing was written", .0.display())]
    NewExists(PathBuf),
    /// `campaign new` could not write a file.
    #[error("cannot write {}: {source}", .path.display())]
    NewWrite {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// `-` given for two inputs of one command.
    #[error("stdin (`-`) can be only one of the inputs")]
    StdinTwice,
    /// `--journal` with contacts that cannot be read again.
    #[error("--journal needs contacts it can read again to resume: give a file, not a pipe, as --contacts")]
    JournalNeedsFile,
    /// `--rate` does not parse.
    #[error("--rate: {0}")]
    Rate(String),
    /// A secret is missing, or the env file cannot be used.
    #[error("{0}; nothing was sent")]
    Secrets(#[from] SecretsError),
    /// The async runtime of a real run did not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(io::Error),
    /// SIGINT and SIGTERM cannot be watched.
    #[error("cannot handle signals: {0}")]
    Signals(io::Error),
    /// A real run could not start or go on.
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    /// `campaign report` cannot read the journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// `serve` could not start or went down.
    #[error(transparent)]
    Serve(#[from] campaign::serve::ServeError),
    /// The server's database.
    #[error(transparent)]
    Store(campaign::store::StoreError),
    /// `serve` without a token.
    #[error("set CAMPAIGN_API_TOKEN to the bearer token the /v1 API requires, or pass --no-api")]
    NoToken,
    /// `serve` found no campaign file.
    #[error("no .campaign files in the paths given")]
    NoCampaigns,
    /// `status`, `revisions`, `migrate` or `enroll` named an SQLite file
    /// that is not there (opening it would make an empty one).
    #[error("no database at {}: `campaign serve` makes it; pass --db to name another", .0.display())]
    NoDatabase(PathBuf),
    /// Another `serve` has the database.
    #[error("another campaign serve is running on {}", .0.display())]
    ServeRunning(PathBuf),
    /// `--retry-schedule` does not parse.
    #[error("--retry-schedule: {0:?} is not a duration such as 30s, 5m or 2h")]
    Schedule(String),
    /// `enroll` could not read its contacts.
    #[error("enroll: {0}")]
    Enroll(String),
    /// `campaign test` found nothing to run.
    #[error("test: {0}")]
    Test(String),
    /// `migrate` cannot do what was asked.
    #[error("migrate: {0}")]
    Migrate(String),
    /// `graph` cannot draw the view asked for.
    #[error(transparent)]
    GraphView(#[from] campaign::graph::ViewError),
    /// `graph --contacts`: the dry run found the program unlike its steps.
    #[error(transparent)]
    GraphShape(campaign::graph::counts::ShapeError),
    /// `graph -o FILE` could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    GraphWrite {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// Stdout failed for another reason than a reader that went away.
    #[error("writing output: {0}")]
    Output(io::Error),
    /// `campaign.toml` (or the sample it names) cannot be used.
    #[error(transparent)]
    Workspace(#[from] campaign::workspace::WorkspaceError),
    /// The language server stopped on a broken connection.
    #[error(transparent)]
    Lsp(#[from] campaign::lsp::server::ServerError),
}

/// How a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// It ran and already said what failed (diagnostics, failed contacts,
    /// a summary).
    Reported,
    /// It stopped on an error not shown yet.
    Error(CliError),
    /// A signal stopped a real run early: the status is 128 plus its
    /// number (`StopSignal::exit_status`).
    Stopped(u8),
}

impl<E: Into<CliError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(e.into())
    }
}

impl Failure {
    /// Shows what the user has not been told yet and gives the exit status:
    /// 1 for any failure, 128 plus the signal's number when one stopped a
    /// run.
    pub(crate) fn report(self) -> ExitCode {
        match self {
            Failure::Reported => ExitCode::FAILURE,
            Failure::Error(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
            Failure::Stopped(status) => ExitCode::from(status),
        }
    }
}
