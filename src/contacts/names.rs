//! Field-name sampling for `campaign check --contacts`: the names come from
//! the same reader a run uses, so a sample yields exactly the fields a run
//! of it would see.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::Read;

use super::csv::{csv_header, CsvRecords};
use super::{for_each_contact_with, ContactsError, ContactsFormat, FieldSlots, Limits, Row};

/// The field names a sample file defines, for `campaign check --contacts`:
/// the CSV header, or for JSON/NDJSON the union of the records' keys in
/// first-seen order. Empty names and repeats are left out.
///
/// Records that are [`Row::Invalid`] when read for a run contribute
/// nothing (non-object JSON elements, unparsable NDJSON lines, records past
/// a limit, repeated ids); fatal problems are errors as in
/// [`for_each_contact`](super::for_each_contact).
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
    let names = Sampler(RefCell::new(Names::new(limits)));
    match format {
        ContactsFormat::Csv => {
            let mut records = CsvRecords::new(input, *limits);
            for name in csv_header(&mut records)? {
                names.0.borrow_mut().add(&name);
            }
        }
        ContactsFormat::Json | ContactsFormat::Ndjson => {
            let mut known = 0;
            for_each_contact_with(input, format, &names, limits, |row| {
                let mut names = names.0.borrow_mut();
                match row {
                    Row::Contact(_) => names.check()?,
                    // A record a run would refuse names no field it uses.
                    Row::Invalid(_) => names.forget_from(known),
                }
                known = names.list.len();
                Ok::<(), ContactsError>(())
            })?;
        }
    }
    let names = names.0.into_inner();
    names.check()?;
    Ok(names.list)
}

/// Field slots that take none but note every name the reader asks about:
/// the reader asks once per key of every JSON record, in file order.
struct Sampler(RefCell<Names>);

impl FieldSlots for Sampler {
    fn slot(&self, name: &str) -> Option<usize> {
        self.0.borrow_mut().add(name);
        None
    }

    fn len(&self) -> usize {
        0
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
            return Err(ContactsError::Fields {
                names: self.limits.fields,
                bytes: self.limits.record_bytes as u64,
            });
        }
        Ok(())
    }
}
