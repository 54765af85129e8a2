//! Streaming readers for contacts files (CSV, JSON array, NDJSON).
//!
//! A run executes the compiled program once per contact, for up to millions of
//! contacts, so contacts are streamed one record at a time into a single
//! reused [`Contact`]: memory does not grow with the size of the file, and in
//! steady state the CSV path allocates nothing per row (field strings are
//! cleared and refilled, buffers of absent fields are pooled). The one thing
//! that grows with the number of contacts is the set of ids already seen
//! (16 bytes per id, see [`for_each_contact`]).
//!
//! Only the fields the caller has a slot for (see [`FieldSlots`]) are stored;
//! `Contact ID` and `Tags` are always read because they give the contact's id
//! and tags. A bad record is handed to the callback as [`Row::Invalid`] and the
//! rest go on; only problems that leave nothing sensible to read (I/O errors,
//! no usable CSV header, a JSON file that is not an array) are fatal
//! ([`ContactsError`]).
//!
//! Decisions worth knowing:
//! - Record numbers ([`Contact::row`]) count every record, valid or not: CSV
//!   data rows (the header and blank lines do not count), JSON array elements,
//!   non-blank NDJSON lines. Messages also give the line where it helps.
//! - [`Limits`]: a record longer than 16 MiB as written, or a field longer
//!   than 1 MiB, makes that record invalid. The reader never holds more than
//!   the limit: it skips the rest of the record without keeping it and goes
//!   on with the next, at the boundary the format itself gives (CSV: the end
//!   of the row by the CSV grammar, quotes included; NDJSON: the next line
//!   break; a JSON array: the element's closing bracket, found by a scanner
//!   that follows strings and nesting).
//! - A CSV quote that is never closed swallows the rest of the file into one
//!   cell. That record is invalid and the message says where it starts and
//!   that the rest of the file went with it. The reader does not guess where
//!   the quote should have closed: a guess could turn the inside of a real
//!   multi-line cell into contacts that get sent.
//! - A field that appears twice (duplicate CSV header, duplicate JSON key):
//!   the first occurrence wins.
//! - CSV cells are taken as written (no trimming); an empty cell is present
//!   but empty (`Some("")`); a short row leaves its missing columns absent
//!   (`None`); cells beyond the header are ignored.
//! - JSON values become text: strings as-is; numbers exactly as written
//!   (`12345678901234567890123`, `1.50`, `-0`, `1e400` keep every character);
//!   `true`/`false`; `null` means absent; nested arrays and objects become
//!   compact JSON text (whitespace dropped, keys in file order, numbers as
//!   written, strings escaped as serde_json writes them).
//! - `Contact ID` is trimmed; when it is absent, empty or `null` the id is the
//!   record number. `Tags` is split on commas when it is text (CSV, or a JSON
//!   string); a JSON array gives one tag per element. If the caller also has a
//!   slot for `Tags`, it gets the text as written, or for an array the final
//!   tags joined with `,`.
//! - Ids are unique: a record whose id (its `Contact ID`, or its record number
//!   when it has none) is the id of an earlier record, valid or not, is
//!   invalid ([`RowErrorKind::DuplicateId`]), since the id keys everything a
//!   run records about a contact and every idempotency key it sends.
//! - A syntax error inside a `.json` array is fatal (after one, the next
//!   element cannot be found reliably); in NDJSON it only spoils its own line.

use std::fmt;
use std::io::{self, Read};

use crate::input::Bytes;

mod csv;
mod format;
mod ids;
mod json;
mod names;
mod ndjson;
mod object;
mod record;

pub use format::{ContactsFormat, UnknownFormat};
pub use names::{field_names, field_names_with};

use csv::csv_contacts;
use json::json_contacts;
use ndjson::ndjson_contacts;
use object::json_message;
use record::Builder;

/// The field holding a contact's id (exact name).
const CONTACT_ID: &str = "Contact ID";
/// The field holding a contact's tags (exact name).
const TAGS: &str = "Tags";
/// How many unused `String` buffers are pooled for reuse; bounds what a single
/// freak record (thousands of tags) can keep alive afterwards.
const SPARE_CAP: usize = 256;
/// Up to this many tags, duplicates are found by a linear scan (no
/// allocation); beyond, a hash set takes over so huge tag lists stay linear.
const LINEAR_DEDUP_MAX: usize = 32;
/// Read buffer of every format; also the most a record can overshoot a limit
/// by before the reader notices.
const READ_BUFFER: usize = 64 * 1024;

/// The read buffer for `limits`: no larger than a record needs, so readers
/// with small limits (the fuzz target's) stay cheap to create.
fn read_buffer(limits: &Limits) -> usize {
    READ_BUFFER.min(limits.record_bytes.max(4096))
}

/// `input` behind a read buffer sized by [`read_buffer`].
fn buffered<R: Read>(input: R, limits: &Limits) -> io::BufReader<R> {
    io::BufReader::with_capacity(read_buffer(limits), input)
}

/// Default [`Limits::record_bytes`]: 16 MiB.
pub const MAX_RECORD_BYTES: usize = 16 << 20;
/// Default [`Limits::field_bytes`]: 1 MiB.
pub const MAX_FIELD_BYTES: usize = 1 << 20;
/// Default [`Limits::fields`]: 65,536 (four times a spreadsheet's columns).
pub const MAX_FIELDS: usize = 65_536;

/// Caps that keep a hostile or broken contacts file from filling memory.
/// [`Limits::default`] is what the binary uses; the fuzz target lowers them
/// so they are reached quickly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest record in bytes as written in the file: a CSV row (all its
    /// lines), a JSON array element, an NDJSON line (without its line
    /// break). Past it the record is invalid and skipped.
    pub record_bytes: usize,
    /// Largest field in bytes: a CSV cell after unquoting, a JSON value as
    /// written (quotes and escapes included). Past it the record is invalid.
    pub field_bytes: usize,
    /// Most field names: columns of a CSV header, and the distinct names
    /// [`field_names`] collects from JSON. Past it reading stops
    /// ([`ContactsError::Header`] or [`ContactsError::Fields`]); the names'
    /// total size is also held to `record_bytes`.
    pub fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            record_bytes: MAX_RECORD_BYTES,
            field_bytes: MAX_FIELD_BYTES,
            fields: MAX_FIELDS,
        }
    }
}

/// One contact, reused between rows to avoid allocation: copy out what must
/// outlive the callback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// Its `Contact ID` field (trimmed) if present and non-empty, else the
    /// 1-based record number as text.
    pub id: String,
    /// 1-based record number (CSV: data row, not counting the header; JSON:
    /// array element; NDJSON: non-blank line).
    pub row: u64,
    /// Indexed by the caller's field slots ([`FieldSlots`]); `None` = the field
    /// is absent for this contact.
    pub fields: Vec<Option<String>>,
    /// The contact's tags from its `Tags` field: trimmed, no empties, no
    /// duplicates, in file order.
    pub tags: Vec<String>,
}

/// Maps field names to the caller's field slots: the compiled program knows
/// which fields it uses, so only those are stored.
pub trait FieldSlots {
    /// The slot for the field named exactly `name`, if the caller uses it.
    /// Slots must be below [`FieldSlots::len`]; others are ignored.
    fn slot(&self, name: &str) -> Option<usize>;

    /// The number of slots, i.e. the length of [`Contact::fields`].
    fn len(&self) -> usize;

    /// Whether there are no slots at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Field names in slot order (slot = position). Lookup is a linear scan, which
/// suits the few fields a script uses.
impl<S: AsRef<str>> FieldSlots for Vec<S> {
    fn slot(&self, name: &str) -> Option<usize> {
        self.iter().position(|n| n.as_ref() == name)
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// Field names in slot order (slot = position), as for `Vec`.
impl<S: AsRef<str>, const N: usize> FieldSlots for [S; N] {
    fn slot(&self, name: &str) -> Option<usize> {
        self.iter().position(|n| n.as_ref() == name)
    }

    fn len(&self) -> usize {
        N
    }
}

/// One record handed to the callback of [`for_each_contact`].
#[derive(Debug)]
pub enum Row<'c> {
    /// A readable contact (borrowed: the same value is refilled for the next).
    Contact(&'c Contact),
    /// A bad record: report it; the following records are still read.
    Invalid(RowError),
}

/// What kind of problem a [`RowError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowErrorKind {
    /// The record cannot be read: bad UTF-8, bad JSON, over a limit, an
    /// unclosed CSV quote, a value of the wrong shape.
    Invalid,
    /// The record's id is the id of an earlier record. Whatever a run records
    /// under an id belongs to the first record, not to this one.
    DuplicateId,
}

impl RowErrorKind {
    /// The stable code reported for it.
    pub fn code(self) -> &'static str {
        match self {
            RowErrorKind::Invalid => "campaign::contacts::invalid_record",
            RowErrorKind::DuplicateId => "campaign::contacts::duplicate_id",
        }
    }
}

/// Why one record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based record number, counted as for [`Contact::row`].
    pub row: u64,
    /// The record's `Contact ID`, if it could be read.
    pub id: Option<String>,
    /// What is wrong, with the line (and column or byte offset) where known.
    pub message: String,
    /// Which kind of problem, hence its code.
    pub kind: RowErrorKind,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(
                f,
                "contact row {} (Contact ID {id}): {}",
                self.row, self.message
            ),
            None => write!(f, "contact row {}: {}", self.row, self.message),
        }
    }
}

impl std::error::Error for RowError {}

/// A problem that stops reading the contacts file.
#[derive(Debug, thiserror::Error)]
pub enum ContactsError {
    /// Reading the input failed.
    #[error("cannot read contacts: {0}")]
    Io(io::Error),
    /// A CSV file without even a header row (e.g. an empty file).
    #[error("contacts CSV has no header row")]
    NoHeader,
    /// The CSV header row cannot be used.
    #[error("contacts CSV header: {0}")]
    Header(HeaderError),
    /// The CSV reader failed (the message says where).
    #[error("invalid contacts CSV: {0}")]
    Csv(String),
    /// The JSON file is not an array of objects, or is not valid JSON.
    #[error("invalid contacts JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column (byte within the line) of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// [`field_names`] met more distinct field names than
    /// [`Limits::fields`] allows, or more bytes of them than
    /// [`Limits::record_bytes`].
    #[error(
        "contacts: more than {names} distinct field names (or more than {} of them)",
        Bytes(*bytes)
    )]
    Fields {
        /// The most names.
        names: usize,
        /// The most bytes of names.
        bytes: u64,
    },
}

/// Why a CSV header row cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The row is past a limit or opens a quote it never closes; the text
    /// says which, as for a data record.
    #[error("{0}")]
    Shape(String),
    /// More columns than [`Limits::fields`].
    #[error("more than {0} columns")]
    TooManyColumns(usize),
    /// A column name that is not UTF-8 (1-based column).
    #[error("column {0} name is not valid UTF-8")]
    NotUtf8(usize),
}

impl From<io::Error> for ContactsError {
    fn from(e: io::Error) -> Self {
        ContactsError::Io(e)
    }
}

impl From<serde_json::Error> for ContactsError {
    fn from(e: serde_json::Error) -> Self {
        if e.is_io() {
            return ContactsError::Io(io::Error::from(e));
        }
        ContactsError::Json {
            line: e.line(),
            // serde_json counts 0 at the very end of the input.
            column: e.column().max(1),
            message: json_message(&e),
        }
    }
}

/// Streams every contact of `input` to `each`, in file order, within the
/// default [`Limits`].
///
/// Reading stops at the first fatal problem ([`ContactsError`], converted into
/// `E`) or as soon as `each` returns `Err`, which is returned unchanged. `E` is
/// the caller's error type; `ContactsError` itself works. The input need not be
/// buffered. The module docs say how records and values are read.
///
/// Memory: one record (at most [`Limits::record_bytes`] plus a read buffer),
/// plus the ids seen so far: nothing for integer ids in increasing order,
/// else 16 bytes per id in a hash table between 44% and 88% full (measured:
/// 38 MiB more at a million text ids); the table is split in 256 parts so
/// growing it never doubles the total.
///
/// ```
/// use campaign::contacts::{for_each_contact, ContactsError, ContactsFormat, Row};
///
/// let csv = "Contact ID,First Name,Tags\n7,Ann,\"vip, new\"\n,Bob,\n";
/// let slots = vec!["First Name"];
/// let mut seen = Vec::new();
/// for_each_contact(csv.as_bytes(), ContactsFormat::Csv, &slots, |row| {
///     if let Row::Contact(c) = row {
///         seen.push((c.id.clone(), c.fields[0].clone(), c.tags.clone()));
///     }
///     Ok::<(), ContactsError>(())
/// })?;
/// assert_eq!(seen[0], ("7".into(), Some("Ann".into()), vec!["vip".into(), "new".into()]));
/// assert_eq!(seen[1], ("2".into(), Some("Bob".into()), vec![]));
/// # Ok::<(), ContactsError>(())
/// ```
pub fn for_each_contact<R, F, E>(
    input: R,
    format: ContactsFormat,
    slots: &dyn FieldSlots,
    each: F,
) -> Result<(), E>
where
    R: Read,
    F: FnMut(Row<'_>) -> Result<(), E>,
    E: From<ContactsError>,
{
    for_each_contact_with(input, format, slots, &Limits::default(), each)
}

/// [`for_each_contact`] within the given limits.
pub fn for_each_contact_with<R, F, E>(
    input: R,
    format: ContactsFormat,
    slots: &dyn FieldSlots,
    limits: &Limits,
    mut each: F,
) -> Result<(), E>
where
    R: Read,
    F: FnMut(Row<'_>) -> Result<(), E>,
    E: From<ContactsError>,
{
    let mut builder = Builder::new(slots, *limits);
    match format {
        ContactsFormat::Csv => csv_contacts(input, &mut builder, &mut each),
        ContactsFormat::Json => json_contacts(input, &mut builder, &mut each),
        ContactsFormat::Ndjson => ndjson_contacts(input, &mut builder, &mut each),
    }
}

#[cfg(test)]
mod bounds;
#[cfg(test)]
mod tests;
