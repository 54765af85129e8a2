//! `campaign test [PATH...]`: runs every `*.campaign.test` file (in the
//! paths given, or under the working folder), each a dry run of its
//! campaign checked against its golden file and its `[[expect]]` tables.
//! Exit status 1 when any test fails or is new.

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use campaign::contacts::ContactsFormat;
use campaign::diff::{self, Options};
use campaign::encode::xml_text as xml;
use campaign::expect::{self, TestFile, DEFAULT_NOW};
use campaign::run::dry_run::{DryRun, OutputFormat};

use super::error::{CliError, Failure};
use super::inputs::{read_source, SourceError};
use super::render::{plural, rendered};
use super::{TestArgs, TestFormat};

/// How one test file ended.
enum Outcome {
    Passed,
    /// Failed: what went wrong, in order.
    Failed(Vec<String>),
    /// Its golden file was missing and has been written.
    New(PathBuf),
    /// `--update` rewrote its golden file.
    Updated(PathBuf),
}

/// Every `*.campaign.test` under `path` (a file is taken as it is).
fn find(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() && !name.starts_with('.') && name != "target" && name != "node_modules" {
            find(&p, out);
        } else if name.ends_with(".campaign.test") {
            out.push(p);
        }
    }
}

fn relative(base: &Path, name: &str) -> PathBuf {
    base.parent().unwrap_or(Path::new(".")).join(name)
}

/// Runs one test file.
fn run_test(path: &Path, update: bool) -> Outcome {
    let fail = |m: String| Outcome::Failed(vec![m]);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", path.display())),
    };
    let test: TestFile = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: {}", path.display(), e.to_string().trim())),
    };
    let campaign_path = match &test.campaign {
        Some(c) => relative(path, c),
        None => path.with_extension(""),
    };
    let source = match read_source(&campaign_path) {
        Ok(s) => s,
        Err(SourceError::Refused(s, d)) => return fail(rendered(&s, &d, false)),
        Err(SourceError::Unreadable(e)) => return fail(e.to_string()),
    };
    let program = match campaign::compile(&source.text, None) {
        Ok(c) => c.program,
        Err(diagnostics) => {
            return Outcome::Failed(
                diagnostics
                    .iter()
                    .map(|d| rendered(&source, d, false))
                    .collect(),
            )
        }
    };
    let now_text = test.now.as_deref().unwrap_or(DEFAULT_NOW);
    let now = match chrono::DateTime::parse_from_rfc3339(now_text) {
        Ok(t) => t.timestamp(),
        Err(e) => return fail(format!("now = {now_text:?} is not an RFC 3339 time: {e}")),
    };
    // The contacts: a file, or the inline tables (one of the two).
    let (input, format): (Box<dyn std::io::Read>, ContactsFormat) =
        match (&test.contacts, test.contact.is_empty()) {
            (Some(_), false) => {
                return fail("give `contacts = \"file\"` or `[[contact]]` tables, not both".into())
            }
            (None, true) => {
                return fail(
                    "no contacts: give `contacts = \"file\"` or `[[contact]]` tables".into(),
                )
            }
            (Some(file), true) => {
                let file = relative(path, file);
                let Some(format) = ContactsFormat::from_path(&file) else {
                    return fail(format!(
                        "cannot tell the format of {} from its extension",
                        file.display()
                    ));
                };
                match std::fs::File::open(&file) {
                    Ok(f) => (Box::new(std::io::BufReader::new(f)), format),
                    Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
                }
            }
            (None, false) => (
                Box::new(Cursor::new(
                    expect::inline_contacts(&test.contact).into_bytes(),
                )),
                ContactsFormat::Ndjson,
            ),
        };
    let dry = DryRun::new(&program, &source, OutputFormat::Ndjson, now);
    let mut actual: Vec<(String, Vec<u8>)> = Vec::new();
    if let Err(e) = dry.run_each(input, format, |id, bytes| {
        actual.push((id.to_string(), bytes.to_vec()));
        Ok(())
    }) {
        return fail(format!("dry run: {e}"));
    }
    let mut problems = Vec::new();
    // The expectations, each against its contact's effects.
    for (n, e) in test.expect.iter().enumerate() {
        let Some((_, bytes)) = actual.iter().find(|(id, _)| *id == e.contact) else {
            problems.push(format!(
                "expect #{} : no contact {:?} in the test's contacts",
                n + 1,
                e.contact
            ));
            continue;
        };
        for p in expect::check(e, &diff::parse(bytes)) {
            problems.push(format!("expect #{} (contact {}): {p}", n + 1, e.contact));
        }
    }
    // The golden file.
    let golden = match &test.golden {
        None | Some(toml::Value::Boolean(true)) => Some(path.with_extension("golden.ndjson")),
        Some(toml::Value::Boolean(false)) => None,
        Some(toml::Value::String(p)) => Some(relative(path, p)),
        Some(_) => return fail("golden = true, false, or a path".into()),
    };
    let mut outcome_file = None;
    if let Some(golden) = golden {
        let whole: Vec<u8> = actual.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        match std::fs::read_to_string(&golden) {
            Ok(_) if update => {
                if let Err(e) = std::fs::write(&golden, &whole) {
                    return fail(format!("cannot write {}: {e}", golden.display()));
                }
                outcome_file = Some(Outcome::Updated(golden));
            }
            Ok(expected) => {
                if let Some(p) = golden_mismatch(&expected, &actual) {
                    problems.push(format!("golden {}: {p}", golden.display()));
                }
            }
            Err(_) => {
                if let Err(e) = std::fs::write(&golden, &whole) {
                    return fail(format!("cannot write {}: {e}", golden.display()));
                }
                outcome_file = Some(if update {
                    Outcome::Updated(golden)
                } else {
                    Outcome::New(golden)
                });
            }
        }
    }
    if !problems.is_empty() {
        return Outcome::Failed(problems);
    }
    outcome_file.unwrap_or(Outcome::Passed)
}

/// The first contact whose effects differ from the golden file's, shown as
/// `campaign diff` shows a change; `None` when they are the same.
fn golden_mismatch(expected: &str, actual: &[(String, Vec<u8>)]) -> Option<String> {
    let expected = expect::group_by_contact(expected);
    // Contacts with no effects print nothing: compare those that did.
    let actual: Vec<&(String, Vec<u8>)> = actual.iter().filter(|(_, b)| !b.is_empty()).collect();
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some((eid, e)), Some((aid, a))) if eid == aid => {
                if diff::same_output(e.as_bytes(), a, Options::default()) {
                    continue;
                }
                let changes = diff::compare_output(e.as_bytes(), a, Options::default());
                if changes.is_empty() {
                    continue;
                }
                let mut out = format!("contact {aid} differs (golden -> now):\n");
                super::diff::human_changes(&mut out, &changes, false);
                return Some(out.trim_end().to_string());
            }
            (Some((eid, _)), Some((aid, _))) => {
                return Some(format!(
                    "expected contact {eid:?} next, the dry run has {aid:?}"
                ))
            }
            (Some((eid, _)), None) => {
                return Some(format!("contact {eid:?} has no effects any more"))
            }
            (None, Some((aid, _))) => {
                return Some(format!("contact {aid:?} has effects the golden file lacks"))
            }
            (None, None) => break,
        }
    }
    None
}

pub(super) fn test(args: &TestArgs) -> Result<(), Failure> {
    let mut files = Vec::new();
    let roots: Vec<PathBuf> = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    for root in &roots {
        if !root.exists() {
            return Err(CliError::Test(format!("{} does not exist", root.display())).into());
        }
        find(root, &mut files);
    }
    // `./a.campaign.test` reads as `a.campaign.test`.
    for f in &mut files {
        if let Ok(rest) = f.strip_prefix(".") {
            if !rest.as_os_str().is_empty() {
                *f = rest.to_path_buf();
            }
        }
    }
    if files.is_empty() {
        return Err(CliError::Test("no *.campaign.test files found".into()).into());
    }
    let results: Vec<(PathBuf, Outcome)> = files
        .iter()
        .map(|f| (f.clone(), run_test(f, args.update)))
        .collect();
    let failed = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .count();
    let new = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::New(_)))
        .count();
    let passed = results.len() - failed - new;
    match args.format {
        TestFormat::Junit => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            let _ = writeln!(
                out,
                "<testsuites name=\"campaign test\" tests=\"{}\" failures=\"{}\">",
                results.len(),
                failed + new
            );
            let _ = writeln!(
                out,
                "  <testsuite name=\"campaign\" tests=\"{}\" failures=\"{}\">",
                results.len(),
                failed + new
            );
            for (path, outcome) in &results {
                let name = xml(&path.display().to_string());
                match outcome {
                    Outcome::Passed | Outcome::Updated(_) => {
                        let _ = writeln!(
                            out,
                            "    <testcase name=\"{name}\" classname=\"campaign\"/>"
                        );
                    }
                    Outcome::Failed(problems) => {
                        let first = problems.first().map(String::as_str).unwrap_or("");
                        let _ = writeln!(
                            out,
                            "    <testcase name=\"{name}\" classname=\"campaign\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                            xml(first.lines().next().unwrap_or("")),
                            xml(&problems.join("\n"))
                        );
                    }
                    Outcome::New(golden) => {
                        let _ = writeln!(
                            out,
                            "    <testcase name=\"{name}\" classname=\"campaign\">\n      <failure message=\"new golden file {}: check it and commit it\"/>\n    </testcase>",
                            xml(&golden.display().to_string())
                        );
                    }
                }
            }
            out.push_str("  </testsuite>\n</testsuites>\n");
            super::output::print_stdout(&out)?;
        }
        TestFormat::Human => {
            let mut out = String::new();
            for (path, outcome) in &results {
                let name = campaign::terminal::escape(&path.display().to_string()).into_owned();
                match outcome {
                    Outcome::Passed => {
                        let _ = writeln!(out, "test {name} ... ok");
                    }
                    Outcome::Updated(golden) => {
                        let _ = writeln!(out, "test {name} ... ok (wrote {})", golden.display());
                    }
                    Outcome::New(golden) => {
                        let _ = writeln!(
                            out,
                            "test {name} ... new: wrote {}; check it, commit it, and run again",
                            golden.display()
                        );
                    }
                    Outcome::Failed(problems) => {
                        let _ = writeln!(out, "test {name} ... FAILED");
                        for p in problems {
                            for line in p.lines() {
                                let _ = writeln!(out, "    {}", campaign::terminal::escape(line));
                            }
                        }
                    }
                }
            }
            let _ = writeln!(
                out,
                "\n{}: {passed} passed, {failed} failed, {new} new",
                plural(results.len() as u64, "test")
            );
            super::output::print_stdout(&out)?;
        }
    }
    if failed + new > 0 {
        Err(Failure::Reported)
    } else {
        Ok(())
    }
}
