//! What the server knows from a script's workspace (`campaign.toml`): the
//! sample contacts' fields and a few of their values, and the names of the
//! env file's secrets. Values of secrets are never kept: the file is parsed
//! and its values dropped at once.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::SystemTime;

use crate::check::Schema;
use crate::contacts::{for_each_contact, ContactsError, Row};
use crate::deliver::secrets::parse_env;
use crate::workspace::{self, Workspace, WorkspaceError};

/// Contacts read from the sample for hover's example values.
const SAMPLE_CONTACTS: usize = 500;
/// Example values kept per field.
const SAMPLES_PER_FIELD: usize = 3;
/// Longest example value shown, in characters.
const SAMPLE_CHARS: usize = 60;
/// Largest env file read for names.
const ENV_LIMIT: u64 = 1 << 20;

/// A workspace's settings and what they lead to.
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    /// The settings, when a `campaign.toml` was found.
    pub workspace: Option<Workspace>,
    /// The sample's fields, for checks and completion.
    pub schema: Option<Schema>,
    /// Up to three distinct non-empty values per field, from the first
    /// contacts of the sample.
    pub samples: BTreeMap<String, Vec<String>>,
    /// The env file's names, in file order.
    pub secrets: Vec<String>,
    /// What could not be loaded, for the editor to show once.
    pub problems: Vec<String>,
    /// Modification times and sizes of the files it came from, to notice
    /// changes (the size too: a rewrite within the clock's resolution).
    pub(super) stamps: Vec<Option<(SystemTime, u64)>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Knowledge {
    /// Loads what the nearest `campaign.toml` above `folder` names.
    pub fn load(folder: &Path) -> Knowledge {
        let mut knowledge = Knowledge::default();
        let workspace = match workspace::find(folder) {
            Ok(Some(w)) => w,
            Ok(None) => return knowledge,
            Err(e) => {
                knowledge.problems.push(e.to_string());
                return knowledge;
            }
        };
        match workspace.schema() {
            Ok(schema) => knowledge.schema = schema,
            Err(e) => knowledge.problems.push(e.to_string()),
        }
        if let (Some(schema), Some(path), Some(format)) = (
            &knowledge.schema,
            &workspace.contacts,
            workspace.contacts_format(),
        ) {
            match samples(path, format, &schema.fields) {
                Ok(s) => knowledge.samples = s,
                Err(e) => knowledge.problems.push(format!("{}: {e}", path.display())),
            }
        }
        if let Some(env) = &workspace.env_file {
            match secret_names(env) {
                Ok(names) => knowledge.secrets = names,
                Err(e) => knowledge.problems.push(e.to_string()),
            }
        }
        knowledge.stamps = knowledge.sources(&workspace);
        knowledge.workspace = Some(workspace);
        knowledge
    }

    fn sources(&self, workspace: &Workspace) -> Vec<Option<(SystemTime, u64)>> {
        [
            Some(&workspace.file),
            workspace.contacts.as_ref(),
            workspace.env_file.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|p| stamp(p))
        .collect()
    }

    /// Whether the files it was loaded from changed since (or a settings
    /// file appeared or went away).
    pub fn is_stale(&self, folder: &Path) -> bool {
        let nearest = folder
            .ancestors()
            .map(|d| d.join(workspace::FILE_NAME))
            .find(|f| f.is_file());
        match (&self.workspace, nearest) {
            (None, None) => false,
            (Some(w), Some(f)) if w.file == f => self.sources(w) != self.stamps,
            _ => true,
        }
    }
}

/// A few values of each field from the first contacts of the sample.
fn samples(
    path: &Path,
    format: crate::contacts::ContactsFormat,
    fields: &[String],
) -> Result<BTreeMap<String, Vec<String>>, ContactsError> {
    let file = File::open(path).map_err(ContactsError::Io)?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = 0;
    let result = for_each_contact(BufReader::new(file), format, &fields.to_vec(), |row| {
        if let Row::Contact(c) = row {
            for (name, value) in fields.iter().zip(&c.fields) {
                let Some(value) = value.as_deref().map(str::trim) else {
                    continue;
                };
                let kept = out.entry(name.clone()).or_default();
                if !value.is_empty()
                    && kept.len() < SAMPLES_PER_FIELD
                    && !kept.iter().any(|k| k == value)
                {
                    kept.push(clip_chars(value, SAMPLE_CHARS));
                }
            }
            seen += 1;
            if seen >= SAMPLE_CONTACTS {
                return Err(Stop::Enough);
            }
        }
        Ok(())
    });
    match result {
        Ok(()) | Err(Stop::Enough) => Ok(out),
        Err(Stop::Contacts(e)) => Err(e),
    }
}

/// Why reading the sample stopped.
enum Stop {
    Enough,
    Contacts(ContactsError),
}

impl From<ContactsError> for Stop {
    fn from(e: ContactsError) -> Self {
        Stop::Contacts(e)
    }
}

fn clip_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The names an env file defines; its values are dropped here.
fn secret_names(path: &Path) -> Result<Vec<String>, WorkspaceError> {
    let text =
        crate::input::read_limited(path, ENV_LIMIT).map_err(|e| WorkspaceError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&text);
    let pairs = parse_env(&text).map_err(|(line, why)| WorkspaceError::Invalid {
        path: path.to_path_buf(),
        message: format!("line {line}: {why}"),
    })?;
    let mut names: Vec<String> = Vec::with_capacity(pairs.len());
    for (name, _value) in pairs {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}
