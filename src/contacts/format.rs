//! Which format a contacts file is in.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The format of a contacts file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactsFormat {
    /// Comma-separated values with a header row naming the fields.
    Csv,
    /// One JSON array of contact objects.
    Json,
    /// One JSON contact object per line (also known as JSON Lines).
    Ndjson,
}

impl ContactsFormat {
    /// By extension: `.csv`, `.json`, `.ndjson` / `.jsonl` (case-insensitive);
    /// `None` otherwise, so the caller can ask for `--contacts-format`.
    pub fn from_path(path: &Path) -> Option<ContactsFormat> {
        ContactsFormat::named(path.extension()?.to_str()?)
    }

    /// The format `name` names: `csv`, `json`, `ndjson` or `jsonl`, in any
    /// case.
    fn named(name: &str) -> Option<ContactsFormat> {
        if name.eq_ignore_ascii_case("csv") {
            Some(ContactsFormat::Csv)
        } else if name.eq_ignore_ascii_case("json") {
            Some(ContactsFormat::Json)
        } else if name.eq_ignore_ascii_case("ndjson") || name.eq_ignore_ascii_case("jsonl") {
            Some(ContactsFormat::Ndjson)
        } else {
            None
        }
    }

    /// The name accepted by [`FromStr`] (`csv`, `json`, `ndjson`).
    pub fn name(self) -> &'static str {
        match self {
            ContactsFormat::Csv => "csv",
            ContactsFormat::Json => "json",
            ContactsFormat::Ndjson => "ndjson",
        }
    }
}

impl fmt::Display for ContactsFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--contacts-format` value that names no known format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown contacts format `{0}` (expected csv, json or ndjson)")]
pub struct UnknownFormat(pub String);

impl FromStr for ContactsFormat {
    type Err = UnknownFormat;

    /// `csv`, `json`, `ndjson` (or its alias `jsonl`), case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        ContactsFormat::named(s).ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}
