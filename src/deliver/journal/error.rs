//! What can go wrong with a journal, for every part of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::ErrorCode;

use super::schema::SCHEMA_VERSION;

/// Why a journal could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// `campaign report` was given a path where there is no file.
    #[error("journal {} does not exist", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The file is not a campaign journal (not SQLite at all, or another
    /// program's database). It is left untouched.
    #[error("{} is not a campaign journal ({reason})", path.display())]
    NotAJournal {
        /// The path given.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The journal was written by a newer `campaign` with a schema this
    /// build does not know.
    #[error(
        "journal {} has format version {found}, but this build of campaign reads version {SCHEMA_VERSION}",
        path.display()
    )]
    UnsupportedVersion {
        /// The journal's path.
        path: PathBuf,
        /// The version in the file.
        found: i64,
    },
    /// The journal belongs to a different compiled campaign. Resuming would
    /// replay contacts against steps they never ran, so it is refused.
    #[error(
        "journal {} records a run of campaign \"{campaign}\" compiled from different source; use another journal file, or restore that campaign to resume it",
        path.display()
    )]
    OtherCampaign {
        /// The journal's path.
        path: PathBuf,
        /// The campaign name stored in the journal.
        campaign: String,
        /// The digest stored in the journal.
        found: String,
        /// The digest of the campaign being run.
        expected: String,
    },
    /// The journal records a run over a different contacts file. Resuming
    /// would skip, replay or send to records by ids that now mean other
    /// people, or send with new keys, so it is refused.
    #[error(
        "journal {} records a run over different contacts (the contacts file changed since the run began: records inserted, removed or edited); restore the original file to resume, or start a new journal for the new one (recorded {found}; now {expected})",
        path.display()
    )]
    OtherContacts {
        /// The journal's path.
        path: PathBuf,
        /// The fingerprint stored in the journal.
        found: String,
        /// The fingerprint of the contacts given now.
        expected: String,
    },
    /// The last session of the journal did not end (the process was killed
    /// or crashed) and its write-ahead log, which held what that session
    /// recorded since it began, is missing. Resuming from the older records
    /// in the main file would send again what was already delivered, so it
    /// is refused.
    #[error(
        "journal {} is missing data: its last session did not end cleanly and its write-ahead log {} is gone, so what that session recorded is lost; put the -wal file back beside the journal to resume (a journal and its -wal file must be kept, moved and copied together)",
        path.display(),
        wal.display()
    )]
    LostLog {
        /// The journal's path.
        path: PathBuf,
        /// Where the log should be.
        wal: PathBuf,
    },
    /// A journal of an older format that a run cannot resume (it does not
    /// record its contacts file); `campaign report` still reads it.
    #[error(
        "journal {} has format version {found}, which this build of campaign can report on but not resume; finish it with the build that started it, or start a new journal",
        path.display()
    )]
    OldVersion {
        /// The journal's path.
        path: PathBuf,
        /// The version in the file.
        found: i64,
    },
    /// Another connection kept the session from being written into the main
    /// file (a long read by another program).
    #[error(
        "journal {}: another program is reading it and kept the run from saving its start; try again",
        path.display()
    )]
    Busy {
        /// The journal's path.
        path: PathBuf,
    },
    /// The file is a journal but holds something this build cannot read
    /// (a damaged page, an impossible value).
    #[error("journal {} is damaged: {detail}", path.display())]
    Corrupt {
        /// The journal's path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// SQLite would not put the file in write-ahead-log mode (some network
    /// file systems cannot), without which the writer would block readers.
    #[error(
        "journal {}: cannot use write-ahead logging (journal mode stayed {mode}); put the journal on a local disk",
        path.display()
    )]
    NoWal {
        /// The journal's path.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// Another process has this journal open for a run. Two runs on one
    /// journal could each send what the other has not yet recorded.
    #[error(
        "journal {} is in use by another `campaign run`; let it finish (or stop it with Ctrl-C), then run again to resume",
        path.display()
    )]
    InUse {
        /// The journal's path.
        path: PathBuf,
    },
    /// The journal file could not be opened or locked.
    #[error("journal {}: cannot open and lock it: {source}", path.display())]
    Lock {
        /// The journal's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed (I/O error, disk full, locked by another process...).
    #[error("journal {}: {source}", path.display())]
    Sqlite {
        /// The journal's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The background writer stopped after an error; entries recorded since
    /// its last commit are lost (their requests will be re-sent on resume with
    /// the same idempotency keys).
    #[error("journal {} stopped recording: {source}", path.display())]
    Writer {
        /// The journal's path.
        path: PathBuf,
        /// Why the writer stopped, shared by every error that reports it.
        #[source]
        source: Arc<WriterFailure>,
    },
}

/// Why the background writer stopped recording.
#[derive(Debug, thiserror::Error)]
pub enum WriterFailure {
    /// SQLite failed (a full disk, an I/O error...).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The writer thread could not be started.
    #[error("cannot start the writer thread: {0}")]
    Start(std::io::Error),
    /// The writer thread panicked.
    #[error("the writer thread panicked")]
    Panicked,
    /// The journal was closed while something still used it.
    #[error("the journal is closed")]
    Closed,
}

impl JournalError {
    /// Classifies an SQLite error: "not a database" and corruption get their
    /// own variants so the user is told what is wrong with the file rather
    /// than an SQLite code.
    pub(super) fn from_sqlite(path: &Path, source: rusqlite::Error) -> Self {
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => JournalError::NotAJournal {
                path: path.to_path_buf(),
                reason: "not an SQLite database".to_string(),
            },
            Some(ErrorCode::DatabaseCorrupt) => JournalError::Corrupt {
                path: path.to_path_buf(),
                detail: source.to_string(),
            },
            _ => match source {
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::InvalidColumnType(..) => JournalError::Corrupt {
                    path: path.to_path_buf(),
                    detail: source.to_string(),
                },
                source => JournalError::Sqlite {
                    path: path.to_path_buf(),
                    source,
                },
            },
        }
    }

    pub(super) fn corrupt(path: &Path, detail: impl Into<String>) -> Self {
        JournalError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}
