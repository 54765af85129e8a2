//! CSV contacts.

use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read};
use std::mem;

use super::record::{clip, emit, Builder, Role};
use super::{buffered, read_buffer, ContactsError, HeaderError, Limits, Row};
use crate::input::Bytes;

/// What went past a limit in a CSV record.
#[derive(Debug, Clone, Copy)]
pub(super) enum CsvTooLong {
    Record,
    /// 1-based column.
    Cell(usize),
}

/// One CSV record's shape; its cells are in [`CsvRecords`]' buffers.
#[derive(Debug)]
pub(super) struct CsvRecord {
    /// 1-based line where the record starts.
    pub(super) line: u64,
    /// Byte offset where the record starts.
    pub(super) byte: u64,
    /// 1-based line where it ends.
    pub(super) end_line: u64,
    /// Cells in the record, kept or not.
    pub(super) cells: usize,
    /// Cells kept (the first ones, up to what the caller asked for); fewer
    /// when the record went past a limit.
    pub(super) kept: usize,
    pub(super) too_long: Option<CsvTooLong>,
    /// The file ended inside a quoted cell.
    pub(super) unclosed_quote: bool,
}

/// Reads CSV records with csv-core under [`Limits`]: the cells of a record
/// are kept while it stays within them; past them the rest of the record is
/// parsed into a throwaway buffer, so the reader resumes exactly where the
/// CSV grammar ends the record, holding no more than the limits.
///
/// The dialect is csv-core's default, as the `csv` crate reads it: `,`
/// between cells, `"` quotes with `""` inside them, CR, LF or CRLF ends a
/// row, blank lines are skipped, a leading UTF-8 BOM is dropped, rows may
/// have any number of cells.
pub(super) struct CsvRecords<R> {
    pub(super) reader: BufReader<R>,
    pub(super) core: csv_core::Reader,
    pub(super) limits: Limits,
    /// Unquoted bytes of the current record's kept cells.
    pub(super) buf: Vec<u8>,
    /// End of each kept cell in `buf`.
    pub(super) ends: Vec<usize>,
    /// Where a record past a limit is parsed to, then forgotten.
    pub(super) discard: Vec<u8>,
    /// Bytes read so far.
    pub(super) byte: u64,
    /// The last byte read (to tell a final line break from a last line).
    pub(super) last: u8,
}

thread_local! {
    /// A csv-core reader kept for the next [`CsvRecords`] on this thread:
    /// building one fills its DFA tables, which costs more than reading a
    /// small file (many times more under a fuzzer's instrumentation), and a
    /// built one cannot be cloned.
    static SPARE_CSV_CORE: std::cell::Cell<Option<csv_core::Reader>> =
        const { std::cell::Cell::new(None) };
}

impl<R> Drop for CsvRecords<R> {
    fn drop(&mut self) {
        // `Reader::default` has empty tables: cheap, and never used.
        let mut core = mem::take(&mut self.core);
        core.reset();
        let _ = SPARE_CSV_CORE.try_with(|spare| spare.set(Some(core)));
    }
}

impl<R: Read> CsvRecords<R> {
    // `Reader::default()` is not `Reader::new()`: only `new` builds the DFA.
    #[allow(clippy::unwrap_or_default)]
    pub(super) fn new(input: R, limits: Limits) -> Self {
        let core = SPARE_CSV_CORE
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .unwrap_or_else(csv_core::Reader::new);
        CsvRecords {
            reader: buffered(input, &limits),
            core,
            limits,
            buf: Vec::new(),
            ends: Vec::new(),
            discard: Vec::new(),
            byte: 0,
            last: b'\n',
        }
    }

    /// Cell `i` of the current record (`i` below its `kept`).
    pub(super) fn cell(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    /// Consumes blank lines before a record, so the record's first line is
    /// known (csv-core would skip them too, inside the same call).
    pub(super) fn skip_blank_lines(&mut self) -> io::Result<()> {
        loop {
            let input = self.reader.fill_buf()?;
            let n = input
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            if n == 0 {
                return Ok(());
            }
            let lines = memchr::memchr_iter(b'\n', &input[..n]).count() as u64;
            self.last = input[n - 1];
            self.core.set_line(self.core.line() + lines);
            self.reader.consume(n);
            self.byte += n as u64;
        }
    }

    /// Reads the next record, keeping up to `keep` cells; `None` at the end.
    pub(super) fn next(&mut self, keep: usize) -> io::Result<Option<CsvRecord>> {
        use csv_core::ReadRecordResult as Read;

        self.skip_blank_lines()?;
        let mut record = CsvRecord {
            line: self.core.line(),
            byte: self.byte,
            end_line: 0,
            cells: 0,
            kept: 0,
            too_long: None,
            unclosed_quote: false,
        };
        let mut stored = 0usize; // bytes of `buf` in use
        let mut produced = 0usize; // unquoted bytes of the record so far
        let mut last_end = 0usize; // where the last finished cell ended
        let mut raw = 0usize; // bytes of input in the record
        let mut probed = false;
        let mut spare_ends = [0usize; 64];
        loop {
            let mut input = self.reader.fill_buf()?;
            // At the end of the input, a line break is fed first: inside a
            // quoted cell it becomes cell text, anywhere else it ends the
            // record (or is skipped) exactly as the end of input would. That
            // is how an unclosed quote is told from a last row. (A clone of
            // the reader cannot probe: csv-core's `Clone` drops DFA tables.)
            let synthetic = input.is_empty() && !probed;
            if synthetic {
                input = b"\n";
            }
            let keeping = record.too_long.is_none();
            if keeping && stored == self.buf.len() {
                let most = self.limits.record_bytes.saturating_add(1);
                if self.buf.len() >= most {
                    // Unquoted text never outgrows the input it came from,
                    // so `raw` is past the limit too; noted below.
                } else {
                    let grow = (self.buf.len() * 2).max(4096).min(most);
                    self.buf.resize(grow, 0);
                }
            }
            let to_buf = keeping && stored < self.buf.len();
            let output: &mut [u8] = if to_buf {
                &mut self.buf[stored..]
            } else {
                if self.discard.is_empty() {
                    self.discard.resize(read_buffer(&self.limits), 0);
                }
                &mut self.discard[..]
            };
            let to_keep = to_buf && record.kept < keep;
            if to_keep && record.kept == self.ends.len() {
                let grow = (self.ends.len() * 2).max(16).min(keep);
                self.ends.resize(grow, 0);
            }
            let room = keep.min(self.ends.len());
            let ends: &mut [usize] = if to_keep {
                &mut self.ends[record.kept..room]
            } else {
                &mut spare_ends[..]
            };
            let (result, nin, nout, nend) = self.core.read_record(input, output, ends);
            if synthetic {
                if nin > 0 {
                    probed = true;
                    record.unclosed_quote = result == Read::InputEmpty && nout == 1;
                    self.core.set_line(self.core.line() - 1);
                }
            } else {
                if nin > 0 {
                    self.last = input[nin - 1];
                }
                self.reader.consume(nin);
                self.byte += nin as u64;
                raw += nin;
            }
            for &end in &ends[..nend] {
                record.cells += 1;
                let long = end - last_end > self.limits.field_bytes;
                if record.too_long.is_none() {
                    if long {
                        record.too_long = Some(CsvTooLong::Cell(record.cells));
                    } else if to_keep {
                        record.kept += 1;
                    }
                }
                last_end = end;
            }
            if to_buf {
                stored += nout;
            }
            produced += nout;
            // The line break that ends a record is not part of it.
            let ended = result == Read::Record && !synthetic && matches!(self.last, b'\n' | b'\r');
            let length = raw - usize::from(ended);
            if record.too_long.is_none() {
                if length > self.limits.record_bytes {
                    record.too_long = Some(CsvTooLong::Record);
                } else if produced - last_end > self.limits.field_bytes {
                    record.too_long = Some(CsvTooLong::Cell(record.cells + 1));
                }
            }
            match result {
                Read::InputEmpty if probed && !synthetic => {
                    // csv-core ends a record or the file on empty input; this
                    // only guards against spinning if it ever did neither.
                    return Ok(None);
                }
                Read::InputEmpty | Read::OutputFull | Read::OutputEndsFull => {}
                Read::Record => {
                    let line = self.core.line();
                    record.end_line = if self.last == b'\n' && line > record.line {
                        line - 1
                    } else {
                        line
                    };
                    return Ok(Some(record));
                }
                Read::End => return Ok(None),
            }
        }
    }
}

/// `column 3 (`Email`)`, for messages.
pub(super) fn column_name(header: &[String], column: usize) -> String {
    if header.is_empty() {
        // The header row itself.
        return format!("column {column}");
    }
    match header.get(column - 1) {
        Some(name) => format!("column {column} (`{}`)", clip(name)),
        None => format!("column {column} (beyond the header)"),
    }
}

/// What is wrong with a record's shape (a limit, an unclosed quote), if
/// anything. `header` is empty for the header row itself.
pub(super) fn csv_shape_problem(
    record: &CsvRecord,
    header: &[String],
    limits: &Limits,
) -> Option<String> {
    if !record.unclosed_quote && record.too_long.is_none() {
        return None;
    }
    let at = format!("record starts at line {}", record.line);
    if record.unclosed_quote {
        let column = column_name(header, record.cells.max(1));
        let size = match record.too_long {
            Some(_) => format!(", more than {}", Bytes(limits.record_bytes as u64)),
            None => String::new(),
        };
        return Some(format!(
            "{column} opens a quote that is never closed, so the rest of the file \
             (up to line {}{size}) was read as this one record; close the quote, \
             and write a quote inside a quoted cell as \"\" ({at})",
            record.end_line
        ));
    }
    match record.too_long? {
        CsvTooLong::Record => Some(format!(
            "the record is longer than the limit of {} and was skipped up to its end \
             at line {} ({at})",
            Bytes(limits.record_bytes as u64),
            record.end_line
        )),
        CsvTooLong::Cell(column) => Some(format!(
            "{} is longer than the limit of {} ({at})",
            column_name(header, column),
            Bytes(limits.field_bytes as u64)
        )),
    }
}

/// Reads the header row: names trimmed, a UTF-8 BOM stripped from the first.
pub(super) fn csv_header<R: Read>(
    records: &mut CsvRecords<R>,
) -> Result<Vec<String>, ContactsError> {
    let limits = records.limits;
    let Some(record) = records.next(limits.fields.saturating_add(1))? else {
        return Err(ContactsError::NoHeader);
    };
    if let Some(problem) = csv_shape_problem(&record, &[], &limits) {
        return Err(ContactsError::Header(HeaderError::Shape(problem)));
    }
    if record.cells > limits.fields {
        return Err(ContactsError::Header(HeaderError::TooManyColumns(
            limits.fields,
        )));
    }
    let mut names = Vec::with_capacity(record.cells);
    for i in 0..record.cells {
        let name = std::str::from_utf8(records.cell(i))
            .map_err(|_| ContactsError::Header(HeaderError::NotUtf8(i + 1)))?;
        let name = if i == 0 {
            name.trim_start_matches('\u{feff}')
        } else {
            name
        };
        names.push(name.trim().to_owned());
    }
    Ok(names)
}

pub(super) fn csv_contacts<R, F, E>(input: R, b: &mut Builder<'_>, each: &mut F) -> Result<(), E>
where
    R: Read,
    F: FnMut(Row<'_>) -> Result<(), E>,
    E: From<ContactsError>,
{
    let mut records = CsvRecords::new(input, b.limits);
    let header = csv_header(&mut records)?;

    // Column roles, first column of a name wins.
    let mut roles = Vec::with_capacity(header.len());
    let mut seen = HashSet::new();
    for name in &header {
        let first = seen.insert(name.as_str());
        roles.push(if first {
            Role::of(name, b.slots)
        } else {
            Role::default()
        });
    }
    let id_column = roles.iter().position(|r| r.id);

    let mut row = 0u64;
    while let Some(record) = records.next(header.len()).map_err(ContactsError::from)? {
        row += 1;
        b.begin(row);
        let mut outcome = match csv_shape_problem(&record, &header, &b.limits) {
            Some(problem) => Err(problem),
            None => Ok(()),
        };
        if outcome.is_ok() {
            // Cells beyond the header are ignored; missing ones stay absent.
            for (column, role) in roles.iter().enumerate().take(record.kept) {
                match std::str::from_utf8(records.cell(column)) {
                    Ok(text) => {
                        if !role.is_unused() {
                            b.apply(*role, text);
                        }
                    }
                    Err(_) => {
                        outcome = Err(format!(
                            "{} is not valid UTF-8 (record starts at line {}, byte offset {})",
                            column_name(&header, column + 1),
                            record.line,
                            record.byte
                        ));
                        break;
                    }
                }
            }
        }
        if outcome.is_err() && !b.id_set {
            // The id cell may come after the bad one, or before the point
            // where a record past a limit stopped being kept.
            let id = id_column
                .filter(|&c| c < record.kept)
                .map(|c| records.cell(c))
                .filter(|cell| cell.len() <= b.limits.field_bytes)
                .and_then(|cell| std::str::from_utf8(cell).ok());
            if let Some(id) = id {
                b.apply(
                    Role {
                        id: true,
                        ..Role::default()
                    },
                    id,
                );
            }
        }
        emit(b, outcome, each)?;
    }
    Ok(())
}
