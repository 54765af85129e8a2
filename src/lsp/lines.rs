//! Byte offsets to LSP positions and back. LSP counts a line's characters
//! in UTF-16 code units (what VS Code's strings are), so `é` is one unit and
//! `😀` two, while the library's spans count UTF-8 bytes (two and four).

/// A position as LSP gives it: zero-based line and UTF-16 column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// Zero-based line.
    pub line: u32,
    /// Zero-based column in UTF-16 code units.
    pub character: u32,
}

/// Where each line starts, for one version of a text.
///
/// Lines end at `\n`; a `\r` before it belongs to the line break, so a
/// position past the end of a line lands before `\r\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    /// Indexes `text` (one `memchr` pass).
    pub fn new(text: &str) -> LineIndex {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i as u32 + 1));
        LineIndex { starts }
    }

    /// The number of lines (a text ending in `\n` has an empty last line).
    pub fn lines(&self) -> usize {
        self.starts.len()
    }

    /// The byte range of line `line`'s text, without its line break.
    fn line_range(&self, text: &str, line: usize) -> (usize, usize) {
        let start = self.starts[line] as usize;
        let mut end = self
            .starts
            .get(line + 1)
            .map_or(text.len(), |&next| next as usize - 1);
        if end > start && text.as_bytes()[end - 1] == b'\r' && end < text.len() {
            end -= 1;
        }
        (start, end)
    }

    /// The line holding byte `offset` (clamped to the text).
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s as usize <= offset) - 1
    }

    /// The byte where line `line` starts (the end of the text past the last line).
    pub fn line_start(&self, text: &str, line: usize) -> usize {
        self.starts.get(line).map_or(text.len(), |&s| s as usize)
    }

    /// The position of byte `offset`; an offset inside a character counts
    /// as that character's start, one past the text as its end.
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let start = self.starts[line] as usize;
        let character: usize = text[start..offset].chars().map(char::len_utf16).sum();
        Position {
            line: line as u32,
            character: character as u32,
        }
    }

    /// The byte offset of `position`. A column past the line's end is its
    /// end (as LSP asks); one inside a surrogate pair is the character's
    /// start; a line past the last is the end of the text.
    pub fn offset(&self, text: &str, position: Position) -> usize {
        let line = position.line as usize;
        if line >= self.starts.len() {
            return text.len();
        }
        let (start, end) = self.line_range(text, line);
        let mut units = 0u32;
        for (i, c) in text[start..end].char_indices() {
            let next = units + c.len_utf16() as u32;
            if next > position.character {
                return start + i;
            }
            units = next;
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn utf16_columns_count_surrogate_pairs_twice() {
        let text = "aé😀b\r\nx";
        let index = LineIndex::new(text);
        // a(1 byte) é(2) 😀(4) b(1)
        assert_eq!(
            index.position(text, 1),
            Position {
                line: 0,
                character: 1
            }
        );
        assert_eq!(
            index.position(text, 3),
            Position {
                line: 0,
                character: 2
            }
        );
        assert_eq!(
            index.position(text, 7),
            Position {
                line: 0,
                character: 4
            }
        );
        assert_eq!(
            index.offset(
                text,
                Position {
                    line: 0,
                    character: 4
                }
            ),
            7
        );
        // Inside the pair: the emoji's start.
        assert_eq!(
            index.offset(
                text,
                Position {
                    line: 0,
                    character: 3
                }
            ),
            3
        );
        // Past the end: before the CR LF.
        assert_eq!(
            index.offset(
                text,
                Position {
                    line: 0,
                    character: 99
                }
            ),
            8
        );
        assert_eq!(
            index.offset(
                text,
                Position {
                    line: 1,
                    character: 0
                }
            ),
            10
        );
        assert_eq!(
            index.offset(
                text,
                Position {
                    line: 7,
                    character: 0
                }
            ),
            text.len()
        );
    }

    proptest! {
        /// Every character boundary survives the trip to a position and back,
        /// and positions grow with offsets.
        #[test]
        fn boundaries_round_trip(text in "(\\PC|\n|\r\n|😀|é){0,60}") {
            let index = LineIndex::new(&text);
            let mut last = None;
            for (offset, _) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
                // A lone CR before LF is not a place a client can name.
                if text[..offset].ends_with('\r') && text[offset..].starts_with('\n') {
                    continue;
                }
                let position = index.position(&text, offset);
                prop_assert_eq!(index.offset(&text, position), offset, "{:?}", position);
                if let Some(last) = last {
                    prop_assert!(position > last);
                }
                last = Some(position);
            }
        }

        /// Any position a client may send lands on a character boundary.
        #[test]
        fn any_position_is_a_boundary(text in "(\\PC|\n|😀){0,40}", line in 0u32..6, character in 0u32..50) {
            let index = LineIndex::new(&text);
            let offset = index.offset(&text, Position { line, character });
            prop_assert!(text.is_char_boundary(offset));
        }
    }
}
