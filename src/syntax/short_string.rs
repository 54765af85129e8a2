//! A string that holds up to 22 bytes in place and only longer text on the
//! heap. Nearly every string in a campaign's tree is short (field, filter,
//! tag and webhook names, the text between merges), and on a large file one
//! small heap block each (a 32-byte chunk for a 2-byte tag name) was a large
//! share of `check`'s peak memory (docs/performance.md, "`check`'s memory").

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The longest text kept in place: what fits beside the length and the
/// variant's tag in the 24 bytes a `String` takes.
const INLINE: usize = 22;

/// An immutable string, in place when it is at most 22 bytes long.
#[derive(Clone)]
pub struct ShortString(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl ShortString {
    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only ever copied whole from a `&str`, so always UTF-8: the
            // check cannot fail and costs little on text this short.
            Repr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("inline text is copied from a str"),
            Repr::Heap(text) => text,
        }
    }

    /// This text with `more` appended.
    pub fn push_str(&mut self, more: &str) {
        let mut joined = String::with_capacity(self.len() + more.len());
        joined.push_str(self.as_str());
        joined.push_str(more);
        *self = ShortString::from(joined.as_str());
    }
}

impl Default for ShortString {
    fn default() -> Self {
        ShortString::from("")
    }
}

impl From<&str> for ShortString {
    fn from(text: &str) -> Self {
        if text.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            ShortString(Repr::Inline {
                len: text.len() as u8,
                bytes,
            })
        } else {
            ShortString(Repr::Heap(text.into()))
        }
    }
}

/// Copies the text (into a block of its exact size when it is long, for
/// the reason given at `ast::fitted`).
impl From<String> for ShortString {
    fn from(text: String) -> Self {
        if text.len() == text.capacity() && text.len() > INLINE {
            ShortString(Repr::Heap(text.into_boxed_str()))
        } else {
            ShortString::from(text.as_str())
        }
    }
}

impl From<ShortString> for String {
    fn from(text: ShortString) -> Self {
        match text.0 {
            Repr::Heap(text) => text.into_string(),
            Repr::Inline { .. } => text.as_str().to_string(),
        }
    }
}

impl Deref for ShortString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ShortString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ShortString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for ShortString {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ShortString {}

impl PartialEq<str> for ShortString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ShortString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for ShortString {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for ShortString {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ShortString {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for ShortString {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

/// As a `String` prints, so a tree's debug listing does not change.
impl fmt::Debug for ShortString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_every_length_round_trips() {
        let long = "aé李😀".repeat(10);
        for end in (0..=long.len()).filter(|&i| long.is_char_boundary(i)) {
            let text = &long[..end];
            let short = ShortString::from(text);
            assert_eq!(short.as_str(), text);
            assert_eq!(String::from(short.clone()), text);
            assert_eq!(ShortString::from(text.to_string()), short);
            assert_eq!(format!("{short:?}"), format!("{text:?}"));
            let mid = (0..=end / 2)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            let mut pushed = ShortString::from(&text[..mid]);
            pushed.push_str(&text[mid..]);
            assert_eq!(pushed, short);
        }
    }

    /// The point of the type: no bigger than a `String`, and short text
    /// takes no heap block.
    #[test]
    fn short_text_stays_in_place() {
        assert_eq!(std::mem::size_of::<ShortString>(), 24);
        assert!(matches!(
            ShortString::from("a".repeat(22)).0,
            Repr::Inline { .. }
        ));
        assert!(matches!(ShortString::from("a".repeat(23)).0, Repr::Heap(_)));
    }
}
