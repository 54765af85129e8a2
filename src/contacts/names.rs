//! Field-name sampling for `campaign check --contacts`.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize as _;

use super::csv::{csv_header, CsvRecords};
use super::json::JsonArray;
use super::ndjson::Lines;
use super::object::{is_json_space, KeySeed};
use super::{ContactsError, ContactsFormat, Limits};
use crate::input::Bytes;

/// The field names a sample file defines, for `campaign check --contacts`:
/// the CSV header, or for JSON/NDJSON the union of the records' keys in
/// first-seen order. Empty names and repeats are left out.
///
/// Records that would be [`Row::Invalid`](super::Row::Invalid) contribute nothing (non-object JSON
/// elements, unparsable or too long NDJSON lines, too long JSON elements);
/// fatal problems are errors as in [`for_each_contact`](super::for_each_contact).
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

/// Field names in first-seen order, without repeats or empty names, up to
/// [`Limits::fields`] names and [`Limits::record_bytes`] bytes of them.
pub(super) struct Names {
    pub(super) list: Vec<String>,
    pub(super) seen: HashSet<String>,
    pub(super) bytes: usize,
    pub(super) limits: Limits,
    /// A name was refused for lack of room.
    pub(super) full: bool,
}

impl Names {
    pub(super) fn new(limits: &Limits) -> Self {
        Names {
            list: Vec::new(),
            seen: HashSet::new(),
            bytes: 0,
            limits: *limits,
            full: false,
        }
    }

    pub(super) fn add(&mut self, name: &str) {
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
    pub(super) fn forget_from(&mut self, len: usize) {
        for name in self.list.drain(len..) {
            self.bytes -= name.len();
            self.seen.remove(&name);
        }
        self.full = false;
    }

    pub(super) fn check(&self) -> Result<(), ContactsError> {
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

/// The keys of one record for `field_names`, if it is an object.
pub(super) fn names_of(names: &mut Names, text: &[u8]) -> Result<(), serde_json::Error> {
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
pub(super) struct NamesObject<'a>(&'a mut Names);

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
pub(super) const NO_SLOTS: [&str; 0] = [];
