//! `campaign check`: every diagnostic of every file, for people or as JSON.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use campaign::check::Schema;
use campaign::contacts::ContactsFormat;
use campaign::schema;

use super::error::{CliError, Failure};
use super::inputs::{is_stdin, open_contacts, read_source, SourceError};
use super::output::{reader_may_leave, verbosity};
use super::render::{diagnostic_json, note_hidden, plural, render_capped, JsonArray};
use super::{CheckArgs, CheckFormat, Deny, Verbosity};

pub(super) fn check(args: &CheckArgs) -> Result<(), Failure> {
    let stdin_files = args.files.iter().filter(|f| is_stdin(f)).count();
    if stdin_files + usize::from(args.contacts.as_deref().is_some_and(is_stdin)) > 1 {
        return Err(CliError::StdinTwice.into());
    }
    let given = load_schema(
        args.contacts.as_deref(),
        args.contacts_format,
        args.schema.as_deref(),
    )?;
    // Flags win; without them each file's nearest campaign.toml may name
    // the sample contacts.
    let use_workspace = given.is_none() && !args.no_workspace;
    let mut workspaces = Workspaces::default();
    let mut errors = 0;
    let mut warnings = 0;
    let mut json = JsonArray::new(io::BufWriter::new(io::stdout().lock()));
    let (mut shown, mut hidden) = (0, 0);
    for path in &args.files {
        let schema = if use_workspace {
            workspaces.schema_for(path)?
        } else {
            given.as_ref()
        };
        let (source, diagnostics) = match read_source(path) {
            Ok(s) => {
                let d = campaign::diagnose(&s.text, schema);
                (s, d)
            }
            Err(SourceError::Refused(s, d)) => (s, vec![*d]),
            Err(SourceError::Unreadable(e)) => {
                // The other files are still checked.
                eprintln!("error: {e}");
                errors += 1;
                continue;
            }
        };
        let file_errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let file_warnings = diagnostics.len() - file_errors;
        errors += file_errors;
        warnings += file_warnings;
        match args.format {
            CheckFormat::Human => {
                hidden += render_capped(&source, &diagnostics, &mut shown);
                if verbosity() == Verbosity::Verbose {
                    eprintln!(
                        "{}: {}, {}",
                        source.name,
                        plural(file_errors as u64, "error"),
                        plural(file_warnings as u64, "warning")
                    );
                }
            }
            CheckFormat::Json => {
                for d in &diagnostics {
                    json.push(&diagnostic_json(&source, d));
                }
            }
        }
    }
    match args.format {
        CheckFormat::Json => reader_may_leave(json.finish())?,
        CheckFormat::Human => {
            note_hidden(hidden);
            note!(
                "checked {}: {}, {}",
                plural(args.files.len() as u64, "file"),
                plural(errors as u64, "error"),
                plural(warnings as u64, "warning")
            );
        }
    }
    let deny_warnings = args.deny.contains(&Deny::Warnings);
    if errors > 0 || (deny_warnings && warnings > 0) {
        Err(Failure::Reported)
    } else {
        Ok(())
    }
}

/// The schemas of the `campaign.toml` files met, each loaded once.
#[derive(Default)]
struct Workspaces {
    /// By settings file; `None` for a folder without one.
    loaded: HashMap<Option<PathBuf>, Option<Schema>>,
}

impl Workspaces {
    /// The schema the nearest `campaign.toml` above `file` gives (for
    /// stdin, above the current folder).
    fn schema_for(&mut self, file: &Path) -> Result<Option<&Schema>, CliError> {
        let folder = match file.parent() {
            _ if is_stdin(file) => Path::new("."),
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let workspace = campaign::workspace::find(folder)?;
        let key = workspace.as_ref().map(|w| w.file.clone());
        if !self.loaded.contains_key(&key) {
            let schema = match &workspace {
                Some(w) => w.schema()?,
                None => None,
            };
            self.loaded.insert(key.clone(), schema);
        }
        Ok(self.loaded[&key].as_ref())
    }
}

/// The known fields, from a sample contacts file or a list of names.
fn load_schema(
    contacts: Option<&Path>,
    format: Option<ContactsFormat>,
    list: Option<&str>,
) -> Result<Option<Schema>, CliError> {
    if let Some(path) = contacts {
        let (input, format) = open_contacts(path, format)?;
        return Ok(Some(schema::from_reader(input, format, path)?));
    }
    Ok(list.map(schema::from_list).transpose()?)
}
