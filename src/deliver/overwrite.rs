//! A run never writes over a file it reads: `--out` or `--journal` naming
//! the contacts, the script or the env file (or `--out` naming the journal)
//! would truncate or rewrite it. Files are compared by identity (device and
//! inode), so a symlink, a hard link or a `dir/../file` spelling of an input
//! is caught as well as the same path; this runs before anything is opened
//! for writing.

use std::path::{Path, PathBuf};

/// Where a path leads: the file itself when it exists, else the path it
/// would be created at (symlinks followed, directories canonical), so that
/// two outputs that do not exist yet are still compared.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    /// An existing file: device and inode (on Unix), or its canonical path.
    File(u64, u64),
    /// A canonical path.
    Path(PathBuf),
}

/// How many symlinks are followed before giving up, as the kernel does.
const MAX_LINKS: usize = 40;

/// The identity of `path`, and whether writing to it can harm it (a
/// terminal, `/dev/null` or another character device cannot be truncated).
fn identity(path: &Path) -> (Identity, bool) {
    if let Ok(meta) = std::fs::metadata(path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            let harmless = meta.file_type().is_char_device();
            return (Identity::File(meta.dev(), meta.ino()), !harmless);
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            if let Ok(real) = std::fs::canonicalize(path) {
                return (Identity::Path(real), true);
            }
        }
    }
    // Not there (yet): follow symlinks to where it would be created, then
    // make its directory canonical.
    let mut target = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.file_type().is_symlink() => match std::fs::read_link(&target) {
                Ok(link) => {
                    target = match target.parent() {
                        Some(dir) => dir.join(link),
                        None => link,
                    }
                }
                Err(_) => break,
            },
            _ => break,
        }
    }
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let name = target.file_name().map(PathBuf::from).unwrap_or_default();
    (Identity::Path(dir.join(name)), true)
}

/// A file a run reads or writes, with what it is for the message.
pub struct Role<'a> {
    /// What the file is, e.g. `"the contacts file"` or `"--out"`.
    pub what: &'a str,
    /// The path as given.
    pub path: &'a Path,
}

/// An output that is one of the inputs, or another output.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} {} is {} {}: a run never writes over a file it uses; choose another path (nothing was written)",
    .output,
    .output_path.display(),
    .other,
    .other_path.display()
)]
pub struct Overwrite {
    /// What the output is (`--out`).
    pub output: String,
    /// The output's path, as given.
    pub output_path: PathBuf,
    /// What the file it would overwrite is (`the contacts file`).
    pub other: String,
    /// That file's path, as given.
    pub other_path: PathBuf,
}

/// Refuses outputs that are one of the inputs, or the same file as another
/// output. The message names both and says nothing was written.
pub fn check(outputs: &[Role<'_>], inputs: &[Role<'_>]) -> Result<(), Overwrite> {
    let inputs: Vec<_> = inputs.iter().map(|r| (r, identity(r.path))).collect();
    let mut seen: Vec<(&Role<'_>, (Identity, bool))> = Vec::new();
    for output in outputs {
        let (id, harmful) = identity(output.path);
        if harmful {
            let clash = inputs
                .iter()
                .chain(seen.iter())
                .find(|(_, (other, _))| *other == id);
            if let Some((other, _)) = clash {
                return Err(Overwrite {
                    output: output.what.to_string(),
                    output_path: output.path.to_path_buf(),
                    other: other.what.to_string(),
                    other_path: other.path.to_path_buf(),
                });
            }
        }
        seen.push((output, (id, harmful)));
    }
    Ok(())
}

/// The files SQLite keeps beside a journal at `path`, which writing to
/// would damage as much as the journal itself.
pub fn journal_companions(path: &Path) -> [PathBuf; 2] {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    ["-wal", "-shm"].map(|suffix| {
        let mut name = real.clone().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role<'a>(what: &'a str, path: &'a Path) -> Role<'a> {
        Role { what, path }
    }

    #[test]
    fn same_file_by_any_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let contacts = dir.path().join("c.csv");
        std::fs::write(&contacts, "Contact ID\n1\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut spellings = vec![
            contacts.clone(),
            dir.path().join("sub/../c.csv"),
            dir.path().join("./c.csv"),
        ];
        #[cfg(unix)]
        {
            let link = dir.path().join("link.csv");
            std::os::unix::fs::symlink("c.csv", &link).unwrap();
            spellings.push(link);
            let hard = dir.path().join("hard.csv");
            std::fs::hard_link(&contacts, &hard).unwrap();
            spellings.push(hard);
        }
        let inputs = [role("the contacts file", &contacts)];
        for out in &spellings {
            let error = check(&[role("--out", out)], &inputs)
                .unwrap_err()
                .to_string();
            assert!(error.contains("is the contacts file"), "{error}");
            assert!(error.contains("nothing was written"), "{error}");
        }
        let fresh = dir.path().join("results.ndjson");
        assert!(check(&[role("--out", &fresh)], &inputs).is_ok());
    }

    #[test]
    fn outputs_that_do_not_exist_yet_are_compared_by_where_they_would_be() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let journal = dir.path().join("j.sqlite");
        let out = dir.path().join("sub/../j.sqlite");
        let error = check(&[role("--journal", &journal), role("--out", &out)], &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--out"), "{error}");
        #[cfg(unix)]
        {
            // A dangling symlink leads to where the file would be created.
            let link = dir.path().join("dangling");
            std::os::unix::fs::symlink("j.sqlite", &link).unwrap();
            assert!(check(&[role("--journal", &journal), role("--out", &link)], &[]).is_err());
        }
        assert!(check(
            &[
                role("--journal", &journal),
                role("--out", &dir.path().join("r.ndjson"))
            ],
            &[]
        )
        .is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_character_device_may_be_both() {
        let null = Path::new("/dev/null");
        assert!(check(&[role("--out", null)], &[role("the env file", null)]).is_ok());
    }
}
