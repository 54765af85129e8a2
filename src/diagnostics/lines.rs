//! Line and column lookups that cost the same for the first diagnostic of a
//! file and for the millionth: a sparse index of the text, built once.

/// Bytes per index block: each block stores two counts, so the index is
/// about 1.6% of the text, and a lookup scans at most one block.
const BLOCK: usize = 1024;

/// Newlines and characters before each block of a text.
#[derive(Debug)]
pub(crate) struct LineIndex {
    /// `newlines[k]`: `\n` bytes in `text[..k * BLOCK]`.
    newlines: Vec<usize>,
    /// `chars[k]`: characters in `text[..k * BLOCK]`.
    chars: Vec<usize>,
}

/// Characters starting in `bytes` (UTF-8 bytes that are not continuations).
fn count_chars(bytes: &[u8]) -> usize {
    scanned(bytes.len());
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// Newlines in `bytes`.
fn count_newlines(bytes: &[u8]) -> usize {
    scanned(bytes.len());
    memchr::memchr_iter(b'\n', bytes).count()
}

#[cfg(test)]
thread_local! {
    /// Bytes of text looked at by lookups (after the index is built).
    static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts work for the test that proves a lookup's cost does not grow
/// with the file; nothing outside tests.
#[inline]
fn scanned(_bytes: usize) {
    #[cfg(test)]
    SCANNED.with(|s| s.set(s.get() + _bytes));
}

impl LineIndex {
    /// Indexes `text` in one pass.
    pub(crate) fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let blocks = bytes.len() / BLOCK + 1;
        let mut newlines = Vec::with_capacity(blocks);
        let mut chars = Vec::with_capacity(blocks);
        let (mut n, mut c) = (0, 0);
        newlines.push(0);
        chars.push(0);
        for block in bytes.chunks(BLOCK) {
            n += count_newlines(block);
            c += count_chars(block);
            if block.len() == BLOCK {
                newlines.push(n);
                chars.push(c);
            }
        }
        LineIndex { newlines, chars }
    }

    /// 0-based line of byte `offset` (clamped to the text).
    pub(crate) fn line_of(&self, text: &str, offset: usize) -> usize {
        let offset = offset.min(text.len());
        let k = offset / BLOCK;
        self.newlines[k] + count_newlines(&text.as_bytes()[k * BLOCK..offset])
    }

    /// Characters in `text[..offset]` (clamped to the text).
    pub(crate) fn chars_before(&self, text: &str, offset: usize) -> usize {
        let offset = offset.min(text.len());
        let k = offset / BLOCK;
        self.chars[k] + count_chars(&text.as_bytes()[k * BLOCK..offset])
    }

    /// Byte offset of the `nth` `\n` (1-based), if the text has that many.
    fn newline(&self, text: &str, nth: usize) -> Option<usize> {
        // The block holding it: the last one with fewer newlines before it.
        let k = self
            .newlines
            .partition_point(|&n| n < nth)
            .saturating_sub(1);
        let from = k * BLOCK;
        let found = memchr::memchr_iter(b'\n', &text.as_bytes()[from..])
            .nth(nth - self.newlines[k] - 1)
            .map(|i| from + i);
        scanned(found.unwrap_or(text.len()) - from);
        found
    }

    /// Byte offset where 0-based `line` starts; the text's length past the
    /// last line.
    pub(crate) fn line_start(&self, text: &str, line: usize) -> usize {
        match line {
            0 => 0,
            _ => self.newline(text, line).map_or(text.len(), |i| i + 1),
        }
    }

    /// Byte offset of the end of 0-based `line`, before its `\n` or `\r\n`.
    pub(crate) fn line_end(&self, text: &str, line: usize) -> usize {
        match self.newline(text, line + 1) {
            Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => i - 1,
            Some(i) => i,
            None => text.len(),
        }
    }

    /// Byte offset of the character at 0-based `column` of the line starting
    /// at `start` and ending at `end`, clamped to `end`.
    pub(crate) fn offset_of_column(
        &self,
        text: &str,
        start: usize,
        end: usize,
        column: usize,
    ) -> usize {
        let target = self.chars_before(text, start) + column;
        if target >= self.chars_before(text, end) {
            return end;
        }
        let k = self
            .chars
            .partition_point(|&c| c <= target)
            .saturating_sub(1);
        let mut seen = self.chars[k];
        let from = (k * BLOCK).max(start);
        if from > k * BLOCK {
            seen = self.chars_before(text, from);
        }
        for (i, &b) in text.as_bytes()[from..end].iter().enumerate() {
            scanned(1);
            if (b & 0xC0) != 0x80 {
                if seen == target {
                    return from + i;
                }
                seen += 1;
            }
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lookup looks at a few blocks of text at most, however large the
    /// file and wherever the offset: counted, not timed. Every line of a
    /// file 8x larger costs the same per lookup.
    #[test]
    fn lookups_do_not_grow_with_the_file() {
        let per_lookup = |copies: usize| {
            let text =
                format!("{}{}\n", "é日 ab\n".repeat(3000), "x".repeat(50_000)).repeat(copies);
            let index = LineIndex::new(&text);
            SCANNED.with(|s| s.set(0));
            let lines = index.line_of(&text, text.len());
            let mut lookups = 0;
            for line in (0..lines).step_by(7) {
                let start = index.line_start(&text, line);
                let end = index.line_end(&text, line);
                let mid = index.offset_of_column(&text, start, end, (end - start) / 3);
                let _ = index.line_of(&text, mid) + index.chars_before(&text, mid);
                lookups += 1;
            }
            SCANNED.with(|s| s.get()) / lookups
        };
        let (small, large) = (per_lookup(1), per_lookup(8));
        assert!(
            small <= 8 * BLOCK && large <= 8 * BLOCK,
            "{small} and {large} bytes per lookup"
        );
    }

    /// The index against a plain scan, at every offset of texts that cross
    /// block boundaries with long lines, short lines, CRLF and multi-byte
    /// characters.
    #[test]
    fn agrees_with_a_plain_scan() {
        let long = "é".repeat(BLOCK) + "x\r\n" + &"a\n".repeat(BLOCK) + &"日本".repeat(700);
        for text in ["", "\n", "a", "a\nb\n", "\n\n\nxy", long.as_str()] {
            let index = LineIndex::new(text);
            let starts: Vec<usize> = std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect();
            for offset in 0..=text.len() {
                let before = &text.as_bytes()[..offset];
                let line = before.iter().filter(|&&b| b == b'\n').count();
                assert_eq!(index.line_of(text, offset), line, "{offset}");
                assert_eq!(index.chars_before(text, offset), count_chars(before));
            }
            for (line, &start) in starts.iter().enumerate() {
                assert_eq!(index.line_start(text, line), start);
                let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
                let end = if text[start..end].ends_with('\r') {
                    end - 1
                } else {
                    end
                };
                assert_eq!(index.line_end(text, line), end, "line {line}");
                for (column, (i, _)) in text[start..end].char_indices().enumerate() {
                    assert_eq!(index.offset_of_column(text, start, end, column), start + i);
                }
                let columns = text[start..end].chars().count();
                assert_eq!(index.offset_of_column(text, start, end, columns), end);
                assert_eq!(index.offset_of_column(text, start, end, columns + 9), end);
            }
            assert_eq!(index.line_start(text, starts.len()), text.len());
        }
    }
}
