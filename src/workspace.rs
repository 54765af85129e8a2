//! Workspace settings: `campaign.toml`, a small file committed beside the
//! scripts that names the sample contacts and the env file, so that
//! `campaign check` and the language server know the contacts' fields and
//! the secrets' names without flags.
//!
//! ```toml
//! # campaign.toml
//! contacts = "samples/contacts.csv"   # merge fields are checked against its fields
//! contacts_format = "csv"             # only when the extension does not tell
//! env_file = ".env"                   # secret("...") names, for completion
//! ```
//!
//! Paths are relative to the folder holding `campaign.toml`. A script's
//! settings are those of the nearest `campaign.toml` in its folder or an
//! ancestor; there is no merging of several files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::check::Schema;
use crate::contacts::ContactsFormat;
use crate::schema::{self, SchemaError};

/// The settings file's name.
pub const FILE_NAME: &str = "campaign.toml";

/// Largest settings file read: a handful of keys, so anything larger is a
/// mistake (a contacts file renamed, say).
pub const SETTINGS_LIMIT: u64 = 64 << 10;

/// The keys of `campaign.toml`, paths as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    contacts: Option<PathBuf>,
    contacts_format: Option<String>,
    env_file: Option<PathBuf>,
}

/// A loaded `campaign.toml`, its paths resolved against its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The settings file itself.
    pub file: PathBuf,
    /// Sample contacts: their fields are the known merge fields.
    pub contacts: Option<PathBuf>,
    /// `contacts` as written in the file, which messages name: the same
    /// from the editor and from `check`, wherever they run.
    pub contacts_as_written: Option<PathBuf>,
    /// The sample's format, when `contacts_format` names it.
    pub contacts_format: Option<ContactsFormat>,
    /// The env file that `secret("...")` names come from.
    pub env_file: Option<PathBuf>,
}

/// Why `campaign.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The file exists but cannot be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The settings file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file is not the TOML this module expects.
    #[error("{}: {message}", .path.display())]
    Invalid {
        /// The settings file.
        path: PathBuf,
        /// What is wrong, with the line when TOML tells it.
        message: String,
    },
    /// The sample contacts named by the file cannot give their fields.
    #[error("{} names sample contacts that cannot be used: {source}", .path.display())]
    Contacts {
        /// The settings file.
        path: PathBuf,
        /// Why not.
        source: SchemaError,
    },
}

/// The nearest `campaign.toml` in `folder` or one of its ancestors, loaded;
/// `None` when there is none.
pub fn find(folder: &Path) -> Result<Option<Workspace>, WorkspaceError> {
    for dir in folder.ancestors() {
        let file = dir.join(FILE_NAME);
        if file.is_file() {
            return load(&file).map(Some);
        }
    }
    Ok(None)
}

/// Loads one settings file.
pub fn load(file: &Path) -> Result<Workspace, WorkspaceError> {
    let read = |source| WorkspaceError::Read {
        path: file.to_path_buf(),
        source,
    };
    let invalid = |message: String| WorkspaceError::Invalid {
        path: file.to_path_buf(),
        message,
    };
    let size = fs::metadata(file).map_err(read)?.len();
    if size > SETTINGS_LIMIT {
        return Err(invalid(format!(
            "{size} bytes is too large for a settings file (at most {SETTINGS_LIMIT})"
        )));
    }
    let text = fs::read_to_string(file).map_err(read)?;
    let keys: Keys = toml::from_str(&text).map_err(|e| invalid(e.to_string().trim().into()))?;
    let contacts_format = keys
        .contacts_format
        .map(|name| name.parse::<ContactsFormat>())
        .transpose()
        .map_err(|e| invalid(format!("contacts_format: {e}")))?;
    let folder = file.parent().unwrap_or(Path::new("."));
    Ok(Workspace {
        file: file.to_path_buf(),
        contacts: keys.contacts.as_ref().map(|p| folder.join(p)),
        contacts_as_written: keys.contacts,
        contacts_format,
        env_file: keys.env_file.map(|p| folder.join(p)),
    })
}

impl Workspace {
    /// The format of the sample contacts: `contacts_format`, else by
    /// extension.
    pub fn contacts_format(&self) -> Option<ContactsFormat> {
        self.contacts_format
            .or_else(|| ContactsFormat::from_path(self.contacts.as_deref()?))
    }

    /// The known fields, from the sample contacts; `None` when the file
    /// names none.
    pub fn schema(&self) -> Result<Option<Schema>, WorkspaceError> {
        let Some(contacts) = &self.contacts else {
            return Ok(None);
        };
        let Some(format) = self.contacts_format() else {
            return Err(WorkspaceError::Invalid {
                path: self.file.clone(),
                message: format!(
                    "cannot tell the format of {} from its extension: add `contacts_format = \"csv\"` (or json, ndjson)",
                    contacts.display()
                ),
            });
        };
        let mut schema =
            schema::from_contacts(contacts, format).map_err(|source| WorkspaceError::Contacts {
                path: self.file.clone(),
                source,
            })?;
        let written = self.contacts_as_written.as_deref().unwrap_or(contacts);
        schema.origin = format!("the sample contacts ({})", written.display());
        Ok(Some(schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_against_the_file_and_the_nearest_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        fs::create_dir_all(&nested).unwrap();
        fs::write(
            dir.path().join(FILE_NAME),
            "contacts = \"c.data\"\ncontacts_format = \"ndjson\"\nenv_file = \".env\"\n",
        )
        .unwrap();
        let found = find(&nested).unwrap().unwrap();
        assert_eq!(found.contacts, Some(dir.path().join("c.data")));
        assert_eq!(found.contacts_format(), Some(ContactsFormat::Ndjson));
        assert_eq!(found.env_file, Some(dir.path().join(".env")));
        fs::write(nested.join(FILE_NAME), "").unwrap();
        let nearer = find(&nested).unwrap().unwrap();
        assert_eq!(nearer.contacts, None);
        assert_eq!(nearer.file, nested.join(FILE_NAME));
    }

    #[test]
    fn unknown_keys_and_formats_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        fs::write(&file, "contact = \"x.csv\"\n").unwrap();
        let e = load(&file).unwrap_err().to_string();
        assert!(e.contains("campaign.toml") && e.contains("contact"), "{e}");
        fs::write(&file, "contacts_format = \"xml\"\n").unwrap();
        let e = load(&file).unwrap_err().to_string();
        assert!(
            e.contains("contacts_format: unknown contacts format `xml`"),
            "{e}"
        );
        fs::write(&file, "contacts = \"people.txt\"\n").unwrap();
        let e = load(&file).unwrap().schema().unwrap_err().to_string();
        assert!(e.contains("contacts_format = \"csv\""), "{e}");
    }
}
