//! The run lock: one process at a time may have a journal open for a run,
//! whatever path it is opened by.

use std::fs::File;
use std::path::Path;

use super::error::JournalError;

/// Takes the run lock of the journal at `path`: an exclusive `flock` on the
/// file itself (created empty if missing, which SQLite reads as a new
/// database). A lock on the file rather than on a name beside it means that
/// every path to the journal (a symlink, a hard link, `dir/../journal`) is
/// the same journal. `flock` locks are independent of the POSIX record
/// locks SQLite takes, so the two do not disturb each other.
pub(super) fn lock(path: &Path) -> Result<File, JournalError> {
    let failed = |source| JournalError::Lock {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::InUse {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
    }
}

/// Device and inode: the identity of a file, whatever path reaches it.
#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Checks that the file at `path` is still the one `lock` holds: the path
/// could have been switched to another file between taking the lock and
/// SQLite's open. Another file counts as a journal in use.
pub(super) fn still_locked(lock: &File, path: &Path) -> Result<(), JournalError> {
    let opened = std::fs::metadata(path).ok();
    let locked = lock.metadata().ok();
    if opened.as_ref().and_then(file_id) != locked.as_ref().and_then(file_id) {
        return Err(JournalError::InUse {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}
