//! `campaign new NAME`: a commented starter campaign, sample contacts and
//! a starter test that `check`, `run --dry-run` and `test` accept as they are, so a newcomer's
//! first commands work and show every part of the language at once.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use super::error::{CliError, Failure};
use super::NewArgs;

const CAMPAIGN: &str = include_str!("starter/starter.campaign");
const CONTACTS: &str = include_str!("starter/starter.contacts.csv");
const TEST: &str = include_str!("starter/starter.campaign.test");

pub(super) fn new(args: &NewArgs) -> Result<(), Failure> {
    let name = args.name.trim();
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(CliError::NewName(args.name.clone()).into());
    }
    let in_dir = |file: String| match args.dir.as_os_str() == "." {
        true => std::path::PathBuf::from(file),
        false => args.dir.join(file),
    };
    let campaign = in_dir(format!("{name}.campaign"));
    let contacts = in_dir(format!("{name}.contacts.csv"));
    let test = in_dir(format!("{name}.campaign.test"));
    let shown = |p: &Path| p.display().to_string();
    let text = CAMPAIGN
        .replace("{name}", &string_literal_body(name))
        .replace("{file}", &shown(&campaign))
        .replace("{contacts}", &shown(&contacts));
    // The test's paths are relative to the test file, which sits beside.
    let test_text = TEST
        .replace("{file}", &shown(&campaign))
        .replace(
            "{contacts_name}",
            &format!("{name}.contacts.csv").replace('"', "\\\""),
        )
        .replace("{name_file}", &format!("{name}.campaign"));
    // No file is written if any exists: a half-made starter would be worse
    // than none.
    for path in [&campaign, &contacts, &test] {
        if path.exists() {
            return Err(CliError::NewExists(path.clone()).into());
        }
    }
    write_new(&campaign, &text)?;
    write_new(&contacts, CONTACTS)?;
    write_new(&test, &test_text)?;
    note!(
        "wrote {}, {} and {}; next:\n  campaign check {}\n  campaign run {} --contacts {} --dry-run\n  campaign test {}",
        shown(&campaign),
        shown(&contacts),
        shown(&test),
        shown(&campaign),
        shown(&campaign),
        shown(&contacts),
        shown(&test)
    );
    Ok(())
}

/// Creates `path`, refusing to replace a file that appeared meanwhile.
fn write_new(path: &Path, text: &str) -> Result<(), CliError> {
    let fail = |source| CliError::NewWrite {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}

/// `name` as the inside of a double-quoted campaign string.
fn string_literal_body(name: &str) -> String {
    name.replace('\\', "\\\\").replace('"', "\\\"")
}
