//! Streaming readers for contacts files (CSV, JSON array, NDJSON).
//!
//! A run executes the compiled program once per contact, for up to millions of
//! contacts, so contacts are streamed one record at a time into a single
//! reused [`Contact`]: memory does not grow with the number of contacts, and in
//! steady state the CSV path allocates nothing per row (field strings are
//! cleared and refilled, buffers of absent fields are pooled).
//!
//! Only the fields the caller has a slot for (see [`FieldSlots`]) are stored;
//! `Contact ID` and `Tags` are always read because they give the contact's id
//! and tags. A bad record is handed to the callback as [`Row::Invalid`] and the
//! rest go on; only problems that leave nothing sensible to read (I/O errors,
//! no CSV header, a JSON file that is not an array) are fatal
//! ([`ContactsError`]).
//!
//! Decisions worth knowing:
//! - Record numbers ([`Contact::row`]) count every record, valid or not: CSV
//!   data rows (the header and blank lines do not count), JSON array elements,
//!   non-blank NDJSON lines. Messages also give the line where it helps.
//! - A field that appears twice (duplicate CSV header, duplicate JSON key):
//!   the first occurrence wins.
//! - CSV cells are taken as written (no trimming); an empty cell is present
//!   but empty (`Some("")`); a short row leaves its missing columns absent
//!   (`None`); cells beyond the header are ignored.
//! - JSON values become text: strings as-is; integers in decimal; other
//!   numbers in their shortest round-trip form (`2.5`, `50.0`, `1e20`; JSON
//!   text is not kept verbatim, so `1.50` reads as `1.5` and integers beyond
//!   the 64-bit range lose precision); `true`/`false`; `null` means absent;
//!   nested arrays and objects become compact JSON text, keys in file order.
//! - `Contact ID` is trimmed; when it is absent, empty or `null` the id is the
//!   record number. `Tags` is split on commas when it is text (CSV, or a JSON
//!   string); a JSON array gives one tag per element. If the caller also has a
//!   slot for `Tags`, it gets the text as written, or for an array the final
//!   tags joined with `,`.
//! - A syntax error inside a `.json` array is fatal (the parser cannot find the
//!   next element); in NDJSON it only spoils its own line.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::mem;
use std::path::Path;
use std::str::FromStr;

use serde::de::{
    self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

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

/// Why one record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based record number, counted as for [`Contact::row`].
    pub row: u64,
    /// The record's `Contact ID`, if it could be read.
    pub id: Option<String>,
    /// What is wrong, with the line (and column or byte offset) where known.
    pub message: String,
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
}

impl From<io::Error> for ContactsError {
    fn from(e: io::Error) -> Self {
        ContactsError::Io(e)
    }
}

impl From<csv::Error> for ContactsError {
    fn from(e: csv::Error) -> Self {
        if e.is_io_error() {
            match e.into_kind() {
                csv::ErrorKind::Io(io) => ContactsError::Io(io),
                other => ContactsError::Csv(format!("{other:?}")),
            }
        } else {
            ContactsError::Csv(e.to_string())
        }
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

/// Streams every contact of `input` to `each`, in file order.
///
/// Reading stops at the first fatal problem ([`ContactsError`], converted into
/// `E`) or as soon as `each` returns `Err`, which is returned unchanged. `E` is
/// the caller's error type; `ContactsError` itself works. The input need not be
/// buffered. The module docs say how records and values are read.
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
    mut each: F,
) -> Result<(), E>
where
    R: Read,
    F: FnMut(Row<'_>) -> Result<(), E>,
    E: From<ContactsError>,
{
    let mut builder = Builder::new(slots);
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
/// elements, unparsable NDJSON lines); fatal problems are errors as in
/// [`for_each_contact`].
pub fn field_names<R: Read>(
    input: R,
    format: ContactsFormat,
) -> Result<Vec<String>, ContactsError> {
    let mut names = Names::default();
    match format {
        ContactsFormat::Csv => {
            let mut reader = csv_reader(input);
            let mut record = csv::ByteRecord::new();
            for name in csv_header(&mut reader, &mut record)? {
                names.add(&name);
            }
        }
        ContactsFormat::Json => {
            let mut reader = BufReader::new(input);
            skip_bom(&mut reader)?;
            let mut de = serde_json::Deserializer::from_reader(reader);
            NamesArray(&mut names).deserialize(&mut de)?;
            de.end()?;
        }
        ContactsFormat::Ndjson => {
            let mut lines = Lines::new(input);
            while let Some((_, line)) = lines.next_record()? {
                let before = names.list.len();
                let mut de = serde_json::Deserializer::from_slice(line);
                let parsed = NamesElement(&mut names)
                    .deserialize(&mut de)
                    .and_then(|()| de.end());
                if parsed.is_err() {
                    // Keep only names from lines that parse, like the run would.
                    for name in names.list.drain(before..) {
                        names.seen.remove(&name);
                    }
                }
            }
        }
    }
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
    /// Scratch text for JSON values that need formatting.
    scratch: String,
}

impl<'s> Builder<'s> {
    fn new(slots: &'s dyn FieldSlots) -> Self {
        let len = slots.len();
        Builder {
            slots,
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

/// Hands one finished record to the callback.
fn emit<F, E>(b: &mut Builder<'_>, outcome: Result<(), String>, each: &mut F) -> Result<(), E>
where
    F: FnMut(Row<'_>) -> Result<(), E>,
{
    match outcome {
        Ok(()) => {
            b.finish();
            each(Row::Contact(&b.contact))
        }
        Err(message) => each(Row::Invalid(b.row_error(message))),
    }
}

/// Field names in first-seen order, without repeats or empty names.
#[derive(Default)]
struct Names {
    list: Vec<String>,
    seen: HashSet<String>,
}

impl Names {
    fn add(&mut self, name: &str) {
        if !name.is_empty() && !self.seen.contains(name) {
            self.seen.insert(name.to_owned());
            self.list.push(name.to_owned());
        }
    }
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

fn csv_reader<R: Read>(input: R) -> csv::Reader<R> {
    // The header is read by hand so its cells can be trimmed and checked.
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .from_reader(input)
}

/// Reads the header row: names trimmed, a UTF-8 BOM stripped from the first.
fn csv_header<R: Read>(
    reader: &mut csv::Reader<R>,
    record: &mut csv::ByteRecord,
) -> Result<Vec<String>, ContactsError> {
    if !reader.read_byte_record(record)? {
        return Err(ContactsError::NoHeader);
    }
    let mut names = Vec::with_capacity(record.len());
    for (i, cell) in record.iter().enumerate() {
        let name = std::str::from_utf8(cell).map_err(|_| {
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
    let mut reader = csv_reader(input);
    let mut record = csv::ByteRecord::new();
    let header = csv_header(&mut reader, &mut record)?;

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
    while reader
        .read_byte_record(&mut record)
        .map_err(ContactsError::from)?
    {
        row += 1;
        b.begin(row);
        let mut outcome = Ok(());
        // Cells beyond the header are ignored; missing ones stay absent.
        for ((column, cell), role) in record.iter().enumerate().zip(&roles) {
            match std::str::from_utf8(cell) {
                Ok(text) => {
                    if !role.is_unused() {
                        b.apply(*role, text);
                    }
                }
                Err(_) => {
                    outcome = Err(csv_utf8_message(&header, column, &record));
                    break;
                }
            }
        }
        if outcome.is_err() && !b.id_set {
            // The id column may come after the bad cell; it may still be fine.
            let id = id_column
                .and_then(|c| record.get(c))
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

fn csv_utf8_message(header: &[String], column: usize, record: &csv::ByteRecord) -> String {
    let name = header.get(column).map(String::as_str).unwrap_or_default();
    match record.position() {
        Some(pos) => format!(
            "column {} (`{name}`) is not valid UTF-8 (record starts at line {}, byte offset {})",
            column + 1,
            pos.line(),
            pos.byte()
        ),
        None => format!("column {} (`{name}`) is not valid UTF-8", column + 1),
    }
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

/// Skips a UTF-8 byte order mark, which serde_json would reject.
fn skip_bom<R: Read>(reader: &mut BufReader<R>) -> io::Result<()> {
    if reader.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
        reader.consume(3);
    }
    Ok(())
}

fn json_contacts<R, F, E>(input: R, b: &mut Builder<'_>, each: &mut F) -> Result<(), E>
where
    R: Read,
    F: FnMut(Row<'_>) -> Result<(), E>,
    E: From<ContactsError>,
{
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    skip_bom(&mut reader).map_err(ContactsError::from)?;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut stop = None;
    let parsed = ArraySeed {
        b,
        each,
        stop: &mut stop,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    // The callback's own error travels through serde as a placeholder.
    if let Some(e) = stop {
        return Err(e);
    }
    parsed.map_err(|e| E::from(ContactsError::from(e)))
}

/// Reads NDJSON one line at a time into a reused buffer.
struct Lines<R> {
    reader: BufReader<R>,
    buf: Vec<u8>,
    line: u64,
}

impl<R: Read> Lines<R> {
    fn new(input: R) -> Self {
        Lines {
            reader: BufReader::with_capacity(64 * 1024, input),
            buf: Vec::new(),
            line: 0,
        }
    }

    /// The next non-blank line and its 1-based line number.
    fn next_record(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        loop {
            self.buf.clear();
            if self.reader.read_until(b'\n', &mut self.buf)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            let mut text = &self.buf[..];
            if self.line == 1 {
                text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
            }
            if !text.iter().all(u8::is_ascii_whitespace) {
                // Re-borrow: the loop above ended with `text` pointing into `buf`.
                let start = self.buf.len() - text.len();
                return Ok(Some((self.line, &self.buf[start..])));
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
    let mut lines = Lines::new(input);
    let mut row = 0u64;
    while let Some((line, text)) = lines.next_record().map_err(ContactsError::from)? {
        row += 1;
        b.begin(row);
        let mut de = serde_json::Deserializer::from_slice(text);
        let parsed = ObjectSeed { b: &mut *b }
            .deserialize(&mut de)
            .and_then(|outcome| de.end().map(|()| outcome));
        let outcome = match parsed {
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

/// The top-level array: each element is read and handed to the callback
/// before the next is parsed, so the array is never held in memory.
struct ArraySeed<'a, 's, F, E> {
    b: &'a mut Builder<'s>,
    each: &'a mut F,
    /// The callback's error, if it asked to stop.
    stop: &'a mut Option<E>,
}

impl<'de, F, E> DeserializeSeed<'de> for ArraySeed<'_, '_, F, E>
where
    F: FnMut(Row<'_>) -> Result<(), E>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F, E> Visitor<'de> for ArraySeed<'_, '_, F, E>
where
    F: FnMut(Row<'_>) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of contact objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut row = 0u64;
        loop {
            self.b.begin(row + 1);
            let Some(outcome) = seq.next_element_seed(ObjectSeed { b: &mut *self.b })? else {
                return Ok(());
            };
            row += 1;
            let outcome = match outcome {
                Outcome::Object => Ok(()),
                Outcome::NotObject(kind) => {
                    Err(format!("array element {row} is {kind}, not an object"))
                }
                Outcome::Problem(problem) => Err(format!("array element {row}: {problem}")),
            };
            if let Err(e) = emit(self.b, outcome, self.each) {
                *self.stop = Some(e);
                return Err(A::Error::custom("stopped by the caller"));
            }
        }
    }
}

/// One contact object (a JSON array element or an NDJSON line).
struct ObjectSeed<'a, 's> {
    b: &'a mut Builder<'s>,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_> {
    type Value = Outcome;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Outcome, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_> {
    type Value = Outcome;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a contact object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome, A::Error> {
        while let Some(role) = map.next_key_seed(KeySeed(self.b.slots))? {
            if role.is_unused() {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(ValueSeed {
                    b: &mut *self.b,
                    role,
                })?;
            }
        }
        Ok(match self.b.problem.take() {
            Some(problem) => Outcome::Problem(problem),
            None => Outcome::Object,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Outcome, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Outcome::NotObject("an array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Outcome, E> {
        Ok(Outcome::NotObject("a string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Outcome, E> {
        Ok(Outcome::NotObject("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Outcome, E> {
        Ok(Outcome::NotObject("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Outcome, E> {
        Ok(Outcome::NotObject("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Outcome, E> {
        Ok(Outcome::NotObject("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Outcome, E> {
        Ok(Outcome::NotObject("null"))
    }
}

/// An object key, looked up without allocating.
struct KeySeed<'s>(&'s dyn FieldSlots);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Role;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Role, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Role;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Role, E> {
        Ok(Role::of(name, self.0))
    }
}

/// A field's value, converted to text and stored by role.
struct ValueSeed<'a, 's> {
    b: &'a mut Builder<'s>,
    role: Role,
}

impl ValueSeed<'_, '_> {
    /// Stores nested JSON as compact text.
    fn apply_compact<E>(self, write: impl FnOnce(&mut String) -> Result<(), E>) -> Result<(), E> {
        let mut text = mem::take(&mut self.b.scratch);
        text.clear();
        let written = write(&mut text);
        if written.is_ok() {
            self.b.apply(self.role, &text);
        }
        self.b.scratch = text;
        written
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.b.apply(self.role, v);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.b.apply(self.role, if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let mut buf = [0u8; 21];
        self.b
            .apply(self.role, int_text(v < 0, v.unsigned_abs(), &mut buf));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let mut buf = [0u8; 21];
        self.b.apply(self.role, int_text(false, v, &mut buf));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.b.apply(self.role, ryu::Buffer::new().format(v));
        Ok(())
    }

    /// `null` means the field is absent.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if !self.role.tags {
            return self.apply_compact(|out| write_compact_seq(out, seq));
        }
        if self.b.tags_set {
            // A repeated `Tags` key: the first one wins.
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        self.b.tags_set = true;
        while seq
            .next_element_seed(TagSeed { b: &mut *self.b })?
            .is_some()
        {}
        self.b.dedup_tags();
        self.b.store_joined_tags(self.role.slot);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        if self.role.tags {
            self.b
                .note_problem("`Tags` must be a string or an array of strings, not an object");
            return IgnoredAny.visit_map(map).map(|_| ());
        }
        self.apply_compact(|out| write_compact_map(out, map))
    }
}

/// One element of a `Tags` array.
struct TagSeed<'a, 's> {
    b: &'a mut Builder<'s>,
}

impl<'de> DeserializeSeed<'de> for TagSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TagSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tag")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.b.add_tag(v);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.b.add_tag(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let mut buf = [0u8; 21];
        self.b.add_tag(int_text(v < 0, v.unsigned_abs(), &mut buf));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let mut buf = [0u8; 21];
        self.b.add_tag(int_text(false, v, &mut buf));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.b.add_tag(ryu::Buffer::new().format(v));
        Ok(())
    }

    /// A `null` tag is no tag.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.b
            .note_problem("`Tags` array elements must be strings, not arrays");
        IgnoredAny.visit_seq(seq).map(|_| ())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.b
            .note_problem("`Tags` array elements must be strings, not objects");
        IgnoredAny.visit_map(map).map(|_| ())
    }
}

/// Re-serializes any JSON value as compact text into the string, keeping
/// object keys in file order (unlike `serde_json::Value`, which sorts them).
struct Compact<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for Compact<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Compact<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        write_json_string(self.0, v);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let mut buf = [0u8; 21];
        self.0.push_str(int_text(v < 0, v.unsigned_abs(), &mut buf));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let mut buf = [0u8; 21];
        self.0.push_str(int_text(false, v, &mut buf));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.0.push_str(ryu::Buffer::new().format(v));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.push_str("null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        write_compact_seq(self.0, seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        write_compact_map(self.0, map)
    }
}

fn write_compact_seq<'de, A: SeqAccess<'de>>(out: &mut String, mut seq: A) -> Result<(), A::Error> {
    out.push('[');
    let mut first = true;
    loop {
        let mark = out.len();
        if !first {
            out.push(',');
        }
        if seq.next_element_seed(Compact(&mut *out))?.is_none() {
            out.truncate(mark);
            break;
        }
        first = false;
    }
    out.push(']');
    Ok(())
}

fn write_compact_map<'de, A: MapAccess<'de>>(out: &mut String, mut map: A) -> Result<(), A::Error> {
    out.push('{');
    let mut first = true;
    loop {
        let mark = out.len();
        if !first {
            out.push(',');
        }
        if map.next_key_seed(CompactKey(&mut *out))?.is_none() {
            out.truncate(mark);
            break;
        }
        out.push(':');
        map.next_value_seed(Compact(&mut *out))?;
        first = false;
    }
    out.push('}');
    Ok(())
}

/// An object key written as a JSON string.
struct CompactKey<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for CompactKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CompactKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        write_json_string(self.0, v);
        Ok(())
    }
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

/// `field_names` for a JSON array: keys of every object element.
struct NamesArray<'a>(&'a mut Names);

impl<'de> DeserializeSeed<'de> for NamesArray<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for NamesArray<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of contact objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NamesElement(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// `field_names` for one record: its keys if it is an object, else nothing.
struct NamesElement<'a>(&'a mut Names);

impl<'de> DeserializeSeed<'de> for NamesElement<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NamesElement<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a contact object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(NameKey(&mut *self.0))?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| ())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// One key for `field_names`.
struct NameKey<'a>(&'a mut Names);

impl<'de> DeserializeSeed<'de> for NameKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.add(v);
        Ok(())
    }
}

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
            r#"[{"a": "1"}, 5, "s", [1, {"a": 2}], null, true, {"a": "6", "Contact ID": 6}]"#;
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
        assert_eq!((last.row, last.id.as_str()), (7, "6"));
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
