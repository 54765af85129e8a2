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

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::mem;
use std::path::Path;
use std::str::FromStr;

use serde::de::{self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize as _;
use serde_json::value::RawValue;

use crate::input::Bytes;

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

/// The format of a contacts file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactsFormat {
    /// Comma-separated values with a header row naming the fields.
    Csv,
    /// One JSON array of contact objects.
    Json,
    /// One JSON contact object per line (also known as JSON Lines).
    Ndjson,
}

impl ContactsFormat {
    /// By extension: `.csv`, `.json`, `.ndjson` / `.jsonl` (case-insensitive);
    /// `None` otherwise, so the caller can ask for `--contacts-format`.
    pub fn from_path(path: &Path) -> Option<ContactsFormat> {
        let ext = path.extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("csv") {
            Some(ContactsFormat::Csv)
        } else if ext.eq_ignore_ascii_case("json") {
            Some(ContactsFormat::Json)
        } else if ext.eq_ignore_ascii_case("ndjson") || ext.eq_ignore_ascii_case("jsonl") {
            Some(ContactsFormat::Ndjson)
        } else {
            None
        }
    }

    /// The name accepted by [`FromStr`] (`csv`, `json`, `ndjson`).
    pub fn name(self) -> &'static str {
        match self {
            ContactsFormat::Csv => "csv",
            ContactsFormat::Json => "json",
            ContactsFormat::Ndjson => "ndjson",
        }
    }
}

impl fmt::Display for ContactsFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--contacts-format` value that names no known format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown contacts format `{0}` (expected csv, json or ndjson)")]
pub struct UnknownFormat(pub String);

impl FromStr for ContactsFormat {
    type Err = UnknownFormat;

    /// `csv`, `json`, `ndjson` (or its alias `jsonl`), case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("csv") {
            Ok(ContactsFormat::Csv)
        } else if s.eq_ignore_ascii_case("json") {
            Ok(ContactsFormat::Json)
        } else if s.eq_ignore_ascii_case("ndjson") || s.eq_ignore_ascii_case("jsonl") {
            Ok(ContactsFormat::Ndjson)
        } else {
            Err(UnknownFormat(s.to_owned()))
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
    Header(String),
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
    /// [`field_names`] met more field names than [`Limits::fields`] allows.
    #[error("contacts: {0}")]
    Fields(String),
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
            column: e.column(),
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

/// The field names a sample file defines, for `campaign check --contacts`:
/// the CSV header, or for JSON/NDJSON the union of the records' keys in
/// first-seen order. Empty names and repeats are left out.
///
/// Records that would be [`Row::Invalid`] contribute nothing (non-object JSON
/// elements, unparsable or too long NDJSON lines, too long JSON elements);
/// fatal problems are errors as in [`for_each_contact`].
pub fn field_names<R: Read>(
    input: R,
    format: ContactsFormat,
) -> Result<Vec<String>, ContactsError> {
    field_names_with(input, format, &Limits::default())
}

/// [`field_names`] within the given limits.
pub fn field_names_with<R: Read>(
    input: R,
    format: ContactsFormat,
    limits: &Limits,
) -> Result<Vec<String>, ContactsError> {
    let mut names = Names::new(limits);
    match format {
        ContactsFormat::Csv => {
            let mut records = CsvRecords::new(input, *limits);
            for name in csv_header(&mut records)? {
                names.add(&name);
            }
        }
        ContactsFormat::Json => {
            let mut array = JsonArray::new(input, limits.record_bytes);
            while let Some(element) = array.next_element()? {
                if element.too_long {
                    continue;
                }
                names_of(&mut names, &array.buf).map_err(|e| element.error(&e))?;
                names.check()?;
            }
        }
        ContactsFormat::Ndjson => {
            let mut lines = Lines::new(input, limits.record_bytes);
            while let Some((_, line)) = lines.next_record()? {
                let Some(line) = line else { continue };
                let before = names.list.len();
                if names_of(&mut names, line).is_err() {
                    // Keep only names from lines that parse, like the run would.
                    names.forget_from(before);
                }
                names.check()?;
            }
        }
    }
    names.check()?;
    Ok(names.list)
}

// ---------------------------------------------------------------------------
// Shared record building
// ---------------------------------------------------------------------------

/// What a field name means to the reader.
#[derive(Debug, Clone, Copy, Default)]
struct Role {
    /// The caller's slot for it.
    slot: Option<usize>,
    /// It is `Contact ID`.
    id: bool,
    /// It is `Tags`.
    tags: bool,
}

impl Role {
    fn of(name: &str, slots: &dyn FieldSlots) -> Role {
        Role {
            // An out-of-range slot is a caller bug; ignore it rather than panic.
            slot: slots.slot(name).filter(|&s| s < slots.len()),
            id: name == CONTACT_ID,
            tags: name == TAGS,
        }
    }

    fn is_unused(self) -> bool {
        self.slot.is_none() && !self.id && !self.tags
    }
}

/// Fills the reused [`Contact`] one record at a time.
struct Builder<'s> {
    slots: &'s dyn FieldSlots,
    limits: Limits,
    contact: Contact,
    /// Per slot: set by the current record (so the first occurrence wins and
    /// unset slots become `None` at the end).
    set: Vec<bool>,
    id_set: bool,
    tags_set: bool,
    /// Number of valid entries at the front of `contact.tags`; the entries
    /// after it are stale buffers waiting to be reused or pooled.
    tag_len: usize,
    /// Buffers of fields that went absent, for reuse.
    spare: Vec<String>,
    /// What is wrong with the current record, if anything (first problem wins).
    problem: Option<String>,
    /// Scratch text for JSON values that need rewriting.
    scratch: String,
    /// Every id met so far.
    ids: SeenIds,
}

impl<'s> Builder<'s> {
    fn new(slots: &'s dyn FieldSlots, limits: Limits) -> Self {
        let len = slots.len();
        Builder {
            slots,
            limits,
            contact: Contact {
                id: String::new(),
                row: 0,
                fields: vec![None; len],
                tags: Vec::new(),
            },
            set: vec![false; len],
            id_set: false,
            tags_set: false,
            tag_len: 0,
            spare: Vec::new(),
            problem: None,
            scratch: String::new(),
            ids: SeenIds::new(),
        }
    }

    /// Starts record `row`; values from the previous record are overwritten
    /// or dropped by [`Builder::finish`].
    fn begin(&mut self, row: u64) {
        self.contact.row = row;
        self.contact.id.clear();
        self.set.fill(false);
        self.id_set = false;
        self.tags_set = false;
        self.tag_len = 0;
        self.problem = None;
    }

    /// Completes a good record: unset fields become absent, stale tags go, and
    /// a missing id becomes the row number.
    fn finish(&mut self) {
        for (set, field) in self.set.iter().zip(self.contact.fields.iter_mut()) {
            if !*set {
                if let Some(buf) = field.take() {
                    pool(&mut self.spare, buf);
                }
            }
        }
        let len = self.tag_len.min(self.contact.tags.len());
        for buf in self.contact.tags.drain(len..) {
            pool(&mut self.spare, buf);
        }
        if !self.id_set {
            let mut digits = [0u8; 21];
            self.contact.id.clear();
            self.contact
                .id
                .push_str(int_text(false, self.contact.row, &mut digits));
        }
    }

    /// The error for the current record.
    fn row_error(&self, message: String) -> RowError {
        RowError {
            row: self.contact.row,
            id: self.id_set.then(|| self.contact.id.clone()),
            message,
            kind: RowErrorKind::Invalid,
        }
    }

    fn note_problem(&mut self, message: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some(message.into());
        }
    }

    /// Stores a field's text wherever its role says.
    fn apply(&mut self, role: Role, text: &str) {
        if role.id && !self.id_set {
            let id = text.trim();
            if !id.is_empty() {
                self.contact.id.clear();
                self.contact.id.push_str(id);
                self.id_set = true;
            }
        }
        if role.tags && !self.tags_set {
            self.tags_set = true;
            for tag in text.split(',') {
                self.add_tag(tag);
            }
            self.dedup_tags();
        }
        if let Some(slot) = role.slot {
            if let Some(buf) = self.field_buf(slot) {
                buf.push_str(text);
            }
        }
    }

    /// The cleared buffer for `slot`, or `None` if the slot was already set by
    /// this record (first wins) or does not exist.
    fn field_buf(&mut self, slot: usize) -> Option<&mut String> {
        let set = self.set.get_mut(slot)?;
        if *set {
            return None;
        }
        *set = true;
        let field = self.contact.fields.get_mut(slot)?;
        let buf = field.get_or_insert_with(|| self.spare.pop().unwrap_or_default());
        buf.clear();
        Some(buf)
    }

    /// Appends one tag (trimmed; empty ones dropped). Duplicates are skipped
    /// here while the list is short and by [`Builder::dedup_tags`] after.
    fn add_tag(&mut self, tag: &str) {
        let tag = tag.trim();
        if tag.is_empty() {
            return;
        }
        let tags = &mut self.contact.tags;
        let len = self.tag_len.min(tags.len());
        if len <= LINEAR_DEDUP_MAX && tags[..len].iter().any(|t| t == tag) {
            return;
        }
        match tags.get_mut(len) {
            Some(buf) => {
                buf.clear();
                buf.push_str(tag);
            }
            None => {
                let mut buf = self.spare.pop().unwrap_or_default();
                buf.clear();
                buf.push_str(tag);
                tags.push(buf);
            }
        }
        self.tag_len = len + 1;
    }

    /// Drops repeated tags (keeping the first) once a long list was built
    /// without checking each one.
    fn dedup_tags(&mut self) {
        if self.tag_len <= LINEAR_DEDUP_MAX + 1 {
            return;
        }
        let tags = &mut self.contact.tags;
        let len = self.tag_len.min(tags.len());
        for buf in tags.drain(len..) {
            pool(&mut self.spare, buf);
        }
        let keep: Vec<bool> = {
            let mut seen = HashSet::with_capacity(tags.len());
            tags.iter().map(|t| seen.insert(t.as_str())).collect()
        };
        let mut keep = keep.into_iter();
        tags.retain(|_| keep.next().unwrap_or(true));
        self.tag_len = tags.len();
    }

    /// Stores the array form of `Tags` in the `Tags` slot, joined with `,`.
    fn store_joined_tags(&mut self, slot: Option<usize>) {
        let Some(slot) = slot else { return };
        let len = self.tag_len.min(self.contact.tags.len());
        // Taking the tags out for a moment lets the slot buffer be borrowed.
        let tags = mem::take(&mut self.contact.tags);
        if let Some(buf) = self.field_buf(slot) {
            for (i, tag) in tags[..len].iter().enumerate() {
                if i > 0 {
                    buf.push(',');
                }
                buf.push_str(tag);
            }
        }
        self.contact.tags = tags;
    }
}

/// Keeps `buf` for reuse unless the pool is full.
fn pool(spare: &mut Vec<String>, buf: String) {
    if spare.len() < SPARE_CAP {
        spare.push(buf);
    }
}

/// Formats an integer into `buf` without allocating.
fn int_text(negative: bool, mut n: u64, buf: &mut [u8; 21]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    // Only ASCII digits and '-' were written.
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

/// Hands one finished record to the callback, first making sure its id is
/// not the id of an earlier record.
fn emit<F, E>(b: &mut Builder<'_>, outcome: Result<(), String>, each: &mut F) -> Result<(), E>
where
    F: FnMut(Row<'_>) -> Result<(), E>,
{
    let row = b.contact.row;
    match outcome {
        Ok(()) => {
            b.finish();
            match b.ids.insert(&b.contact.id, row) {
                None => each(Row::Contact(&b.contact)),
                Some(first) => {
                    let message = duplicate_message(&b.contact.id, b.id_set, row, first);
                    each(Row::Invalid(RowError {
                        row,
                        id: Some(b.contact.id.clone()),
                        message,
                        kind: RowErrorKind::DuplicateId,
                    }))
                }
            }
        }
        Err(message) => {
            // An unreadable record still takes its id: a later record with
            // the same one would share what a run records under it.
            let mut digits = [0u8; 21];
            let id = if b.id_set {
                b.contact.id.as_str()
            } else {
                int_text(false, row, &mut digits)
            };
            let error = match b.ids.insert(id, row) {
                None => b.row_error(message),
                Some(first) => RowError {
                    row,
                    id: Some(id.to_owned()),
                    message: format!(
                        "{}; the record is also unreadable: {message}",
                        duplicate_message(id, b.id_set, row, first)
                    ),
                    kind: RowErrorKind::DuplicateId,
                },
            };
            each(Row::Invalid(error))
        }
    }
}

/// Why record `row` with id `id` is refused: record `first` has that id.
fn duplicate_message(id: &str, explicit: bool, row: u64, first: u64) -> String {
    let id = clip(id);
    let first = if first == ROW_MAX {
        "an earlier record".to_owned()
    } else {
        format!("record {first}")
    };
    if explicit {
        format!("Contact ID `{id}` is already the id of {first}")
    } else {
        format!(
            "this record has no Contact ID, so its id is its record number, {row}, \
             which is already the id of {first}"
        )
    }
}

/// At most 80 characters of `text`, for messages.
fn clip(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(80) {
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
        None => Cow::Borrowed(text),
    }
}

/// Field names in first-seen order, without repeats or empty names, up to
/// [`Limits::fields`] names and [`Limits::record_bytes`] bytes of them.
struct Names {
    list: Vec<String>,
    seen: HashSet<String>,
    bytes: usize,
    limits: Limits,
    /// A name was refused for lack of room.
    full: bool,
}

impl Names {
    fn new(limits: &Limits) -> Self {
        Names {
            list: Vec::new(),
            seen: HashSet::new(),
            bytes: 0,
            limits: *limits,
            full: false,
        }
    }

    fn add(&mut self, name: &str) {
        if name.is_empty() || self.seen.contains(name) {
            return;
        }
        if self.list.len() >= self.limits.fields
            || self.bytes + name.len() > self.limits.record_bytes
        {
            self.full = true;
            return;
        }
        self.bytes += name.len();
        self.seen.insert(name.to_owned());
        self.list.push(name.to_owned());
    }

    /// Drops the names added since `len` names were known.
    fn forget_from(&mut self, len: usize) {
        for name in self.list.drain(len..) {
            self.bytes -= name.len();
            self.seen.remove(&name);
        }
        self.full = false;
    }

    fn check(&self) -> Result<(), ContactsError> {
        if self.full {
            return Err(ContactsError::Fields(format!(
                "more than {} distinct field names (or more than {} of them)",
                self.limits.fields,
                Bytes(self.limits.record_bytes as u64)
            )));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Ids already seen
// ---------------------------------------------------------------------------

/// Record numbers are kept in the low 40 bits of an id's entry; larger ones
/// (a trillion records) saturate here and read as "an earlier record".
const ROW_BITS: u32 = 40;
const ROW_MAX: u64 = (1 << ROW_BITS) - 1;
/// Parts the id table is split into, so that growing one part at a time
/// never holds two copies of the whole table.
const ID_SHARDS: usize = 256;

/// The ids met so far, to refuse a repeated one.
///
/// Most files number their contacts: ids that are integers, each larger
/// than the one before (a CRM export sorted by id, or records without a
/// `Contact ID`, whose id is their record number). Those are kept as runs of
/// consecutive integers: 24 bytes per gap in the numbering, none per id,
/// and no hashing. Every other id goes into a hash table as one `u128`: an
/// 88-bit keyed hash of the id and the 40-bit record number that first had
/// it (8 more hash bits choose the shard). Two distinct ids share all 96
/// bits with probability about n²/2⁹⁷: below 10⁻¹⁷ at a million contacts,
/// 10⁻¹¹ at a billion. The keys are random per run (SipHash), so no file can
/// be built to collide.
struct SeenIds {
    /// Disjoint, in increasing order.
    runs: Vec<IdRun>,
    shards: Vec<HashSet<IdEntry, BuildHasherDefault<PassThrough>>>,
    /// Entries in `shards`: while there are none, integer ids need no hash.
    hashed: usize,
    keys: RandomState,
}

/// Integer ids `start..=end`, first seen at rows `row..`, one row each.
#[derive(Debug, Clone, Copy)]
struct IdRun {
    start: u64,
    end: u64,
    row: u64,
}

impl SeenIds {
    fn new() -> Self {
        SeenIds {
            runs: Vec::new(),
            shards: Vec::new(),
            hashed: 0,
            keys: RandomState::new(),
        }
    }

    /// Records `id` as first seen at `row`, or returns the row that had it.
    fn insert(&mut self, id: &str, row: u64) -> Option<u64> {
        if let Some(n) = integer_id(id) {
            if let Some(first) = self.run_row(n) {
                return Some(first);
            }
            if self.hashed == 0 {
                // Nothing hashed yet, so the table cannot hold it.
                if self.add_to_run(n, row) {
                    return None;
                }
            } else {
                let (shard, entry) = self.entry(id, row);
                if let Some(first) = self.shards[shard].get(&entry) {
                    return Some(first.row());
                }
                if !self.add_to_run(n, row) {
                    self.shards[shard].insert(entry);
                    self.hashed += 1;
                }
                return None;
            }
        }
        let (shard, entry) = self.entry(id, row);
        let set = &mut self.shards[shard];
        if set.insert(entry) {
            self.hashed += 1;
            return None;
        }
        set.get(&entry).map(|first| first.row())
    }

    /// The shard and table entry of `id` first seen at `row`; the shards
    /// are made on first use, as a file of increasing numbers needs none.
    fn entry(&mut self, id: &str, row: u64) -> (usize, IdEntry) {
        if self.shards.is_empty() {
            self.shards = (0..ID_SHARDS).map(|_| HashSet::default()).collect();
        }
        let high = self.keys.hash_one((0u8, id));
        let low = self.keys.hash_one((1u8, id));
        let key = (u128::from(high) << 24) | u128::from(low >> 40);
        let shard = (low & (ID_SHARDS as u64 - 1)) as usize;
        (
            shard,
            IdEntry((key << ROW_BITS) | u128::from(row.min(ROW_MAX))),
        )
    }

    /// The row of integer id `n` if a run holds it.
    fn run_row(&self, n: u64) -> Option<u64> {
        let last = self.runs.last()?;
        if n > last.end {
            return None;
        }
        let at = self.runs.partition_point(|r| r.end < n);
        let run = self.runs.get(at)?;
        (run.start <= n).then(|| run.row + (n - run.start))
    }

    /// Adds integer id `n` (not yet seen) to the runs if it comes after all
    /// of them; false if it does not.
    fn add_to_run(&mut self, n: u64, row: u64) -> bool {
        match self.runs.last_mut() {
            Some(last) if n <= last.end => false,
            Some(last) if n == last.end + 1 && row == last.row + (last.end - last.start) + 1 => {
                last.end = n;
                true
            }
            _ => {
                self.runs.push(IdRun {
                    start: n,
                    end: n,
                    row,
                });
                true
            }
        }
    }
}

/// `id` as an integer if it is one written the canonical way (decimal, no
/// sign, no leading zero), so that equal integers are equal ids.
fn integer_id(id: &str) -> Option<u64> {
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes.len() > 19 || (bytes[0] == b'0' && bytes.len() > 1) {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// An id's hash (the top 88 bits, compared and hashed) and its first row.
#[derive(Debug, Clone, Copy)]
struct IdEntry(u128);

impl IdEntry {
    fn key(self) -> u128 {
        self.0 >> ROW_BITS
    }

    fn row(self) -> u64 {
        (self.0 as u64) & ROW_MAX
    }
}

impl PartialEq for IdEntry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for IdEntry {}

impl Hash for IdEntry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.key() as u64);
    }
}

/// The entries are random already: hashing them again would only cost time.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

/// What went past a limit in a CSV record.
#[derive(Debug, Clone, Copy)]
enum CsvTooLong {
    Record,
    /// 1-based column.
    Cell(usize),
}

/// One CSV record's shape; its cells are in [`CsvRecords`]' buffers.
#[derive(Debug)]
struct CsvRecord {
    /// 1-based line where the record starts.
    line: u64,
    /// Byte offset where the record starts.
    byte: u64,
    /// 1-based line where it ends.
    end_line: u64,
    /// Cells in the record, kept or not.
    cells: usize,
    /// Cells kept (the first ones, up to what the caller asked for); fewer
    /// when the record went past a limit.
    kept: usize,
    too_long: Option<CsvTooLong>,
    /// The file ended inside a quoted cell.
    unclosed_quote: bool,
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
struct CsvRecords<R> {
    reader: BufReader<R>,
    core: csv_core::Reader,
    limits: Limits,
    /// Unquoted bytes of the current record's kept cells.
    buf: Vec<u8>,
    /// End of each kept cell in `buf`.
    ends: Vec<usize>,
    /// Where a record past a limit is parsed to, then forgotten.
    discard: Vec<u8>,
    /// Bytes read so far.
    byte: u64,
    /// The last byte read (to tell a final line break from a last line).
    last: u8,
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
    fn new(input: R, limits: Limits) -> Self {
        let core = SPARE_CSV_CORE
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .unwrap_or_else(csv_core::Reader::new);
        CsvRecords {
            reader: BufReader::with_capacity(read_buffer(&limits), input),
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
    fn cell(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    /// Consumes blank lines before a record, so the record's first line is
    /// known (csv-core would skip them too, inside the same call).
    fn skip_blank_lines(&mut self) -> io::Result<()> {
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
    fn next(&mut self, keep: usize) -> io::Result<Option<CsvRecord>> {
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
fn column_name(header: &[String], column: usize) -> String {
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
fn csv_shape_problem(record: &CsvRecord, header: &[String], limits: &Limits) -> Option<String> {
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
fn csv_header<R: Read>(records: &mut CsvRecords<R>) -> Result<Vec<String>, ContactsError> {
    let limits = records.limits;
    let Some(record) = records.next(limits.fields.saturating_add(1))? else {
        return Err(ContactsError::NoHeader);
    };
    if let Some(problem) = csv_shape_problem(&record, &[], &limits) {
        return Err(ContactsError::Header(problem));
    }
    if record.cells > limits.fields {
        return Err(ContactsError::Header(format!(
            "more than {} columns",
            limits.fields
        )));
    }
    let mut names = Vec::with_capacity(record.cells);
    for i in 0..record.cells {
        let name = std::str::from_utf8(records.cell(i)).map_err(|_| {
            ContactsError::Header(format!("column {} name is not valid UTF-8", i + 1))
        })?;
        let name = if i == 0 {
            name.trim_start_matches('\u{feff}')
        } else {
            name
        };
        names.push(name.trim().to_owned());
    }
    Ok(names)
}

fn csv_contacts<R, F, E>(input: R, b: &mut Builder<'_>, each: &mut F) -> Result<(), E>
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

// ---------------------------------------------------------------------------
// JSON and NDJSON
// ---------------------------------------------------------------------------

/// serde_json's message without the " at line L column C" it appends, for
/// messages that place the error themselves.
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// One element of a JSON array; its text is in [`JsonArray::buf`] unless it
/// is too long.
#[derive(Debug, Clone, Copy)]
struct Element {
    /// 1-based line and column (byte) where it starts.
    line: u64,
    column: u64,
    /// Longer than the record limit: skipped, not kept.
    too_long: bool,
}

impl Element {
    /// A parse error inside the element, placed in the file.
    fn error(&self, e: &serde_json::Error) -> ContactsError {
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
            e.column() as u64
        };
        ContactsError::Json {
            line: line as usize,
            column: column as usize,
            message: json_message(e),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
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
struct JsonArray<R> {
    reader: BufReader<R>,
    /// The current element's text.
    buf: Vec<u8>,
    limit: usize,
    state: ArrayState,
    /// Elements read.
    count: u64,
    /// Position of the next unread byte: its line, where that line starts,
    /// and its offset.
    line: u64,
    line_start: u64,
    pos: u64,
}

impl<R: Read> JsonArray<R> {
    fn new(input: R, limit: usize) -> Self {
        JsonArray {
            reader: BufReader::with_capacity(READ_BUFFER.min(limit.max(4096)), input),
            buf: Vec::new(),
            limit,
            state: ArrayState::Start,
            count: 0,
            line: 1,
            line_start: 0,
            pos: 0,
        }
    }

    fn error(&self, message: impl Into<String>) -> ContactsError {
        ContactsError::Json {
            line: self.line as usize,
            column: (self.pos - self.line_start + 1) as usize,
            message: message.into(),
        }
    }

    /// Consumes `n` buffered bytes, following lines.
    fn advance(&mut self, n: usize) {
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
    fn peek_token(&mut self) -> Result<Option<u8>, ContactsError> {
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
    fn next_element(&mut self) -> Result<Option<Element>, ContactsError> {
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
    fn scan_value(&mut self) -> Result<bool, ContactsError> {
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

fn json_contacts<R, F, E>(input: R, b: &mut Builder<'_>, each: &mut F) -> Result<(), E>
where
    R: Read,
    F: FnMut(Row<'_>) -> Result<(), E>,
    E: From<ContactsError>,
{
    let mut array = JsonArray::new(input, b.limits.record_bytes);
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

/// A non-blank NDJSON line: its 1-based number, and its text unless it was
/// longer than the record limit.
type NdjsonLine<'a> = (u64, Option<&'a [u8]>);

/// Reads NDJSON one line at a time into a reused buffer of at most the
/// record limit.
struct Lines<R> {
    reader: BufReader<R>,
    buf: Vec<u8>,
    line: u64,
    limit: usize,
}

impl<R: Read> Lines<R> {
    fn new(input: R, limit: usize) -> Self {
        Lines {
            reader: BufReader::with_capacity(READ_BUFFER.min(limit.max(4096)), input),
            buf: Vec::new(),
            line: 0,
            limit,
        }
    }

    /// The next non-blank line: its 1-based number, and its text unless it
    /// is longer than the limit (then it was read past, not kept).
    fn next_record(&mut self) -> io::Result<Option<NdjsonLine<'_>>> {
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

fn ndjson_contacts<R, F, E>(input: R, b: &mut Builder<'_>, each: &mut F) -> Result<(), E>
where
    R: Read,
    F: FnMut(Row<'_>) -> Result<(), E>,
    E: From<ContactsError>,
{
    let mut lines = Lines::new(input, b.limits.record_bytes);
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
                    e.column(),
                    json_message(&e)
                )),
            },
        };
        emit(b, outcome, each)?;
    }
    Ok(())
}

/// How reading one JSON record went (syntax errors aside).
enum Outcome {
    /// A contact object, stored in the builder.
    Object,
    /// Something other than an object (e.g. "a string").
    NotObject(&'static str),
    /// An object with an unusable value.
    Problem(String),
}

/// What a JSON value is, from its first byte.
fn json_kind(first: Option<u8>) -> &'static str {
    match first {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Reads one record (a JSON array element or an NDJSON line) into the
/// builder. Values are taken as raw JSON text, so numbers keep their digits.
fn read_record(b: &mut Builder<'_>, text: &[u8]) -> Result<Outcome, serde_json::Error> {
    let first = text.iter().copied().find(|&c| !is_json_space(c));
    let mut de = serde_json::Deserializer::from_slice(text);
    let outcome = if first == Some(b'{') {
        de.deserialize_map(ObjectSeed { b })?
    } else {
        // Checked, not converted: `1e400` is a number, not an error.
        IgnoredAny::deserialize(&mut de)?;
        Outcome::NotObject(json_kind(first))
    };
    de.end()?;
    Ok(outcome)
}

/// One contact object.
struct ObjectSeed<'a, 's> {
    b: &'a mut Builder<'s>,
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_> {
    type Value = Outcome;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a contact object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome, A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed(self.b.slots))? {
            let value: &'de RawValue = map.next_value()?;
            let raw = value.get();
            if raw.len() > self.b.limits.field_bytes {
                self.b.note_problem(format!(
                    "field `{}` is longer than the limit of {}",
                    clip(&key.name),
                    Bytes(self.b.limits.field_bytes as u64)
                ));
            } else if !key.role.is_unused() {
                self.b.apply_json(key.role, raw).map_err(A::Error::custom)?;
            }
        }
        Ok(match self.b.problem.take() {
            Some(problem) => Outcome::Problem(problem),
            None => Outcome::Object,
        })
    }
}

/// An object key: its role, and its name for messages.
struct Key<'de> {
    role: Role,
    name: Cow<'de, str>,
}

/// Looks an object key up without allocating (unless it has escapes).
struct KeySeed<'s>(&'s dyn FieldSlots);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Key<'de>, E> {
        Ok(Key {
            role: Role::of(name, self.0),
            name: Cow::Borrowed(name),
        })
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Key<'de>, E> {
        Ok(Key {
            role: Role::of(name, self.0),
            name: Cow::Owned(name.to_owned()),
        })
    }
}

/// The text of a JSON string literal (`raw` includes the quotes).
fn json_string(raw: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    if memchr::memchr(b'\\', raw.as_bytes()).is_none() && raw.len() >= 2 {
        return Ok(Cow::Borrowed(&raw[1..raw.len() - 1]));
    }
    serde_json::from_str::<String>(raw).map(Cow::Owned)
}

impl Builder<'_> {
    /// Stores a field given as raw JSON text (valid JSON: the parser checked it).
    fn apply_json(&mut self, role: Role, raw: &str) -> Result<(), serde_json::Error> {
        match raw.as_bytes().first() {
            Some(b'"') => self.apply(role, &json_string(raw)?),
            // `null` means the field is absent.
            Some(b'n') => {}
            Some(b'[') if role.tags => self.apply_json_tags(role.slot, raw)?,
            Some(b'{') if role.tags => {
                self.note_problem("`Tags` must be a string or an array of strings, not an object")
            }
            Some(b'[' | b'{') => {
                let mut text = mem::take(&mut self.scratch);
                text.clear();
                let written = write_compact(&mut text, raw);
                if written.is_ok() {
                    self.apply(role, &text);
                }
                self.scratch = text;
                written?;
            }
            // Numbers, `true` and `false`, exactly as written.
            _ => self.apply(role, raw),
        }
        Ok(())
    }

    /// The array form of `Tags`: one tag per element.
    fn apply_json_tags(&mut self, slot: Option<usize>, raw: &str) -> Result<(), serde_json::Error> {
        if self.tags_set {
            // A repeated `Tags` key: the first one wins.
            return Ok(());
        }
        self.tags_set = true;
        let items: Vec<&RawValue> = serde_json::from_str(raw)?;
        for item in items {
            let text = item.get();
            match text.as_bytes().first() {
                Some(b'"') => self.add_tag(&json_string(text)?),
                // A `null` tag is no tag.
                Some(b'n') => {}
                Some(b'[') => {
                    self.note_problem("`Tags` array elements must be strings, not arrays")
                }
                Some(b'{') => {
                    self.note_problem("`Tags` array elements must be strings, not objects")
                }
                _ => self.add_tag(text),
            }
        }
        self.dedup_tags();
        self.store_joined_tags(slot);
        Ok(())
    }
}

/// Appends valid JSON `raw` without its whitespace, keeping keys in file
/// order and numbers as written; strings with escapes are rewritten the way
/// serde_json writes them, so the same value always gives the same text.
fn write_compact(out: &mut String, raw: &str) -> Result<(), serde_json::Error> {
    let bytes = raw.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b if is_json_space(b) => {
                out.push_str(&raw[copied..i]);
                i += 1;
                copied = i;
            }
            b'"' => {
                let start = i;
                let mut escapes = false;
                i += 1;
                while let Some(k) = memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    i += k;
                    if bytes[i] == b'\\' {
                        escapes = true;
                        i += 2;
                    } else {
                        i += 1;
                        break;
                    }
                }
                let i_end = i.min(bytes.len());
                if escapes {
                    out.push_str(&raw[copied..start]);
                    write_json_string(out, &serde_json::from_str::<String>(&raw[start..i_end])?);
                    copied = i_end;
                }
                i = i_end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&raw[copied..]);
    Ok(())
}

/// Writes `s` as a JSON string literal, escaped as serde_json does.
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[n >> 4]));
                out.push(char::from(HEX[n & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The keys of one record for `field_names`, if it is an object.
fn names_of(names: &mut Names, text: &[u8]) -> Result<(), serde_json::Error> {
    let first = text.iter().copied().find(|&c| !is_json_space(c));
    let mut de = serde_json::Deserializer::from_slice(text);
    if first == Some(b'{') {
        de.deserialize_map(NamesObject(names))?;
    } else {
        IgnoredAny::deserialize(&mut de)?;
    }
    de.end()
}

/// `field_names` for one object: its keys.
struct NamesObject<'a>(&'a mut Names);

impl<'de> Visitor<'de> for NamesObject<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a contact object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed(&NO_SLOTS))? {
            self.0.add(&key.name);
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// No slots at all, for reading keys only.
const NO_SLOTS: [&str; 0] = [];

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Every record as an owned value, for comparing.
    fn read_all(
        input: &[u8],
        format: ContactsFormat,
        slots: &dyn FieldSlots,
    ) -> Result<Vec<Result<Contact, RowError>>, ContactsError> {
        let mut out = Vec::new();
        for_each_contact(input, format, slots, |row| {
            out.push(match row {
                Row::Contact(c) => Ok(c.clone()),
                Row::Invalid(e) => Err(e),
            });
            Ok::<(), ContactsError>(())
        })?;
        Ok(out)
    }

    fn contacts(input: &[u8], format: ContactsFormat, slots: &dyn FieldSlots) -> Vec<Contact> {
        read_all(input, format, slots)
            .expect("no fatal error")
            .into_iter()
            .map(|r| r.expect("valid row"))
            .collect()
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn format_from_path_and_name() {
        assert_eq!(
            ContactsFormat::from_path(Path::new("a/b.CSV")),
            Some(ContactsFormat::Csv)
        );
        assert_eq!(
            ContactsFormat::from_path(Path::new("x.json")),
            Some(ContactsFormat::Json)
        );
        assert_eq!(
            ContactsFormat::from_path(Path::new("x.Ndjson")),
            Some(ContactsFormat::Ndjson)
        );
        assert_eq!(
            ContactsFormat::from_path(Path::new("x.jsonl")),
            Some(ContactsFormat::Ndjson)
        );
        assert_eq!(ContactsFormat::from_path(Path::new("x.txt")), None);
        assert_eq!(ContactsFormat::from_path(Path::new("csv")), None);
        assert_eq!("CSV".parse::<ContactsFormat>(), Ok(ContactsFormat::Csv));
        assert_eq!(
            "ndjson".parse::<ContactsFormat>(),
            Ok(ContactsFormat::Ndjson)
        );
        assert_eq!("json".parse::<ContactsFormat>(), Ok(ContactsFormat::Json));
        let err = "xml".parse::<ContactsFormat>().unwrap_err();
        assert!(err.to_string().contains("`xml`"), "{err}");
        for f in [
            ContactsFormat::Csv,
            ContactsFormat::Json,
            ContactsFormat::Ndjson,
        ] {
            assert_eq!(f.to_string().parse::<ContactsFormat>(), Ok(f));
        }
    }

    #[test]
    fn csv_quotes_commas_newlines_bom_and_short_rows() {
        let input = "\u{feff}First Name , Email,Note\n\
                     \"Ann, Jr.\",ann@x.com,\"said \"\"hi\"\"\nthen left\"\n\
                     Bob\n\
                     \n\
                     Cy,,x,extra,cells\n";
        let slots = vec!["First Name", "Email", "Note", "Missing"];
        let got = contacts(input.as_bytes(), ContactsFormat::Csv, &slots);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0].fields,
            vec![
                some("Ann, Jr."),
                some("ann@x.com"),
                some("said \"hi\"\nthen left"),
                None
            ]
        );
        assert_eq!((got[0].row, got[0].id.as_str()), (1, "1"));
        // Short row: missing columns are absent; blank lines are not records.
        assert_eq!(got[1].fields, vec![some("Bob"), None, None, None]);
        // Empty cell is present but empty; extra cells ignored.
        assert_eq!(got[2].fields, vec![some("Cy"), some(""), some("x"), None]);
        assert_eq!((got[2].row, got[2].id.as_str()), (3, "3"));
        assert!(got.iter().all(|c| c.tags.is_empty()));
    }

    #[test]
    fn csv_invalid_utf8_row_is_reported_and_reading_goes_on() {
        let mut input = b"Name,Contact ID\nAnn,1\n".to_vec();
        input.extend_from_slice(b"B\xffb,2\n");
        input.extend_from_slice(b"Cy,3\n");
        let slots = vec!["Name"];
        let got = read_all(&input, ContactsFormat::Csv, &slots).expect("not fatal");
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0].as_ref().map(|c| c.fields.clone()),
            Ok(vec![some("Ann")])
        );
        let err = got[1].as_ref().expect_err("invalid row");
        assert_eq!(err.row, 2);
        assert_eq!(err.id.as_deref(), Some("2"));
        assert!(err.message.contains("`Name`"), "{}", err.message);
        assert!(err.message.contains("line 3"), "{}", err.message);
        assert!(
            err.to_string()
                .starts_with("contact row 2 (Contact ID 2): "),
            "{err}"
        );
        let cy = got[2].as_ref().expect("valid row");
        assert_eq!((cy.row, cy.id.as_str()), (3, "3"));
        assert_eq!(cy.fields, vec![some("Cy")]);
    }

    #[test]
    fn csv_header_problems() {
        let slots = vec!["a"];
        for empty in ["", "\n\n", "\u{feff}"] {
            let err = read_all(empty.as_bytes(), ContactsFormat::Csv, &slots).unwrap_err();
            assert!(matches!(err, ContactsError::NoHeader), "{empty:?}: {err}");
        }
        let err = read_all(b"a,\xff\n1,2\n", ContactsFormat::Csv, &slots).unwrap_err();
        assert!(matches!(err, ContactsError::Header(_)), "{err}");
        assert!(err.to_string().contains("column 2"), "{err}");
        // A header alone is fine and yields nothing.
        assert!(read_all(b"a,b", ContactsFormat::Csv, &slots)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn csv_duplicate_header_first_wins() {
        let slots = vec!["a", "Contact ID"];
        let got = contacts(
            b"a,Contact ID,a,Contact ID\n1,x,2,y\n",
            ContactsFormat::Csv,
            &slots,
        );
        assert_eq!(got[0].fields, vec![some("1"), some("x")]);
        assert_eq!(got[0].id, "x");
    }

    #[test]
    fn ids_come_from_contact_id_or_the_row_number() {
        let slots: Vec<&str> = Vec::new();
        let csv = "Contact ID,Name\n 42 ,a\n,b\n   ,c\nabc-1,d\n";
        let ids: Vec<String> = contacts(csv.as_bytes(), ContactsFormat::Csv, &slots)
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, strings(&["42", "2", "3", "abc-1"]));

        let json = r#"[{"Contact ID": 17}, {"Contact ID": null}, {"Contact ID": ""}, {}, {"Contact ID": "x7"}]"#;
        let ids: Vec<String> = contacts(json.as_bytes(), ContactsFormat::Json, &slots)
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, strings(&["17", "2", "3", "4", "x7"]));

        let ndjson = "{\"Contact ID\": \"9\"}\n\n{}\n";
        let got = contacts(ndjson.as_bytes(), ContactsFormat::Ndjson, &slots);
        assert_eq!(
            (got[0].id.as_str(), got[1].id.as_str(), got[1].row),
            ("9", "2", 2)
        );
    }

    #[test]
    fn csv_tags_are_trimmed_deduplicated_and_ordered() {
        let input = "Tags,Name\n\" vip, new ,,vip,  old \",a\n,b\n";
        let slots = vec!["Tags"];
        let got = contacts(input.as_bytes(), ContactsFormat::Csv, &slots);
        assert_eq!(got[0].tags, strings(&["vip", "new", "old"]));
        // The slot holds the text as written.
        assert_eq!(got[0].fields, vec![some(" vip, new ,,vip,  old ")]);
        assert!(got[1].tags.is_empty());
        assert_eq!(got[1].fields, vec![some("")]);
    }

    #[test]
    fn many_tags_are_deduplicated_too() {
        let list: Vec<String> = (0..300).map(|i| format!("t{}", i % 100)).collect();
        let input = format!("Tags\n\"{}\"\nx\n", list.join(","));
        let slots: Vec<&str> = Vec::new();
        let got = contacts(input.as_bytes(), ContactsFormat::Csv, &slots);
        let want: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
        assert_eq!(got[0].tags, want);
        // Buffers from the long row are reused, not leaked into the next.
        assert_eq!(got[1].tags, strings(&["x"]));
    }

    #[test]
    fn reused_contact_drops_values_of_earlier_rows() {
        let input = "a,b,Tags\n1,2,\"x,y\"\n3\n";
        let slots = vec!["a", "b"];
        let mut seen = Vec::new();
        for_each_contact(input.as_bytes(), ContactsFormat::Csv, &slots, |row| {
            if let Row::Contact(c) = row {
                seen.push((c.fields.clone(), c.tags.clone()));
            }
            Ok::<(), ContactsError>(())
        })
        .unwrap();
        assert_eq!(seen[1], (vec![some("3"), None], Vec::<String>::new()));
    }

    #[test]
    fn json_values_become_text() {
        let json = r#"[
            {"Contact ID": "c1", "n": 50, "f": 2.5, "neg": -3, "big": 1e20, "t": true,
             "fl": false, "nul": null, "s": "héllo \"q\"",
             "nested": {"b": 1, "a": [1, "x\"y\n", null, 1.5]},
             "Tags": [" vip ", "new", "vip", "", 7],
             "unused": {"deep": [[[]]]}}
        ]"#;
        let slots = vec![
            "n", "f", "neg", "big", "t", "fl", "nul", "s", "nested", "Tags", "absent",
        ];
        let got = contacts(json.as_bytes(), ContactsFormat::Json, &slots);
        assert_eq!(got.len(), 1);
        let c = &got[0];
        assert_eq!(c.id, "c1");
        assert_eq!(
            c.fields,
            vec![
                some("50"),
                some("2.5"),
                some("-3"),
                some("1e20"),
                some("true"),
                some("false"),
                None,
                some("héllo \"q\""),
                some(r#"{"b":1,"a":[1,"x\"y\n",null,1.5]}"#),
                some("vip,new,7"),
                None,
            ]
        );
        assert_eq!(c.tags, strings(&["vip", "new", "7"]));
    }

    #[test]
    fn nested_json_text_is_escaped_like_serde_json() {
        let text: String = (0u8..0x20)
            .map(char::from)
            .chain("\"\\/é\u{2028}😀".chars())
            .collect();
        let value = serde_json::json!([text, {"k\n": [1, -2, 0.5, true, null]}]);
        let json = format!("[{{\"v\": {value}}}]");
        let slots = vec!["v"];
        let got = contacts(json.as_bytes(), ContactsFormat::Json, &slots);
        assert_eq!(got[0].fields, vec![Some(value.to_string())]);
    }

    #[test]
    fn json_tags_string_and_bad_tags() {
        let json =
            r#"[{"Tags": "a, b,a"}, {"Tags": {"x": 1}}, {"Tags": ["a", ["b"]]}, {"Tags": null}]"#;
        let slots = vec!["Tags"];
        let got = read_all(json.as_bytes(), ContactsFormat::Json, &slots).unwrap();
        let first = got[0].as_ref().unwrap();
        assert_eq!(first.tags, strings(&["a", "b"]));
        assert_eq!(first.fields, vec![some("a, b,a")]);
        let err = got[1].as_ref().unwrap_err();
        assert!(err.message.contains("`Tags` must be"), "{}", err.message);
        assert!(err.message.contains("array element 2"), "{}", err.message);
        assert!(got[2].as_ref().unwrap_err().message.contains("not arrays"));
        let last = got[3].as_ref().unwrap();
        assert!(last.tags.is_empty());
        assert_eq!(last.fields, vec![None]);
    }

    #[test]
    fn json_non_object_elements_are_invalid_rows() {
        let json =
            r#"[{"a": "1"}, 5, "s", [1, {"a": 2}], null, true, {"a": "6", "Contact ID": 60}]"#;
        let slots = vec!["a"];
        let got = read_all(json.as_bytes(), ContactsFormat::Json, &slots).unwrap();
        assert_eq!(got.len(), 7);
        let kinds = ["a number", "a string", "an array", "null", "a boolean"];
        for (i, kind) in kinds.iter().enumerate() {
            let err = got[i + 1].as_ref().unwrap_err();
            assert_eq!(err.row, i as u64 + 2);
            assert_eq!(err.id, None);
            assert_eq!(
                err.message,
                format!("array element {} is {kind}, not an object", i + 2)
            );
        }
        let last = got[6].as_ref().unwrap();
        assert_eq!((last.row, last.id.as_str()), (7, "60"));
        assert_eq!(last.fields, vec![some("6")]);
    }

    #[test]
    fn json_fatal_errors_say_where() {
        let slots = vec!["a"];
        let err = read_all(b"{\"a\": 1}", ContactsFormat::Json, &slots).unwrap_err();
        match &err {
            ContactsError::Json {
                line,
                column,
                message,
            } => {
                assert_eq!(*line, 1);
                assert!(*column > 0);
                assert!(
                    message.contains("expected a JSON array of contact objects"),
                    "{message}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = read_all(b"[{\"a\": 1},\n {\"a\" 2}]", ContactsFormat::Json, &slots).unwrap_err();
        assert!(matches!(err, ContactsError::Json { line: 2, .. }), "{err}");
        let err = read_all(b"[] []", ContactsFormat::Json, &slots).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
        let err = read_all(b"", ContactsFormat::Json, &slots).unwrap_err();
        assert!(matches!(err, ContactsError::Json { .. }), "{err}");
        // Fine: an empty array, with a BOM and surrounding whitespace.
        assert!(
            read_all(b"\xef\xbb\xbf \n[ ]\n", ContactsFormat::Json, &slots)
                .unwrap()
                .is_empty()
        );
    }

    /// Counts the bytes a reader has handed out.
    struct Counting<R> {
        inner: R,
        read: Rc<Cell<usize>>,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn json_array_is_streamed() {
        const N: usize = 200_000;
        let mut json = String::from("[");
        for i in 0..N {
            if i > 0 {
                json.push_str(",\n");
            }
            json.push_str(&format!(
                r#"{{"Contact ID": {i}, "Email": "user{i}@example.com", "Score": {}, "Tags": ["t{}"]}}"#,
                i % 97,
                i % 5
            ));
        }
        json.push(']');
        let total = json.len();
        let read = Rc::new(Cell::new(0));
        let input = Counting {
            inner: json.as_bytes(),
            read: Rc::clone(&read),
        };
        let slots = vec!["Email", "Score"];
        let mut count = 0usize;
        let mut read_at_first = None;
        for_each_contact(input, ContactsFormat::Json, &slots, |row| {
            let Row::Contact(c) = row else {
                panic!("unexpected {row:?}")
            };
            if count == 0 {
                read_at_first = Some(read.get());
            }
            assert_eq!(c.id, count.to_string());
            assert_eq!(
                c.fields[1].as_deref(),
                Some((count % 97).to_string().as_str())
            );
            count += 1;
            Ok::<(), ContactsError>(())
        })
        .unwrap();
        assert_eq!(count, N);
        let at_first = read_at_first.unwrap();
        assert!(
            at_first < total / 10,
            "read {at_first} of {total} bytes before the first contact"
        );
        assert_eq!(read.get(), total);
    }

    #[test]
    fn ndjson_blank_and_bad_lines() {
        let input = "\u{feff}{\"a\": \"1\"}\r\n\n   \n{\"a\": 2,}\n[1]\n{\"a\": \"b\u{e9}\", \"Contact ID\": \"c4\"}\n{\"a\": null}";
        let slots = vec!["a"];
        let got = read_all(input.as_bytes(), ContactsFormat::Ndjson, &slots).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].as_ref().unwrap().fields, vec![some("1")]);
        let bad = got[1].as_ref().unwrap_err();
        assert_eq!(bad.row, 2);
        assert!(
            bad.message.starts_with("line 4, column "),
            "{}",
            bad.message
        );
        let arr = got[2].as_ref().unwrap_err();
        assert_eq!(arr.message, "line 5 is an array, not a JSON object");
        let c4 = got[3].as_ref().unwrap();
        assert_eq!((c4.row, c4.id.as_str()), (4, "c4"));
        assert_eq!(c4.fields, vec![some("bé")]);
        let last = got[4].as_ref().unwrap();
        assert_eq!((last.row, last.id.as_str()), (5, "5"));
        assert_eq!(last.fields, vec![None]);

        assert!(read_all(b" \n\n\t\r\n", ContactsFormat::Ndjson, &slots)
            .unwrap()
            .is_empty());
        assert!(read_all(b"", ContactsFormat::Ndjson, &slots)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn ndjson_invalid_utf8_line_is_invalid() {
        let slots = vec!["a"];
        let got = read_all(
            b"{\"a\": \"\xff\"}\n{\"a\": \"ok\"}\n",
            ContactsFormat::Ndjson,
            &slots,
        )
        .unwrap();
        assert!(got[0].as_ref().unwrap_err().message.starts_with("line 1"));
        assert_eq!(got[1].as_ref().unwrap().fields, vec![some("ok")]);
    }

    #[derive(Debug)]
    enum TestError {
        Contacts(ContactsError),
        Stop(u64),
    }

    impl From<ContactsError> for TestError {
        fn from(e: ContactsError) -> Self {
            TestError::Contacts(e)
        }
    }

    #[test]
    fn callback_error_stops_reading_in_every_format() {
        let inputs = [
            (ContactsFormat::Csv, "a\n1\n2\n3\n"),
            (ContactsFormat::Json, r#"[{"a": 1}, {"a": 2}, {"a": 3}]"#),
            (
                ContactsFormat::Ndjson,
                "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n",
            ),
        ];
        let slots = vec!["a"];
        for (format, input) in inputs {
            let mut rows = 0;
            let result = for_each_contact(input.as_bytes(), format, &slots, |row| {
                rows += 1;
                match row {
                    Row::Contact(c) if c.row == 2 => Err(TestError::Stop(c.row)),
                    _ => Ok(()),
                }
            });
            assert!(
                matches!(result, Err(TestError::Stop(2))),
                "{format}: {result:?}"
            );
            assert_eq!(rows, 2, "{format}");
            // Fatal errors arrive through From<ContactsError>.
            let result = for_each_contact(&b""[..], ContactsFormat::Csv, &slots, |_| Ok(()));
            assert!(matches!(
                result,
                Err(TestError::Contacts(ContactsError::NoHeader))
            ));
        }
    }

    #[test]
    fn field_names_for_each_format() {
        let csv = "\u{feff} Contact ID ,Email,,Email,Tags\n1,2\n";
        assert_eq!(
            field_names(csv.as_bytes(), ContactsFormat::Csv).unwrap(),
            strings(&["Contact ID", "Email", "Tags"])
        );
        assert!(matches!(
            field_names(&b""[..], ContactsFormat::Csv),
            Err(ContactsError::NoHeader)
        ));

        let json = r#"[{"b": 1, "a": {"nested": 1}}, 3, {"c": null, "a": 2}, {}]"#;
        assert_eq!(
            field_names(json.as_bytes(), ContactsFormat::Json).unwrap(),
            strings(&["b", "a", "c"])
        );
        assert!(field_names(&b"{}"[..], ContactsFormat::Json).is_err());
        assert!(field_names(&b"[]"[..], ContactsFormat::Json)
            .unwrap()
            .is_empty());

        let ndjson = "{\"x\": 1, \"y\": 2}\n\n{\"bad\": 1, \n{\"z\": 3, \"x\": 0}\n";
        assert_eq!(
            field_names(ndjson.as_bytes(), ContactsFormat::Ndjson).unwrap(),
            strings(&["x", "y", "z"])
        );
    }

    #[test]
    fn out_of_range_slots_are_ignored() {
        struct Bad;
        impl FieldSlots for Bad {
            fn slot(&self, _: &str) -> Option<usize> {
                Some(5)
            }
            fn len(&self) -> usize {
                1
            }
        }
        let got = contacts(b"a\n1\n", ContactsFormat::Csv, &Bad);
        assert_eq!(got[0].fields, vec![None]);
        let got = contacts(br#"[{"a": 1}]"#, ContactsFormat::Json, &Bad);
        assert_eq!(got[0].fields, vec![None]);
    }

    proptest::proptest! {
        #[test]
        fn csv_round_trips_any_values(
            rows in proptest::collection::vec(proptest::collection::vec("(?s).{0,24}", 3), 0..20)
        ) {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(["a", "b", "c"]).unwrap();
            for row in &rows {
                writer.write_record(row).unwrap();
            }
            let data = writer.into_inner().unwrap();
            let slots = vec!["c", "a", "b"];
            let got = contacts(&data, ContactsFormat::Csv, &slots);
            proptest::prop_assert_eq!(got.len(), rows.len());
            for (i, (contact, row)) in got.iter().zip(&rows).enumerate() {
                proptest::prop_assert_eq!(contact.row, i as u64 + 1);
                let want = vec![Some(row[2].clone()), Some(row[0].clone()), Some(row[1].clone())];
                proptest::prop_assert_eq!(&contact.fields, &want);
            }
        }
    }

    /// Not a timed test: `cargo test --release -- --ignored --nocapture csv_throughput`.
    #[test]
    #[ignore]
    fn csv_throughput() {
        const N: u64 = 1_000_000;
        let mut data = String::from("Contact ID,First Name,Email,Tags\n");
        for i in 0..N {
            data.push_str(&format!(
                "{i},Name{i},user{i}@example.com,\"vip,t{}\"\n",
                i % 7
            ));
        }
        let slots = vec!["First Name", "Email"];
        let start = std::time::Instant::now();
        let mut bytes = 0usize;
        for_each_contact(data.as_bytes(), ContactsFormat::Csv, &slots, |row| {
            if let Row::Contact(c) = row {
                bytes += c.id.len() + c.fields.iter().flatten().map(String::len).sum::<usize>();
            }
            Ok::<(), ContactsError>(())
        })
        .unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{N} CSV rows ({} MB) in {secs:.3} s: {:.0} rows/s (checksum {bytes})",
            data.len() / 1_000_000,
            N as f64 / secs
        );
    }
}

/// Limits, resynchronisation, unclosed quotes, numbers as written and
/// duplicate ids: each tested against an independent reference for whole
/// classes of inputs, not just examples.
#[cfg(test)]
mod bounds {
    use super::*;
    use proptest::prelude::*;

    /// Small limits, so tests reach them with small inputs.
    const SMALL: Limits = Limits {
        record_bytes: 64,
        field_bytes: 16,
        fields: 8,
    };

    fn read_with(
        input: &[u8],
        format: ContactsFormat,
        slots: &dyn FieldSlots,
        limits: &Limits,
    ) -> Result<Vec<Result<Contact, RowError>>, ContactsError> {
        let mut out = Vec::new();
        for_each_contact_with(input, format, slots, limits, |row| {
            out.push(match row {
                Row::Contact(c) => Ok(c.clone()),
                Row::Invalid(e) => Err(e),
            });
            Ok::<(), ContactsError>(())
        })?;
        Ok(out)
    }

    fn invalid(row: &Result<Contact, RowError>) -> &RowError {
        row.as_ref().expect_err("an invalid record")
    }

    fn valid(row: &Result<Contact, RowError>) -> &Contact {
        row.as_ref().expect("a valid record")
    }

    // --- CSV against the csv crate --------------------------------------

    /// Where csv-core's quoting leaves a file that ends now: inside a
    /// quoted cell or not. An independent model of the dialect.
    fn reference_in_quotes(input: &[u8]) -> bool {
        #[derive(PartialEq)]
        enum S {
            Start,
            Unquoted,
            Quoted,
            QuoteInQuoted,
        }
        let mut s = S::Start;
        let input = input.strip_prefix(b"\xef\xbb\xbf").unwrap_or(input);
        for &b in input {
            s = match (s, b) {
                (S::Quoted, b'"') => S::QuoteInQuoted,
                (S::Quoted, _) => S::Quoted,
                (S::QuoteInQuoted, b'"') => S::Quoted,
                (S::Start, b'"') => S::Quoted,
                (_, b',' | b'\n' | b'\r') => S::Start,
                _ => S::Unquoted,
            };
        }
        s == S::Quoted
    }

    fn csv_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b'a'),
                Just(b'b'),
                Just(b','),
                Just(b'"'),
                Just(b'\n'),
                Just(b'\r'),
                Just(b' '),
            ],
            0..200,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Within the limits, records and cells are exactly what the csv
        /// crate reads, and an unclosed quote is seen exactly when the file
        /// ends inside one.
        #[test]
        fn csv_records_match_the_csv_crate(input in csv_bytes()) {
            let mut want = Vec::new();
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&input[..]);
            for record in reader.byte_records() {
                let record = record.unwrap();
                want.push(record.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
            }
            let limits = Limits { record_bytes: 1 << 20, field_bytes: 1 << 20, fields: 1000 };
            let mut records = CsvRecords::new(&input[..], limits);
            let mut got = Vec::new();
            let mut last_unclosed = false;
            while let Some(record) = records.next(1000).unwrap() {
                prop_assert!(record.too_long.is_none());
                prop_assert_eq!(record.kept, record.cells);
                got.push((0..record.kept).map(|i| records.cell(i).to_vec()).collect::<Vec<_>>());
                last_unclosed = record.unclosed_quote;
            }
            prop_assert_eq!(got.len(), want.len());
            if last_unclosed {
                // The unclosed record is refused whole; its text is not used.
                got.pop();
                want.pop();
            }
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(last_unclosed, reference_in_quotes(&input));
        }

        /// Records past a limit are reported and skipped, and the reader
        /// resumes at exactly the next record: every other record reads as
        /// written, whatever the quoting and line breaks inside the long ones.
        #[test]
        fn csv_resumes_after_records_past_a_limit(
            rows in proptest::collection::vec(
                (proptest::collection::vec("[a-c\",\n ]{0,40}", 1..4), any::<bool>()),
                1..12,
            )
        ) {
            let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
            writer.write_record(["a", "b", "c"]).unwrap();
            for (cells, _) in &rows {
                writer.write_record(cells).unwrap();
            }
            let mut data = writer.into_inner().unwrap();
            if !rows[rows.len() - 1].1 {
                // The last record ends the file without a line break.
                data.pop();
            }
            let limits = Limits { record_bytes: 48, field_bytes: 24, fields: 8 };
            let slots = vec!["a", "b", "c"];
            let got = read_with(&data, ContactsFormat::Csv, &slots, &limits).unwrap();
            // A row of only an empty cell is a blank line: not a record.
            prop_assert_eq!(got.len(), rows.len());
            for ((cells, _), got) in rows.iter().zip(&got) {
                let mut line = csv::WriterBuilder::new().from_writer(Vec::new());
                line.write_record(cells.iter()).unwrap();
                let raw = line.into_inner().unwrap().len() - 1;
                let over = raw > limits.record_bytes
                    || cells.iter().any(|c| c.len() > limits.field_bytes);
                match got {
                    Ok(c) => {
                        prop_assert!(!over, "{cells:?} is over a limit but read");
                        for (i, cell) in cells.iter().enumerate() {
                            prop_assert_eq!(c.fields[i].as_deref(), Some(cell.as_str()));
                        }
                    }
                    Err(e) => {
                        prop_assert!(over, "{cells:?}: {}", e.message);
                        prop_assert!(e.message.contains("longer than the limit"), "{}", e.message);
                    }
                }
            }
        }
    }

    #[test]
    fn csv_record_and_cell_limits() {
        let slots = vec!["Contact ID", "Name"];
        let long_cell = "x".repeat(17);
        let many_cells = ["y"; 40].join(",");
        let input = format!(
            "Contact ID,Name\n1,ok\n2,{long_cell}\n3,\"q\n{many_cells}\"\n4,{many_cells}\n5,fine\n"
        );
        let got = read_with(input.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(valid(&got[0]).fields[1].as_deref(), Some("ok"));
        let cell = invalid(&got[1]);
        assert_eq!(cell.id.as_deref(), Some("2"));
        assert_eq!(
            cell.message,
            "column 2 (`Name`) is longer than the limit of 16 bytes (record starts at line 3)"
        );
        // A quoted cell past the limit with a line break inside: one record.
        let quoted = invalid(&got[2]);
        assert_eq!(quoted.id.as_deref(), Some("3"));
        assert!(
            quoted.message.contains("is longer than the limit"),
            "{}",
            quoted.message
        );
        assert!(quoted.message.contains("line 4"), "{}", quoted.message);
        let record = invalid(&got[3]);
        assert_eq!(
            record.message,
            "the record is longer than the limit of 64 bytes and was skipped up to its end \
             at line 6 (record starts at line 6)"
        );
        assert_eq!(record.id.as_deref(), Some("4"));
        let last = valid(&got[4]);
        assert_eq!((last.row, last.id.as_str()), (5, "5"));
        assert_eq!(last.fields[1].as_deref(), Some("fine"));
    }

    #[test]
    fn csv_unclosed_quote_names_the_record_and_its_line() {
        let slots = vec!["Name"];
        let input = "Contact ID,Name\n1,Ann\n\n2,\"Bob\n3,Cy\n4,Di\n";
        let got = read_with(
            input.as_bytes(),
            ContactsFormat::Csv,
            &slots,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(valid(&got[0]).fields[0].as_deref(), Some("Ann"));
        let e = invalid(&got[1]);
        assert_eq!(
            (e.row, e.id.as_deref(), e.kind),
            (2, Some("2"), RowErrorKind::Invalid)
        );
        assert_eq!(
            e.message,
            "column 2 (`Name`) opens a quote that is never closed, so the rest of the file \
             (up to line 6) was read as this one record; close the quote, and write a quote \
             inside a quoted cell as \"\" (record starts at line 4)"
        );
        // Past the record limit too: still one record, still said.
        let tail: String = (0..50).map(|i| format!("{i},name {i}\n")).collect();
        let input = format!("Contact ID,Name\n1,\"Ann\n{tail}");
        let got = read_with(input.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap();
        assert_eq!(got.len(), 1);
        let e = invalid(&got[0]);
        assert!(e.message.contains("never closed"), "{}", e.message);
        assert!(e.message.contains("more than 64 bytes"), "{}", e.message);
        assert!(e.message.contains("up to line 52"), "{}", e.message);
        // A closed quote at the very end is fine, with or without a line break.
        for end in ["", "\n", "\r\n"] {
            let input = format!("Name\n\"a\nb\"{end}");
            let got = read_with(input.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap();
            assert_eq!(valid(&got[0]).fields[0].as_deref(), Some("a\nb"), "{end:?}");
        }
    }

    #[test]
    fn csv_header_past_the_limits_is_fatal() {
        let slots = vec!["a"];
        let wide = ["c"; 9].join(",") + "\n1\n";
        let err = read_with(wide.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap_err();
        assert_eq!(err.to_string(), "contacts CSV header: more than 8 columns");
        let long = format!("{}\n1\n", "n".repeat(17));
        let err = read_with(long.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap_err();
        assert!(
            err.to_string()
                .contains("column 1 is longer than the limit of 16 bytes"),
            "{err}"
        );
        let unclosed = "a,\"b\n1,2\n";
        let err = read_with(unclosed.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap_err();
        assert!(
            err.to_string()
                .contains("column 2 opens a quote that is never closed"),
            "{err}"
        );
        assert!(matches!(
            field_names_with(wide.as_bytes(), ContactsFormat::Csv, &SMALL),
            Err(ContactsError::Header(_))
        ));
    }

    // --- NDJSON and JSON ---------------------------------------------------

    /// A JSON value of random shape: strings with quotes, backslashes,
    /// brackets and line breaks (escaped, as JSON requires), numbers as text.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            "[a-c\"\\\\\\[\\]{},\n ]{0,30}".prop_map(serde_json::Value::from),
            any::<i32>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::vec(("[a-c]{1,3}", inner), 0..3)
                    .prop_map(|kv| { serde_json::Value::Object(kv.into_iter().collect()) }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// JSON arrays and NDJSON: elements past a limit are reported and
        /// skipped; every other one reads exactly, so the reader resumed at
        /// the right place whatever the strings and nesting inside.
        #[test]
        fn json_resumes_after_records_past_a_limit(
            values in proptest::collection::vec(json_value(), 1..10),
            pretty in any::<bool>(),
        ) {
            let limits = Limits { record_bytes: 120, field_bytes: 60, fields: 8 };
            let slots = vec!["v"];
            let objects: Vec<String> = values
                .iter()
                .map(|v| serde_json::json!({ "v": v }).to_string())
                .collect();
            let array = if pretty {
                serde_json::to_string_pretty(
                    &values.iter().map(|v| serde_json::json!({ "v": v })).collect::<Vec<_>>(),
                ).unwrap()
            } else {
                format!("[{}]", objects.join(", "))
            };
            let ndjson = objects.join("\n");
            for (format, input) in [(ContactsFormat::Json, &array), (ContactsFormat::Ndjson, &ndjson)] {
                let got = read_with(input.as_bytes(), format, &slots, &limits).unwrap();
                prop_assert_eq!(got.len(), values.len());
                for ((value, object), got) in values.iter().zip(&objects).zip(&got) {
                    let text = value.to_string();
                    let over = object.len() > limits.record_bytes || text.len() > limits.field_bytes;
                    let pretty_over = format == ContactsFormat::Json && pretty;
                    match got {
                        Ok(c) => {
                            prop_assert!(!over || pretty_over, "{object} is over a limit but read");
                            let want = match value {
                                serde_json::Value::Null => None,
                                serde_json::Value::String(s) => Some(s.clone()),
                                other => Some(other.to_string()),
                            };
                            prop_assert_eq!(&c.fields[0], &want);
                        }
                        Err(e) => {
                            // Pretty printing makes elements longer than
                            // their compact text; only a limit may refuse one.
                            prop_assert!(over || pretty_over, "{object}: {}", e.message);
                            prop_assert!(e.message.contains("longer than the limit"), "{}", e.message);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn json_record_and_field_limits() {
        let slots = vec!["a"];
        let long_string = format!("\"{}\"", "s".repeat(20));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let input = format!(
            "[{{\"a\": \"ok\"}},\n {{\"a\": {long_string}}},\n {{\"a\": 1, \"b\": {deep}}},\n \
             {{\"a\": \"] , [ \\\" {{\"}}, {{\"a\": \"next\"}}]"
        );
        let got = read_with(input.as_bytes(), ContactsFormat::Json, &slots, &SMALL).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(valid(&got[0]).fields[0].as_deref(), Some("ok"));
        assert_eq!(
            invalid(&got[1]).message,
            "array element 2: field `a` is longer than the limit of 16 bytes"
        );
        // 200 brackets deep: past the record limit, skipped without recursing.
        assert_eq!(
            invalid(&got[2]).message,
            "array element 3 (line 3) is longer than the limit of 64 bytes and was skipped"
        );
        assert_eq!(valid(&got[3]).fields[0].as_deref(), Some("] , [ \" {"));
        assert_eq!(valid(&got[4]).fields[0].as_deref(), Some("next"));

        let input =
            format!("{{\"a\": \"ok\"}}\n{{\"a\": {deep}}}\n{{\"a\": {long_string}}}\n{{\"a\": 2}}");
        let got = read_with(input.as_bytes(), ContactsFormat::Ndjson, &slots, &SMALL).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(
            invalid(&got[1]).message,
            "line 2 is longer than the limit of 64 bytes and was skipped"
        );
        assert_eq!(
            invalid(&got[2]).message,
            "line 3: field `a` is longer than the limit of 16 bytes"
        );
        assert_eq!(valid(&got[3]).fields[0].as_deref(), Some("2"));
        // A blank line past the limit is still blank.
        let blank = format!("{}\n{{\"a\": 1}}\n", " ".repeat(200));
        let got = read_with(blank.as_bytes(), ContactsFormat::Ndjson, &slots, &SMALL).unwrap();
        assert_eq!((got.len(), valid(&got[0]).row), (1, 1));
    }

    #[test]
    fn json_array_syntax_errors_stay_fatal_and_placed() {
        let slots = vec!["a"];
        let cases = [
            ("[1,]", "trailing comma after array element 1", 1, 4),
            (
                "[{\"a\": 1}\n {\"a\": 2}]",
                "expected `,` or `]` after array element 1",
                2,
                2,
            ),
            ("[{\"a\": 1},\n  {\"a\" 2}]", "expected `:`", 2, 8),
            (
                "[{\"a\": 1}",
                "EOF while parsing the array after 1 element(s)",
                1,
                10,
            ),
            ("[{\"a\": \"x]", "EOF while parsing array element 1", 1, 11),
            ("[,]", "expected a value (array element 1)", 1, 2),
            ("[1,}]", "expected a value (array element 2)", 1, 4),
            ("[trux]", "expected ident", 1, 5),
            ("  {}", "expected a JSON array of contact objects", 1, 3),
            ("[] x", "trailing characters after the array", 1, 4),
        ];
        for (input, message, line, column) in cases {
            let err =
                read_with(input.as_bytes(), ContactsFormat::Json, &slots, &SMALL).unwrap_err();
            match &err {
                ContactsError::Json {
                    line: l,
                    column: c,
                    message: m,
                } => {
                    assert!(m.contains(message), "{input:?}: {m}");
                    assert_eq!((*l, *c), (line, column), "{input:?}: {m}");
                }
                other => panic!("{input:?}: {other}"),
            }
        }
    }

    #[test]
    fn json_numbers_keep_their_text() {
        let slots = vec!["n", "nested", "Tags"];
        let numbers = [
            "12345678901234567890123",
            "-0",
            "1e400",
            "0.1",
            "1.50",
            "1E+2",
            "-3",
        ];
        for n in numbers {
            let ndjson = format!(
                "{{\"Contact ID\": {n}, \"n\": {n}, \"nested\": {{\"x\": [ {n} , \"\\u00e9\" ]}}, \"Tags\": [{n}, \"a\"]}}\n"
            );
            let array = format!("[{}]", ndjson.trim());
            for (format, input) in [
                (ContactsFormat::Ndjson, &ndjson),
                (ContactsFormat::Json, &array),
            ] {
                let got = read_with(input.as_bytes(), format, &slots, &Limits::default()).unwrap();
                let c = valid(&got[0]);
                assert_eq!(c.id, n, "{format}");
                assert_eq!(c.fields[0].as_deref(), Some(n), "{format}");
                assert_eq!(
                    c.fields[1],
                    Some(format!("{{\"x\":[{n},\"é\"]}}")),
                    "{format}"
                );
                assert_eq!(c.tags, vec![n.to_string(), "a".into()], "{format}");
            }
        }
    }

    // --- Duplicate ids -------------------------------------------------------

    #[test]
    fn a_repeated_id_is_refused_and_names_the_first_record() {
        let slots = vec!["Name"];
        let csv = "Contact ID,Name\n7,Ann\n8,Bob\n 7 ,Eve\n,Dan\n4,Fay\n\u{ff},x\n";
        let got = read_with(
            csv.as_bytes(),
            ContactsFormat::Csv,
            &slots,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(got.len(), 6);
        let dup = invalid(&got[2]);
        assert_eq!(
            (dup.row, dup.id.as_deref(), dup.kind),
            (3, Some("7"), RowErrorKind::DuplicateId)
        );
        assert_eq!(dup.kind.code(), "campaign::contacts::duplicate_id");
        assert_eq!(dup.message, "Contact ID `7` is already the id of record 1");
        // Record 4 has no Contact ID: its id is 4, which record 5 then uses.
        assert_eq!(valid(&got[3]).id, "4");
        assert_eq!(
            invalid(&got[4]).message,
            "Contact ID `4` is already the id of record 4"
        );
        assert_eq!(valid(&got[5]).id, "\u{ff}");

        // An implicit id that an earlier record took explicitly, and an
        // unreadable record that still claims its id.
        let ndjson = "{\"Contact ID\": \"2\"}\n{}\n{\"Contact ID\": \"x\", \"Tags\": {}}\n{\"Contact ID\": \"x\"}\n";
        let got = read_with(
            ndjson.as_bytes(),
            ContactsFormat::Ndjson,
            &slots,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            invalid(&got[1]).message,
            "this record has no Contact ID, so its id is its record number, 2, which is already \
             the id of record 1"
        );
        assert_eq!(invalid(&got[2]).kind, RowErrorKind::Invalid);
        let again = invalid(&got[3]);
        assert_eq!(
            (again.kind, again.id.as_deref()),
            (RowErrorKind::DuplicateId, Some("x"))
        );
        // Both unreadable and repeated: both said.
        let csv = "Contact ID,Name\n5,a\n5,\u{ff}\n";
        let mut bytes = csv.as_bytes().to_vec();
        bytes.splice(bytes.len() - 3..bytes.len() - 1, [0xffu8]);
        let got = read_with(&bytes, ContactsFormat::Csv, &slots, &Limits::default()).unwrap();
        let both = invalid(&got[1]);
        assert_eq!(both.kind, RowErrorKind::DuplicateId);
        assert!(
            both.message
                .contains("also unreadable: column 2 (`Name`) is not valid UTF-8"),
            "{}",
            both.message
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// For any sequence of ids (integers in and out of order, with and
        /// without leading zeros, text, absent ones that become the record
        /// number), a record is refused exactly when an exact reference has
        /// seen its id, and the message names the first record.
        #[test]
        fn duplicates_match_an_exact_reference(
            ids in proptest::collection::vec(
                prop_oneof![
                    4 => (0u64..40).prop_map(|n| Some(n.to_string())),
                    2 => (0u64..40).prop_map(|n| Some(format!("0{n}"))),
                    1 => "[a-c]{1,2}".prop_map(Some),
                    2 => Just(None),
                ],
                0..120,
            ),
            ascending in any::<bool>(),
        ) {
            let ids: Vec<Option<String>> = if ascending {
                // Long runs of increasing integers, as exports have.
                ids.iter().enumerate().map(|(i, id)| id.as_ref().map(|_| (i * 2 + 100).to_string())).collect()
            } else {
                ids
            };
            let mut csv = String::from("Contact ID\n");
            for id in &ids {
                csv.push_str(id.as_deref().unwrap_or(""));
                csv.push_str(",\n");
            }
            let slots: Vec<&str> = Vec::new();
            let got = read_with(csv.as_bytes(), ContactsFormat::Csv, &slots, &Limits::default()).unwrap();
            prop_assert_eq!(got.len(), ids.len());
            let mut first: std::collections::HashMap<String, usize> = Default::default();
            for (i, (id, got)) in ids.iter().zip(&got).enumerate() {
                let row = i + 1;
                let id = id.clone().unwrap_or_else(|| row.to_string());
                match first.get(&id) {
                    Some(&at) => {
                        let e = invalid(got);
                        prop_assert_eq!(e.kind, RowErrorKind::DuplicateId);
                        let record = format!("already the id of record {at}");
                        prop_assert!(e.message.contains(&record), "{}", e.message);
                    }
                    None => {
                        prop_assert_eq!(&valid(got).id, &id);
                        first.insert(id, row);
                    }
                }
            }
        }
    }

    #[test]
    fn integer_ids_are_canonical_decimals_only() {
        assert_eq!(integer_id("0"), Some(0));
        assert_eq!(integer_id("18446744073709551615"), None); // 20 digits
        assert_eq!(
            integer_id("9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for text in ["", "00", "07", "+7", "-7", "7 ", "1e3", "٣"] {
            assert_eq!(integer_id(text), None, "{text:?}");
        }
    }

    #[test]
    fn increasing_integer_ids_cost_no_table_space() {
        let mut ids = SeenIds::new();
        for row in 1..=10_000u64 {
            // Consecutive, then with a gap every 1,000.
            let id = row + 100_000 + row / 1000;
            assert_eq!(ids.insert(&id.to_string(), row), None);
        }
        assert_eq!((ids.runs.len(), ids.hashed), (11, 0));
        assert_eq!(ids.insert("100500", 10_001), Some(500));
        // Out of order: hashed, and still found in both places.
        assert_eq!(ids.insert("5", 10_002), None);
        assert_eq!(ids.insert("5", 10_003), Some(10_002));
        assert_eq!(ids.insert("100001", 10_004), Some(1));
        assert_eq!(ids.insert("110011", 10_005), None);
        assert_eq!(ids.hashed, 1);
    }
}
