//! Reading a whole input file with a byte limit.
//!
//! Everything the binary reads whole (the campaign source, a `--schema` file,
//! an `--env-file`) goes through [`read_limited`], so no input can make it
//! read or allocate more than its limit: a regular file over the limit is
//! refused from its size before a byte is read, and anything else (a pipe,
//! `/dev/stdin`, a device such as `/dev/zero`) is read through
//! [`Read::take`] up to the limit plus one byte, the byte that proves it too
//! large. Contacts files are streamed instead, with limits per record (see
//! [`crate::contacts`]).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Why a file could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Opening or reading failed (missing file, a directory, permissions).
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file holds more than `limit` bytes.
    #[error("{} is larger than the limit of {}", .path.display(), Bytes(*.limit))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit it exceeds, in bytes.
        limit: u64,
    },
}

/// Reads all of `path`, failing with [`InputError::TooLarge`] if it holds
/// more than `limit` bytes. At most `limit + 1` bytes are read, and memory
/// stays within `limit` plus a small constant.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let io_error = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = || InputError::TooLarge {
        path: path.to_path_buf(),
        limit,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    // A regular file's size is known: refuse it without reading. Other kinds
    // (pipes, character devices) report no useful size and are read below.
    let known = meta.is_file().then_some(meta.len());
    if known.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let hint = known.unwrap_or(0).min(limit);
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(hint).unwrap_or(usize::MAX))
        .map_err(|_| io_error(io::Error::from(io::ErrorKind::OutOfMemory)))?;
    (&mut file)
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 == limit && has_more(&mut file).map_err(io_error)? {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Whether one more byte can be read (a file that grew, or an endless pipe).
fn has_more(file: &mut File) -> io::Result<bool> {
    let mut probe = [0u8; 1];
    loop {
        match file.read(&mut probe) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A byte count for messages: `256 MiB`, `1 KiB`, or `100 bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (size, unit) in UNITS {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{} {unit}", self.0 / size);
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_one_byte_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_limited(&path, 5).unwrap(), b"12345");
        assert_eq!(read_limited(&path, 100).unwrap(), b"12345");
        let err = read_limited(&path, 4).unwrap_err();
        assert!(
            matches!(err, InputError::TooLarge { limit: 4, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!("{} is larger than the limit of 4 bytes", path.display())
        );
        std::fs::write(&path, b"").unwrap();
        assert!(read_limited(&path, 0).unwrap().is_empty());
    }

    #[test]
    fn endless_devices_stop_at_the_limit() {
        let err = read_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/zero is larger than the limit of 1 MiB"
        );
    }

    #[test]
    fn directories_and_missing_files_are_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_limited(dir.path(), 10).unwrap_err();
        assert!(matches!(err, InputError::Io { .. }), "{err}");
        let err = read_limited(&dir.path().join("missing"), 10).unwrap_err();
        assert!(err.to_string().starts_with("cannot read "), "{err}");
    }

    #[test]
    fn byte_counts_read_naturally() {
        let shown: Vec<String> = [256 << 20, 1 << 20, 1 << 10, 1 << 30, 1000, 1536]
            .map(|n| Bytes(n).to_string())
            .into();
        assert_eq!(
            shown,
            [
                "256 MiB",
                "1 MiB",
                "1 KiB",
                "1 GiB",
                "1000 bytes",
                "1536 bytes"
            ]
        );
    }
}
