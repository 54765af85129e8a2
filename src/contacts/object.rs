//! One JSON record (an array element or an NDJSON line) into the builder.

use std::borrow::Cow;
use std::fmt;
use std::mem;

use serde::de::{self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize as _;
use serde_json::value::RawValue;

use super::record::{clip, Builder, Role};
use super::FieldSlots;
use crate::input::Bytes;

/// serde_json's message without the " at line L column C" it appends, for
/// messages that place the error themselves.
pub(super) fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

pub(super) fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// How reading one JSON record went (syntax errors aside).
pub(super) enum Outcome {
    /// A contact object, stored in the builder.
    Object,
    /// Something other than an object (e.g. "a string").
    NotObject(&'static str),
    /// An object with an unusable value.
    Problem(String),
}

/// What a JSON value is, from its first byte.
pub(super) fn json_kind(first: Option<u8>) -> &'static str {
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
pub(super) fn read_record(b: &mut Builder<'_>, text: &[u8]) -> Result<Outcome, serde_json::Error> {
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
pub(super) struct ObjectSeed<'a, 's> {
    pub(super) b: &'a mut Builder<'s>,
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
pub(super) struct Key<'de> {
    pub(super) role: Role,
    pub(super) name: Cow<'de, str>,
}

/// Looks an object key up without allocating (unless it has escapes).
pub(super) struct KeySeed<'s>(pub(super) &'s dyn FieldSlots);

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
pub(super) fn json_string(raw: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    if memchr::memchr(b'\\', raw.as_bytes()).is_none() && raw.len() >= 2 {
        return Ok(Cow::Borrowed(&raw[1..raw.len() - 1]));
    }
    serde_json::from_str::<String>(raw).map(Cow::Owned)
}

impl Builder<'_> {
    /// Stores a field given as raw JSON text (valid JSON: the parser checked it).
    pub(super) fn apply_json(&mut self, role: Role, raw: &str) -> Result<(), serde_json::Error> {
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
    pub(super) fn apply_json_tags(
        &mut self,
        slot: Option<usize>,
        raw: &str,
    ) -> Result<(), serde_json::Error> {
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
/// order (repeats included) and numbers as written; strings with escapes
/// are rewritten as serde_json writes them, so the same value always gives
/// the same text.
///
/// A scan in one pass rather than serde: `serde_json::Value`, even with
/// `preserve_order`, holds numbers as `f64`, `i64` or `u64` (`1.50` would
/// become `1.5`, and `1e400` fails) and each key once; re-parsing every
/// nesting level as a `RawValue` keeps the text but reads a value once per
/// level around it (9 times slower at 126 levels, measured).
pub(super) fn write_compact(out: &mut String, raw: &str) -> Result<(), serde_json::Error> {
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
                    let text = json_string(&raw[start..i_end])?;
                    out.push('"');
                    crate::encode::json_string_into(out, &text);
                    out.push('"');
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
