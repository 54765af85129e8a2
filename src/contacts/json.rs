//! JSON array contacts: an element scanner that finds each record.

use std::io::{BufRead, BufReader, Read};

use super::object::{is_json_space, json_message, read_record, Outcome};
use super::record::{emit, Builder};
use super::{buffered, ContactsError, Limits, Row};
use crate::input::Bytes;

/// One element of a JSON array; its text is in [`JsonArray::buf`] unless it
/// is too long.
#[derive(Debug, Clone, Copy)]
pub(super) struct Element {
    /// 1-based line and column (byte) where it starts.
    pub(super) line: u64,
    pub(super) column: u64,
    /// Longer than the record limit: skipped, not kept.
    pub(super) too_long: bool,
}

impl Element {
    /// A parse error inside the element, placed in the file.
    pub(super) fn error(&self, e: &serde_json::Error) -> ContactsError {
        if e.is_io() {
            return ContactsError::Json {
                line: self.line as usize,
                column: self.column as usize,
                message: e.to_string(),
            };
        }
        let line = self.line + e.line() as u64 - 1;
        let column = if e.line() <= 1 {
            self.column + (e.column() as u64).saturating_sub(1)
        } else {
            // serde_json counts 0 at the very end of the input.
            e.column().max(1) as u64
        };
        ContactsError::Json {
            line: line as usize,
            column: column as usize,
            message: json_message(e),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArrayState {
    /// Before the `[`.
    Start,
    /// After the `[`, before any element.
    First,
    /// After an element.
    Next,
    /// After the `]`.
    Done,
}

/// Splits a JSON array into its elements without parsing them: a scanner
/// that follows strings (and their escapes) and bracket nesting finds where
/// each element ends, so each is parsed on its own from a buffer of at most
/// the record limit, and a longer one is scanned past without being kept.
/// Malformed JSON is left to the parser, which reports it against the
/// element's position in the file.
pub(super) struct JsonArray<R> {
    pub(super) reader: BufReader<R>,
    /// The current element's text.
    pub(super) buf: Vec<u8>,
    pub(super) limit: usize,
    pub(super) state: ArrayState,
    /// Elements read.
    pub(super) count: u64,
    /// Position of the next unread byte: its line, where that line starts,
    /// and its offset.
    pub(super) line: u64,
    pub(super) line_start: u64,
    pub(super) pos: u64,
}

impl<R: Read> JsonArray<R> {
    pub(super) fn new(input: R, limits: &Limits) -> Self {
        JsonArray {
            reader: buffered(input, limits),
            buf: Vec::new(),
            limit: limits.record_bytes,
            state: ArrayState::Start,
            count: 0,
            line: 1,
            line_start: 0,
            pos: 0,
        }
    }

    pub(super) fn error(&self, message: impl Into<String>) -> ContactsError {
        ContactsError::Json {
            line: self.line as usize,
            column: (self.pos - self.line_start + 1) as usize,
            message: message.into(),
        }
    }

    /// Consumes `n` buffered bytes, following lines.
    pub(super) fn advance(&mut self, n: usize) {
        let bytes = &self.reader.buffer()[..n];
        if let Some(last) = memchr::memrchr(b'\n', bytes) {
            self.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
            self.line_start = self.pos + last as u64 + 1;
        }
        self.reader.consume(n);
        self.pos += n as u64;
    }

    /// The next byte that is not JSON whitespace, left unread; `None` at
    /// the end of the input.
    pub(super) fn peek_token(&mut self) -> Result<Option<u8>, ContactsError> {
        loop {
            let chunk = self.reader.fill_buf()?;
            let Some(&first) = chunk.first() else {
                return Ok(None);
            };
            if !is_json_space(first) {
                return Ok(Some(first));
            }
            let n = chunk.iter().take_while(|&&b| is_json_space(b)).count();
            self.advance(n);
        }
    }

    /// The next element, or `None` after the closing `]`.
    pub(super) fn next_element(&mut self) -> Result<Option<Element>, ContactsError> {
        match self.state {
            ArrayState::Done => return Ok(None),
            ArrayState::Start => {
                if self.reader.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
                    self.reader.consume(3);
                    self.pos += 3;
                }
                match self.peek_token()? {
                    Some(b'[') => self.advance(1),
                    Some(_) => {
                        return Err(
                            self.error("invalid type: expected a JSON array of contact objects")
                        )
                    }
                    None => {
                        return Err(self
                            .error("EOF while parsing: expected a JSON array of contact objects"))
                    }
                }
                self.state = ArrayState::First;
            }
            ArrayState::First | ArrayState::Next => {}
        }
        let token = self.peek_token()?;
        match (self.state, token) {
            (_, None) => {
                return Err(self.error(format!(
                    "EOF while parsing the array after {} element(s): expected `,` or `]`",
                    self.count
                )))
            }
            (ArrayState::First | ArrayState::Next, Some(b']')) => {
                self.advance(1);
                self.state = ArrayState::Done;
                if self.peek_token()?.is_some() {
                    return Err(self.error("trailing characters after the array"));
                }
                return Ok(None);
            }
            (ArrayState::First, Some(_)) => {}
            (_, Some(b',')) => {
                self.advance(1);
                match self.peek_token()? {
                    Some(b']') => {
                        return Err(self
                            .error(format!("trailing comma after array element {}", self.count)))
                    }
                    Some(_) => {}
                    None => {
                        return Err(self.error(format!(
                            "EOF while parsing the array after {} element(s)",
                            self.count
                        )))
                    }
                }
            }
            (_, Some(_)) => {
                return Err(self.error(format!(
                    "expected `,` or `]` after array element {}",
                    self.count
                )))
            }
        }
        let element = Element {
            line: self.line,
            column: self.pos - self.line_start + 1,
            too_long: false,
        };
        let too_long = self.scan_value()?;
        self.count += 1;
        self.state = ArrayState::Next;
        Ok(Some(Element {
            too_long,
            ..element
        }))
    }

    /// Reads one value's text into `buf` (or past it, once longer than the
    /// limit); true if it was too long.
    pub(super) fn scan_value(&mut self) -> Result<bool, ContactsError> {
        self.buf.clear();
        let mut too_long = false;
        let first = self.peek_token()?.unwrap_or(b' ');
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let mut scanned = 0u64;
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                if scalar && scanned > 0 {
                    return Ok(too_long);
                }
                return Err(self.error(format!(
                    "EOF while parsing array element {}",
                    self.count + 1
                )));
            }
            let mut end = None;
            let mut i = 0;
            while i < chunk.len() {
                if escaped {
                    escaped = false;
                    i += 1;
                    continue;
                }
                if in_string {
                    match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                        None => i = chunk.len(),
                        Some(k) if chunk[i + k] == b'\\' => {
                            escaped = true;
                            i += k + 1;
                        }
                        Some(k) => {
                            in_string = false;
                            i += k + 1;
                            if depth == 0 {
                                end = Some(i);
                                break;
                            }
                        }
                    }
                    continue;
                }
                let b = chunk[i];
                if scalar {
                    if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.') {
                        i += 1;
                        continue;
                    }
                    end = Some(i);
                    break;
                }
                i += 1;
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let take = end.unwrap_or(chunk.len());
            if !too_long {
                if self.buf.len() + take > self.limit {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            scanned += take as u64;
            self.advance(take);
            if end.is_some() {
                if scanned == 0 {
                    return Err(self.error(format!(
                        "expected a value (array element {})",
                        self.count + 1
                    )));
                }
                return Ok(too_long);
            }
        }
    }
}

pub(super) fn json_contacts<R, F, E>(input: R, b: &mut Builder<'_>, each: &mut F) -> Result<(), E>
where
    R: Read,
    F: FnMut(Row<'_>) -> Result<(), E>,
    E: From<ContactsError>,
{
    let mut array = JsonArray::new(input, &b.limits);
    let mut row = 0u64;
    while let Some(element) = array.next_element()? {
        row += 1;
        b.begin(row);
        let outcome = if element.too_long {
            Err(format!(
                "array element {row} (line {}) is longer than the limit of {} and was skipped",
                element.line,
                Bytes(b.limits.record_bytes as u64)
            ))
        } else {
            match read_record(b, &array.buf) {
                Ok(Outcome::Object) => Ok(()),
                Ok(Outcome::NotObject(kind)) => {
                    Err(format!("array element {row} is {kind}, not an object"))
                }
                Ok(Outcome::Problem(problem)) => Err(format!("array element {row}: {problem}")),
                Err(e) => return Err(E::from(element.error(&e))),
            }
        };
        emit(b, outcome, each)?;
    }
    Ok(())
}
