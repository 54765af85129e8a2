//! Values handed between threads of one process as typed frames: a serde
//! value written without JSON's escaping and read back without JSON's
//! parsing. `campaign diff`'s two dry runs hand their comparison every
//! contact's effects this way: the same `Serialize` impls that print the
//! NDJSON write them, so a frame holds exactly what the line would, and
//! escaping a line only for the comparison to scan it again was most of
//! the comparison's time (docs/performance.md, "`campaign diff`").
//!
//! Not a file format: frames never leave the process, and a reader that
//! meets bytes it did not expect stops (`None`) rather than guessing.
//!
//! Each value is a tag byte, then its payload: a string is its length (one
//! byte below 128, else 5 bytes of 7 bits, little-endian, after another
//! tag) and its UTF-8 bytes; a number its 64 bits in 10 bytes of 7 bits; a
//! map or a list its items up to an end tag.
//! Every byte but a string's is ASCII, so a whole value is UTF-8 and is
//! checked as such once ([`Reader::text`]), not string by string: the
//! comparison reads every effect that changed, and checking its strings
//! one by one was a sixth of its time.
//!
//! [`write`] puts a value's length (4 bytes) in front of it, so that
//! [`split`] finds each value without reading it, and after it the marks
//! [`write_marking`] asked for: where the values of some map entries start
//! (`campaign diff` marks idempotency keys, which it sets aside without
//! reading the frame).

use serde::ser::{self, Serialize};
use serde_json::Value;

const MAP: u8 = b'{';
const SEQ: u8 = b'[';
const END: u8 = b'.';
const STR: u8 = b's';
const LONG_STR: u8 = b'S';
const U64: u8 = b'u';
const I64: u8 = b'i';
const F64: u8 = b'f';
const TRUE: u8 = b't';
const FALSE: u8 = b'F';
const NULL: u8 = b'n';

/// One item of a frame, as [`Reader`] reads it: its text checked as UTF-8
/// (`Item<&str>`, from [`Reader::next`]) or as bytes (`Item<&[u8]>`, from
/// [`Reader::next_raw`], for comparing frames byte by byte).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<T> {
    /// A map starts; its keys and values follow in turn, up to [`Item::End`].
    Map,
    /// A list starts; its items follow, up to [`Item::End`].
    Seq,
    /// The innermost open map or list ends.
    End,
    /// Text.
    Str(T),
    /// A whole number of at least zero.
    U64(u64),
    /// A negative whole number.
    I64(i64),
    /// A number with a fraction.
    F64(f64),
    /// `true` or `false`.
    Bool(bool),
    /// No value (`None`, `()`).
    Null,
}

/// Why a value could not be written as a frame: a kind of data frames do
/// not carry (bytes, a map key that is not text), or a `Serialize` impl's
/// own error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Appends `value` to `out` as one frame, its length in front. On an error,
/// `out` is left as it was.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    write_marking(out, value, &[])
}

/// [`write`], marking where the value of every map entry whose key is one
/// of `names` (in any case) starts.
pub fn write_marking<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
    names: &[&str],
) -> Result<(), Error> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut writer = Writer {
        out: &mut *out,
        start: start + 4,
        names,
        mark_next: false,
        marks: Vec::new(),
    };
    let written = value.serialize(&mut writer);
    let marks = writer.marks;
    let length = u32::try_from(out.len() - start - 4);
    match (written, length) {
        (Ok(()), Ok(length)) => {
            out[start..start + 4].copy_from_slice(&length.to_le_bytes());
            // Offsets below the length, so below 4 GiB.
            out.extend_from_slice(&(marks.len() as u32).to_le_bytes());
            for m in marks {
                out.extend_from_slice(&(m as u32).to_le_bytes());
            }
            Ok(())
        }
        (Err(e), _) => {
            out.truncate(start);
            Err(e)
        }
        (Ok(()), Err(_)) => {
            out.truncate(start);
            Err(Error("a frame over 4 GiB".into()))
        }
    }
}

/// One frame as [`split`] finds it: the value's bytes (for [`Reader`]) and
/// its marks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Frame<'a> {
    /// The value.
    pub value: &'a [u8],
    marks: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Where the marked values start in [`Frame::value`], in order.
    pub fn marks(&self) -> impl Iterator<Item = usize> + 'a {
        self.marks
            .chunks_exact(4)
            .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]) as usize)
    }
}

/// The frames [`write`] appended to a buffer, in order; stops at bytes
/// that do not hold a whole frame.
pub fn split(mut bytes: &[u8]) -> impl Iterator<Item = Frame<'_>> {
    let word = |bytes: &mut &[u8]| -> Option<usize> {
        let n = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        *bytes = &bytes[4..];
        Some(n)
    };
    std::iter::from_fn(move || {
        let length = word(&mut bytes)?;
        let value = bytes.get(..length)?;
        bytes = &bytes[length..];
        let count = word(&mut bytes)?;
        let marks = bytes.get(..count.checked_mul(4)?)?;
        bytes = &bytes[marks.len()..];
        Some(Frame { value, marks })
    })
}

/// Where the text item at `at` in `value` ends; `None` when no text item
/// starts there.
pub fn text_end(value: &[u8], at: usize) -> Option<usize> {
    let mut reader = Reader::new(value.get(at..)?);
    match reader.next_raw()? {
        Item::Str(_) => Some(value.len() - reader.remaining()),
        _ => None,
    }
}

/// Reads one frame's items in order.
pub struct Reader<'a> {
    /// What is left to read.
    bytes: &'a [u8],
    /// The whole frame (of which `bytes` is the end) when it was checked
    /// as UTF-8 at once ([`Reader::text`]).
    text: Option<&'a str>,
}

impl<'a> Reader<'a> {
    /// A reader of `frame` (one of [`split`]'s values, or a part of one
    /// that starts at an item).
    pub fn new(frame: &'a [u8]) -> Reader<'a> {
        Reader {
            bytes: frame,
            text: None,
        }
    }

    /// A reader of `frame` checked as UTF-8 at once: its strings are
    /// slices of it. `None` when it is not UTF-8, which a frame a writer
    /// made always is.
    pub fn text(frame: &'a [u8]) -> Option<Reader<'a>> {
        Some(Reader {
            bytes: frame,
            text: Some(std::str::from_utf8(frame).ok()?),
        })
    }

    /// The next item; `None` at the end or at bytes no writer made.
    #[allow(clippy::should_implement_trait)] // Not an iterator: `None` also means malformed.
    #[inline]
    pub fn next(&mut self) -> Option<Item<&'a str>> {
        Some(match self.next_raw()? {
            Item::Str(bytes) => Item::Str(match self.text {
                // The string ends where what is left starts; its ends are
                // next to ASCII bytes, so on characters' boundaries.
                Some(text) => {
                    let end = text.len() - self.bytes.len();
                    text.get(end - bytes.len()..end)?
                }
                None => std::str::from_utf8(bytes).ok()?,
            }),
            Item::Map => Item::Map,
            Item::Seq => Item::Seq,
            Item::End => Item::End,
            Item::U64(n) => Item::U64(n),
            Item::I64(n) => Item::I64(n),
            Item::F64(x) => Item::F64(x),
            Item::Bool(b) => Item::Bool(b),
            Item::Null => Item::Null,
        })
    }

    /// The next item, its text as bytes (not checked as UTF-8).
    // Always: each call of `next` is one of `next_raw`, and the comparison
    // reads every item of every effect that changed.
    #[inline(always)]
    pub fn next_raw(&mut self) -> Option<Item<&'a [u8]>> {
        let (&tag, rest) = self.bytes.split_first()?;
        let (item, rest) = match tag {
            MAP => (Item::Map, rest),
            SEQ => (Item::Seq, rest),
            END => (Item::End, rest),
            TRUE => (Item::Bool(true), rest),
            FALSE => (Item::Bool(false), rest),
            NULL => (Item::Null, rest),
            STR => {
                let (&length, rest) = rest.split_first()?;
                let length = usize::from(length);
                if length > SHORT {
                    return None;
                }
                (Item::Str(rest.get(..length)?), &rest[length..])
            }
            LONG_STR => {
                let length = from_sevens::<LENGTH>(rest.get(..LENGTH)?.try_into().ok()?)?;
                let end = LENGTH.checked_add(usize::try_from(length).ok()?)?;
                (Item::Str(rest.get(LENGTH..end)?), &rest[end..])
            }
            U64 | I64 | F64 => {
                let bits = from_sevens::<NUMBER>(rest.get(..NUMBER)?.try_into().ok()?)?;
                let item = match tag {
                    U64 => Item::U64(bits),
                    I64 => Item::I64(bits as i64),
                    _ => Item::F64(f64::from_bits(bits)),
                };
                (item, &rest[NUMBER..])
            }
            _ => return None,
        };
        self.bytes = rest;
        Some(item)
    }

    /// How many bytes are left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Whether every item has been read.
    pub fn at_end(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Skips the value that `first` (just read) starts: a whole map or list.
    pub fn skip(&mut self, first: Item<&'a str>) -> Option<()> {
        let mut depth = usize::from(matches!(first, Item::Map | Item::Seq));
        while depth > 0 {
            match self.next_raw()? {
                Item::Map | Item::Seq => depth += 1,
                Item::End => depth -= 1,
                _ => {}
            }
        }
        Some(())
    }

    /// The value that `first` (just read) starts, as JSON.
    pub fn json(&mut self, first: Item<&'a str>) -> Option<Value> {
        Some(match first {
            Item::Map => {
                let mut map = serde_json::Map::new();
                loop {
                    match self.next()? {
                        Item::End => break,
                        Item::Str(key) => {
                            let item = self.next()?;
                            map.insert(key.to_owned(), self.json(item)?);
                        }
                        _ => return None,
                    }
                }
                Value::Object(map)
            }
            Item::Seq => {
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Item::End => break,
                        item => items.push(self.json(item)?),
                    }
                }
                Value::Array(items)
            }
            Item::End => return None,
            Item::Str(s) => Value::String(s.to_owned()),
            Item::U64(n) => Value::from(n),
            Item::I64(n) => Value::from(n),
            // As serde_json writes a number it cannot hold: `null`.
            Item::F64(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
            Item::Bool(b) => Value::Bool(b),
            Item::Null => Value::Null,
        })
    }
}

/// The longest string whose length is one byte (of 7 bits).
const SHORT: usize = 0x7f;
/// Bytes of a longer string's length: 7 bits each, 35 in all (a length is
/// below 4 GiB).
const LENGTH: usize = 5;
/// Bytes of a number: 7 bits each, 70 in all for its 64.
const NUMBER: usize = 10;

/// `value` in `N` bytes of 7 bits, lowest first: ASCII whatever it is.
fn sevens<const N: usize>(value: u64) -> [u8; N] {
    let mut out = [0; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = ((value >> (7 * i)) & 0x7f) as u8;
    }
    out
}

/// What [`sevens`] wrote; `None` for bytes it never writes (a byte over 7
/// bits, or more than 64 bits in all).
fn from_sevens<const N: usize>(bytes: [u8; N]) -> Option<u64> {
    let mut value = 0u64;
    let mut any = 0u8;
    for (i, b) in bytes.into_iter().enumerate() {
        any |= b;
        value |= u64::from(b) << (7 * i);
    }
    let bits = 7 * N;
    let top_bits = bits.saturating_sub(64);
    let fits = top_bits == 0 || bytes[N - 1] >> (7 - top_bits) == 0;
    (any <= 0x7f && fits).then_some(value)
}

/// A whole frame as JSON: what the NDJSON line of the same value holds.
pub fn to_json(frame: &[u8]) -> Option<Value> {
    let mut reader = Reader::text(frame)?;
    let first = reader.next()?;
    let value = reader.json(first)?;
    reader.at_end().then_some(value)
}

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    /// Where the value starts in `out`.
    start: usize,
    /// The keys whose values are marked.
    names: &'o [&'o str],
    /// The key just written is one of `names`.
    mark_next: bool,
    /// Marked values' offsets from `start`.
    marks: Vec<usize>,
}

impl Writer<'_> {
    /// A map's key was written: its value is marked if the key is named.
    fn key_written(&mut self, key: &str) {
        self.mark_next = self.names.iter().any(|n| n.eq_ignore_ascii_case(key));
    }

    /// A struct's field: its name as a key, then its value.
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.str(key)?;
        self.key_written(key);
        self.value_next();
        value.serialize(self)
    }

    /// A map's value is about to be written.
    fn value_next(&mut self) {
        if std::mem::take(&mut self.mark_next) {
            self.marks.push(self.out.len() - self.start);
        }
    }

    fn str(&mut self, text: &str) -> Result<(), Error> {
        let length = u32::try_from(text.len()).map_err(|_| Error("a text over 4 GiB".into()))?;
        if text.len() <= SHORT {
            self.out.push(STR);
            self.out.push(length as u8);
        } else {
            self.out.push(LONG_STR);
            self.out.extend_from_slice(&sevens::<LENGTH>(length.into()));
        }
        self.out.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn number(&mut self, tag: u8, bits: u64) -> Result<(), Error> {
        self.out.push(tag);
        self.out.extend_from_slice(&sevens::<NUMBER>(bits));
        Ok(())
    }

    fn tag(&mut self, tag: u8) -> Result<(), Error> {
        self.out.push(tag);
        Ok(())
    }
}

/// Map keys: text only, as in JSON.
struct Key<'w, 'o>(&'w mut Writer<'o>);

fn not_text() -> Error {
    Error("a map key that is not text".into())
}

impl<'o> ser::Serializer for &mut Writer<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.tag(if v { TRUE } else { FALSE })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        // As JSON reads it back: a whole number of at least zero is a `u64`.
        match u64::try_from(v) {
            Ok(v) => self.serialize_u64(v),
            Err(_) => self.number(I64, v as u64),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.number(U64, v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.number(F64, v.to_bits())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.str(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(Error("bytes: frames carry text".into()))
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.tag(NULL)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.tag(NULL)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.tag(NULL)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        // `{"Variant": value}`, as JSON writes it.
        self.tag(MAP)?;
        self.str(variant)?;
        value.serialize(&mut *self)?;
        self.tag(END)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Error> {
        self.tag(SEQ)?;
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Error> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, Error> {
        self.tag(MAP)?;
        self.str(variant)?;
        self.serialize_seq(None)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Error> {
        self.tag(MAP)?;
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, Error> {
        self.tag(MAP)?;
        self.str(variant)?;
        self.serialize_map(None)
    }
}

impl ser::SerializeSeq for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(END)
    }
}

impl ser::SerializeTuple for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(END)
    }
}

impl ser::SerializeTupleStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(END)
    }
}

impl ser::SerializeTupleVariant for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    /// The list, then the map around it.
    fn end(self) -> Result<(), Error> {
        self.tag(END)?;
        self.tag(END)
    }
}

impl ser::SerializeMap for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        key.serialize(Key(self))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.value_next();
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(END)
    }
}

impl ser::SerializeStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(END)
    }
}

impl ser::SerializeStructVariant for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    /// The fields, then the map around them.
    fn end(self) -> Result<(), Error> {
        self.tag(END)?;
        self.tag(END)
    }
}

/// A map key: text, or a value JSON writes as text (a number, `true`).
impl ser::Serializer for Key<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.key_written(v);
        self.0.str(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.serialize_str(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_text())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_text())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_text())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_text())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_text())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(not_text())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A JSON value of the kinds frames carry (no map key repeated: a map
    /// holds one value per key).
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            (i64::MIN..0).prop_map(Value::from),
            (-1e12f64..1e12)
                .prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A value written as a frame reads back as the same JSON its
        /// NDJSON line holds, and frames written one after another split
        /// back into the same values.
        #[test]
        fn a_frame_holds_what_the_json_line_holds(values in prop::collection::vec(json(), 1..4)) {
            let mut buffer = Vec::new();
            for v in &values {
                write(&mut buffer, v).unwrap();
            }
            let read: Vec<Value> = split(&buffer).map(|f| to_json(f.value).unwrap()).collect();
            prop_assert_eq!(read, values);
        }
    }

    #[test]
    fn long_strings_and_numbers_of_every_size_read_back() {
        let mut values = Vec::new();
        for n in [0, 1, 126, 127, 128, 129, 300, 70_000] {
            values.push(Value::String("é".repeat(n / 2) + &"x".repeat(n % 2)));
        }
        for bits in [0, 1, 7, 8, 34, 35, 56, 63, 64] {
            let n = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            values.push(Value::from(n));
        }
        values.push(Value::from(i64::MIN));
        values.push(Value::from(-1.5e300));
        let mut buffer = Vec::new();
        for v in &values {
            write(&mut buffer, v).unwrap();
        }
        let frames: Vec<Frame<'_>> = split(&buffer).collect();
        for (f, v) in frames.iter().zip(&values) {
            assert!(std::str::from_utf8(f.value).is_ok(), "a frame is UTF-8");
            assert_eq!(to_json(f.value).as_ref(), Some(v));
        }
        assert_eq!(frames.len(), values.len());
    }

    #[test]
    fn derived_structs_options_and_enums_read_as_json_does() {
        #[derive(serde::Serialize)]
        enum Kind {
            Plain,
            Wrapped(u8),
        }
        #[derive(serde::Serialize)]
        struct Line<'a> {
            contact: &'a str,
            at: f64,
            #[serde(skip_serializing_if = "Option::is_none")]
            line: Option<usize>,
            column: Option<usize>,
            kinds: (Kind, Kind),
            negative: i32,
        }
        let line = Line {
            contact: "Nguyễn \"q\" \n",
            at: 1.5,
            line: None,
            column: Some(7),
            kinds: (Kind::Plain, Kind::Wrapped(3)),
            negative: -4,
        };
        let mut frame = Vec::new();
        write(&mut frame, &line).unwrap();
        let json: Value = serde_json::from_str(&serde_json::to_string(&line).unwrap()).unwrap();
        assert_eq!(to_json(split(&frame).next().unwrap().value), Some(json));
    }

    #[test]
    fn marks_point_at_the_values_of_the_named_keys_in_any_case() {
        let value = serde_json::json!({
            "action": "webhook",
            "headers": {"Content-Type": "text/plain", "Idempotency-Key": "msg_1", "webhook-id": "msg_1"},
            "body": "Idempotency-Key",
        });
        let mut out = Vec::new();
        write_marking(&mut out, &value, &["idempotency-key", "WEBHOOK-ID"]).unwrap();
        write(&mut out, &value).unwrap();
        let frames: Vec<Frame<'_>> = split(&out).collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[0].value, frames[1].value,
            "marks are beside the value"
        );
        assert_eq!(frames[1].marks().count(), 0);
        let marked: Vec<&[u8]> = frames[0]
            .marks()
            .map(|m| &frames[0].value[m..text_end(frames[0].value, m).unwrap()])
            .collect();
        assert_eq!(marked.len(), 2, "a key's value, not a value equal to a key");
        for m in marked {
            assert!(m.ends_with(b"msg_1"), "{m:?}");
        }
        assert_eq!(text_end(frames[0].value, 0), None, "a map starts there");
    }

    #[test]
    fn what_no_writer_made_is_refused() {
        let mut frame = Vec::new();
        write(&mut frame, &serde_json::json!({"a": "b"})).unwrap();
        let whole = split(&frame).next().unwrap().value;
        assert!(to_json(&whole[..whole.len() - 1]).is_none(), "cut short");
        assert!(to_json(b"?").is_none(), "unknown tag");
        assert!(to_json(&[STR, 2, 0xff, 0xfe]).is_none(), "not UTF-8");
        assert!(
            Reader::new(&[STR, 2, 0xff, 0xfe]).next().is_none(),
            "not UTF-8, read string by string"
        );
        assert!(
            Reader::new(&[STR, 0x81, b'a']).next_raw().is_none(),
            "a length byte of 8 bits"
        );
        assert!(
            Reader::new(&[LONG_STR, 0x81, 0, 0, 0, 0, b'a'])
                .next_raw()
                .is_none(),
            "a length byte of 8 bits"
        );
        assert!(
            Reader::new(&[U64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
                .next_raw()
                .is_none(),
            "a number of 65 bits"
        );
        assert_eq!(split(&frame[..frame.len() - 1]).count(), 0);
        let mut bytes = Vec::new();
        assert!(
            write(&mut bytes, &[1u8, 2][..]).is_ok(),
            "a list of numbers"
        );
        let map: std::collections::HashMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        let before = bytes.len();
        assert!(write(&mut bytes, &map).is_err(), "a key that is not text");
        assert_eq!(bytes.len(), before, "a failed write leaves no trace");
    }
}
