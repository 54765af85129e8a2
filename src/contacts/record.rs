//! The record builder: fills the one reused [`Contact`] from the fields a
//! reader finds, and hands each finished record to the callback.

use std::borrow::Cow;
use std::collections::HashSet;
use std::mem;

use super::ids::{SeenIds, ROW_MAX};
use super::{
    Contact, FieldSlots, Limits, Row, RowError, RowErrorKind, CONTACT_ID, LINEAR_DEDUP_MAX,
    SPARE_CAP, TAGS,
};

/// What a field name means to the reader.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Role {
    /// The caller's slot for it.
    pub(super) slot: Option<usize>,
    /// It is `Contact ID`.
    pub(super) id: bool,
    /// It is `Tags`.
    pub(super) tags: bool,
}

impl Role {
    pub(super) fn of(name: &str, slots: &dyn FieldSlots) -> Role {
        Role {
            // An out-of-range slot is a caller bug; ignore it rather than panic.
            slot: slots.slot(name).filter(|&s| s < slots.len()),
            id: name == CONTACT_ID,
            tags: name == TAGS,
        }
    }

    pub(super) fn is_unused(self) -> bool {
        self.slot.is_none() && !self.id && !self.tags
    }
}

/// Fills the reused [`Contact`] one record at a time.
pub(super) struct Builder<'s> {
    pub(super) slots: &'s dyn FieldSlots,
    pub(super) limits: Limits,
    pub(super) contact: Contact,
    /// Per slot: set by the current record (so the first occurrence wins and
    /// unset slots become `None` at the end).
    pub(super) set: Vec<bool>,
    pub(super) id_set: bool,
    pub(super) tags_set: bool,
    /// Number of valid entries at the front of `contact.tags`; the entries
    /// after it are stale buffers waiting to be reused or pooled.
    pub(super) tag_len: usize,
    /// Buffers of fields that went absent, for reuse.
    pub(super) spare: Vec<String>,
    /// What is wrong with the current record, if anything (first problem wins).
    pub(super) problem: Option<String>,
    /// Scratch text for JSON values that need rewriting.
    pub(super) scratch: String,
    /// Every id met so far.
    pub(super) ids: SeenIds,
}

impl<'s> Builder<'s> {
    pub(super) fn new(slots: &'s dyn FieldSlots, limits: Limits) -> Self {
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
    pub(super) fn begin(&mut self, row: u64) {
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
    pub(super) fn finish(&mut self) {
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
            self.id_from_row();
        }
    }

    /// Makes the record number the id, for a record without `Contact ID`.
    fn id_from_row(&mut self) {
        use std::fmt::Write as _;
        self.contact.id.clear();
        // Writing to a String cannot fail; it reuses the buffer.
        let _ = write!(self.contact.id, "{}", self.contact.row);
    }

    /// The error for the current record.
    pub(super) fn row_error(&self, message: String) -> RowError {
        RowError {
            row: self.contact.row,
            id: self.id_set.then(|| self.contact.id.clone()),
            message,
            kind: RowErrorKind::Invalid,
        }
    }

    pub(super) fn note_problem(&mut self, message: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some(message.into());
        }
    }

    /// Stores a field's text wherever its role says.
    pub(super) fn apply(&mut self, role: Role, text: &str) {
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
    pub(super) fn field_buf(&mut self, slot: usize) -> Option<&mut String> {
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
    pub(super) fn add_tag(&mut self, tag: &str) {
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
    pub(super) fn dedup_tags(&mut self) {
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
    pub(super) fn store_joined_tags(&mut self, slot: Option<usize>) {
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
pub(super) fn pool(spare: &mut Vec<String>, buf: String) {
    if spare.len() < SPARE_CAP {
        spare.push(buf);
    }
}

/// Hands one finished record to the callback, first making sure its id is
/// not the id of an earlier record.
pub(super) fn emit<F, E>(
    b: &mut Builder<'_>,
    outcome: Result<(), String>,
    each: &mut F,
) -> Result<(), E>
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
            if !b.id_set {
                b.id_from_row();
            }
            let id = b.contact.id.as_str();
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
pub(super) fn duplicate_message(id: &str, explicit: bool, row: u64, first: u64) -> String {
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
pub(super) fn clip(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(80) {
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
        None => Cow::Borrowed(text),
    }
}
