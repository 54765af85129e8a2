//! `campaign fmt`: rewrites campaign files in the canonical style
//! ([`campaign::fmt`]), checks that they are in it (`--check`, for CI), or
//! formats stdin to stdout (`-`, for editors).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use campaign::diagnostics::SourceFile;

use super::error::{CliError, Failure};
use super::inputs::{is_stdin, read_source, SourceError};
use super::output::print_stdout;
use super::render::{note_hidden, plural, render_capped};
use super::FmtArgs;

pub(super) fn fmt(args: &FmtArgs) -> Result<(), Failure> {
    if args.files.iter().filter(|f| is_stdin(f)).count() > 1 {
        return Err(CliError::StdinTwice.into());
    }
    let mut failed = 0;
    let mut changed = 0;
    let (mut shown, mut hidden) = (0, 0);
    for path in &args.files {
        let source = match read_source(path) {
            Ok(s) => s,
            Err(SourceError::Refused(s, d)) => {
                hidden += render_capped(&s, &[*d], &mut shown);
                failed += 1;
                continue;
            }
            Err(SourceError::Unreadable(e)) => {
                eprintln!("error: {e}");
                failed += 1;
                continue;
            }
        };
        let formatted = match campaign::fmt::format_source(&source.text) {
            Ok(f) => f,
            Err(diagnostics) => {
                hidden += render_capped(&source, &diagnostics, &mut shown);
                failed += 1;
                continue;
            }
        };
        let differs = formatted != *source.text;
        changed += usize::from(differs);
        if args.check {
            if differs {
                if args.diff {
                    print_stdout(&unified_diff(&source, &formatted))?;
                } else {
                    print_stdout(&format!("{}\n", source.name))?;
                }
            }
        } else if is_stdin(path) {
            print_stdout(&formatted)?;
        } else if differs {
            if let Err(e) = write_atomically(path, &formatted) {
                eprintln!("error: cannot write {}: {e}", path.display());
                failed += 1;
            }
        }
    }
    note_hidden(hidden);
    // An editor piping one file through wants nothing but the text.
    let piped = args.files.len() == 1 && is_stdin(&args.files[0]) && !args.check;
    let files = plural(args.files.len() as u64, "file");
    if piped {
    } else if args.check {
        note!(
            "checked {files}: {} would be reformatted",
            plural(changed as u64, "file")
        );
    } else {
        note!(
            "formatted {files}: {} changed",
            plural(changed as u64, "file")
        );
    }
    if failed > 0 || (args.check && changed > 0) {
        Err(Failure::Reported)
    } else {
        Ok(())
    }
}

/// `diff -u` of the file and its formatted text, headed with its name as
/// `git diff` would (`a/` and `b/`), so `git apply` or `patch -p1` can
/// apply it.
fn unified_diff(source: &SourceFile, formatted: &str) -> String {
    let name = source.name.trim_start_matches("./");
    similar::TextDiff::from_lines(&*source.text, formatted)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// Replaces `path` with `text` so that a reader (or a crash) sees the old
/// file or the new one, never half of it: a temporary file beside it (the
/// same file system, so the rename is atomic), with its permissions,
/// renamed over it.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "campaign".into(), |n| n.to_string_lossy().into_owned());
    let permissions = fs::metadata(path)?.permissions();
    let mut attempt = 0u32;
    let (temp_path, mut file) = loop {
        let candidate = dir.join(format!(".{name}.{}.{attempt}.fmt-tmp", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => break (candidate, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let written = io::Write::write_all(&mut file, text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::set_permissions(&temp_path, permissions))
        .and_then(|()| fs::rename(&temp_path, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp_path);
    }
    written
}
