//! NDJSON contacts: one record per line.

use std::io::{self, BufRead, BufReader, Read};

use super::object::{json_message, read_record, Outcome};
use super::record::{emit, Builder};
use super::{buffered, ContactsError, Limits, Row};
use crate::input::Bytes;

/// A non-blank NDJSON line: its 1-based number, and its text unless it was
/// longer than the record limit.
pub(super) type NdjsonLine<'a> = (u64, Option<&'a [u8]>);

/// Reads NDJSON one line at a time into a reused buffer of at most the
/// record limit.
pub(super) struct Lines<R> {
    pub(super) reader: BufReader<R>,
    pub(super) buf: Vec<u8>,
    pub(super) line: u64,
    pub(super) limit: usize,
}

impl<R: Read> Lines<R> {
    pub(super) fn new(input: R, limits: &Limits) -> Self {
        Lines {
            reader: buffered(input, limits),
            buf: Vec::new(),
            line: 0,
            limit: limits.record_bytes,
        }
    }

    /// The next non-blank line: its 1-based number, and its text unless it
    /// is longer than the limit (then it was read past, not kept).
    pub(super) fn next_record(&mut self) -> io::Result<Option<NdjsonLine<'_>>> {
        loop {
            self.buf.clear();
            let mut any = false;
            let mut too_long = false;
            // Only followed while too long: a kept line is checked whole.
            let mut blank = true;
            loop {
                let chunk = self.reader.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                any = true;
                let (take, done) = match memchr::memchr(b'\n', chunk) {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                let text = &chunk[..take - usize::from(done)];
                if !too_long && self.buf.len() + text.len() > self.limit {
                    too_long = true;
                    blank = self.buf.iter().all(u8::is_ascii_whitespace);
                    self.buf.clear();
                }
                if too_long {
                    blank = blank && text.iter().all(u8::is_ascii_whitespace);
                } else {
                    self.buf.extend_from_slice(text);
                }
                self.reader.consume(take);
                if done {
                    break;
                }
            }
            if !any {
                return Ok(None);
            }
            self.line += 1;
            if too_long {
                if blank {
                    continue;
                }
                return Ok(Some((self.line, None)));
            }
            let mut text = &self.buf[..];
            if self.line == 1 {
                text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
            }
            if !text.iter().all(u8::is_ascii_whitespace) {
                // Re-borrow: `text` points into `buf`.
                let start = self.buf.len() - text.len();
                return Ok(Some((self.line, Some(&self.buf[start..]))));
            }
        }
    }
}

pub(super) fn ndjson_contacts<R, F, E>(input: R, b: &mut Builder<'_>, each: &mut F) -> Result<(), E>
where
    R: Read,
    F: FnMut(Row<'_>) -> Result<(), E>,
    E: From<ContactsError>,
{
    let mut lines = Lines::new(input, &b.limits);
    let mut row = 0u64;
    while let Some((line, text)) = lines.next_record().map_err(ContactsError::from)? {
        row += 1;
        b.begin(row);
        let outcome = match text {
            None => Err(format!(
                "line {line} is longer than the limit of {} and was skipped",
                Bytes(b.limits.record_bytes as u64)
            )),
            Some(text) => match read_record(b, text) {
                Ok(Outcome::Object) => Ok(()),
                Ok(Outcome::NotObject(kind)) => {
                    Err(format!("line {line} is {kind}, not a JSON object"))
                }
                Ok(Outcome::Problem(problem)) => Err(format!("line {line}: {problem}")),
                Err(e) => Err(format!(
                    "line {line}, column {}: invalid JSON: {}",
                    // serde_json counts 0 at the very end of the input;
                    // columns here are 1-based.
                    e.column().max(1),
                    json_message(&e)
                )),
            },
        };
        emit(b, outcome, each)?;
    }
    Ok(())
}
