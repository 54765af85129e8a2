//! Loading a [`Schema`], the fields contacts are known to have, for
//! `campaign check`: from a sample contacts file (`--contacts`), or from a
//! list of names given as a file or inline (`--schema`).
//!
//! It sits above [`crate::check`], whose [`Schema`] it fills, and
//! [`crate::contacts`], whose reader it asks for the names; nothing below
//! the CLI uses it.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use crate::check::Schema;
use crate::contacts::{field_names, ContactsError, ContactsFormat};
use crate::input::{read_limited, InputError};

/// Largest `--schema` file read: far beyond any real list of field names.
pub const SCHEMA_LIMIT: u64 = 16 << 20;

/// Why the known field names could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The sample contacts file cannot be opened.
    #[error("cannot read {}: {source}", .path.display())]
    Open {
        /// The sample.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The sample contacts file cannot be read as contacts.
    #[error("{}: {source}", .path.display())]
    Contacts {
        /// The sample.
        path: PathBuf,
        /// What went wrong.
        source: ContactsError,
    },
    /// The list file cannot be read, or is over [`SCHEMA_LIMIT`].
    #[error(transparent)]
    Read(#[from] InputError),
    /// The list file is not UTF-8.
    #[error("cannot read {list}: not UTF-8 (byte {at})")]
    NotUtf8 {
        /// The list file, as given.
        list: String,
        /// The offset of the first byte that is not UTF-8.
        at: usize,
    },
    /// The list file starts like JSON but is not an array of strings.
    #[error("{list}: expected a JSON array of field names: {source}")]
    NotJsonArray {
        /// The list file, as given.
        list: String,
        /// What the JSON parser found.
        source: serde_json::Error,
    },
    /// The value names a file (it looks like a path) that does not exist.
    #[error("cannot read schema file {0}: no such file")]
    NoSuchFile(String),
}

/// The fields of a sample contacts file: what a run would read of it (see
/// [`field_names`]).
pub fn from_contacts(path: &Path, format: ContactsFormat) -> Result<Schema, SchemaError> {
    let file = File::open(path).map_err(|source| SchemaError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    from_reader(BufReader::new(file), format, path)
}

/// The fields of sample contacts read from `input` (stdin, say); `path`
/// names it in messages.
pub fn from_reader(
    input: impl std::io::BufRead,
    format: ContactsFormat,
    path: &Path,
) -> Result<Schema, SchemaError> {
    let fields = field_names(input, format).map_err(|source| SchemaError::Contacts {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Schema {
        fields,
        origin: format!("the sample contacts ({})", path.display()),
    })
}

/// The fields named by `list`: a file (one name per line, blank lines and
/// `#` comments skipped, or a JSON array of strings) or, when no such file
/// exists, a comma-separated list. Anything that exists and is not a
/// directory is read as a file, so `<(...)` and `/dev/stdin` work; a value
/// without a comma that looks like a path (a `/`, or ending in `.txt` or
/// `.json`) but does not exist is an error, not a one-name list.
pub fn from_list(list: &str) -> Result<Schema, SchemaError> {
    let path = Path::new(list);
    let is_file = std::fs::metadata(path).is_ok_and(|m| !m.is_dir());
    if is_file {
        return Ok(Schema {
            fields: read_list_file(list)?,
            origin: format!("the schema ({list})"),
        });
    }
    if !list.contains(',')
        && (list.ends_with(".txt") || list.ends_with(".json") || list.contains('/'))
    {
        return Err(SchemaError::NoSuchFile(list.to_owned()));
    }
    Ok(Schema {
        fields: list
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect(),
        origin: "the schema".into(),
    })
}

/// The names in a list file.
fn read_list_file(list: &str) -> Result<Vec<String>, SchemaError> {
    let bytes = read_limited(Path::new(list), SCHEMA_LIMIT)?;
    let text = String::from_utf8(bytes).map_err(|e| SchemaError::NotUtf8 {
        list: list.to_owned(),
        at: e.utf8_error().valid_up_to(),
    })?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text).map_err(|source| SchemaError::NotJsonArray {
            list: list.to_owned(),
            source,
        });
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &str) -> Vec<String> {
        from_list(list).expect("loads").fields
    }

    /// Writes `contents` to `dir/name`; its path as text.
    fn file(dir: &tempfile::TempDir, name: &str, contents: &[u8]) -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("write");
        path.to_str().expect("UTF-8 path").to_owned()
    }

    #[test]
    fn a_list_is_split_on_commas_and_trimmed() {
        assert_eq!(
            names(" First Name , Email,,Lead Score"),
            ["First Name", "Email", "Lead Score"]
        );
        assert_eq!(from_list("Email").expect("one name").origin, "the schema");
    }

    #[test]
    fn files_are_lines_or_a_json_array() {
        let dir = tempfile::tempdir().expect("temp dir");
        let lines = file(&dir, "fields.txt", b"# known\n First Name \n\nEmail\n");
        let schema = from_list(&lines).expect("loads");
        assert_eq!(schema.fields, ["First Name", "Email"]);
        assert_eq!(schema.origin, format!("the schema ({lines})"));

        let json = file(&dir, "fields.json", b" [\"a\", \"b, c\"]");
        assert_eq!(names(&json), ["a", "b, c"]);
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bad_json = file(&dir, "bad.json", b"[1]");
        let bad_utf8 = file(&dir, "bad.txt", b"ok\n\xff");
        assert!(matches!(
            from_list(&bad_json),
            Err(SchemaError::NotJsonArray { .. })
        ));
        assert!(matches!(
            from_list(&bad_utf8),
            Err(SchemaError::NotUtf8 { at: 3, .. })
        ));
        for missing in ["nope.txt", "nope.json", "dir/nope"] {
            let err = from_list(missing).expect_err(missing);
            assert_eq!(
                err.to_string(),
                format!("cannot read schema file {missing}: no such file")
            );
        }
        let err = from_contacts(&dir.path().join("none.csv"), ContactsFormat::Csv)
            .expect_err("absent sample");
        assert!(matches!(err, SchemaError::Open { .. }), "{err:?}");
        let empty = file(&dir, "empty.csv", b"");
        let err = from_contacts(Path::new(&empty), ContactsFormat::Csv).expect_err("no header");
        assert!(
            matches!(
                err,
                SchemaError::Contacts {
                    source: ContactsError::NoHeader,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_sample_gives_its_fields_and_says_where_they_came_from() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sample = file(&dir, "sample.ndjson", b"{\"b\": 1}\n{\"a\": 2, \"b\": 3}\n");
        let schema = from_contacts(Path::new(&sample), ContactsFormat::Ndjson).expect("loads");
        assert_eq!(schema.fields, ["b", "a"]);
        assert_eq!(schema.origin, format!("the sample contacts ({sample})"));
    }
}
