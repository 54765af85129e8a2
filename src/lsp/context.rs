//! Where a place in the text is, found lexically: completion and hover must
//! answer within milliseconds on a half-typed file, where the parser would
//! take longer and may not get that far. One forward pass over the bytes
//! before the place tracks strings, comments, merges and the kind of each
//! open brace; all delimiters are ASCII, so bytes suffice.

/// The kind of an open `{ ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// Outside the campaign block.
    File,
    /// The campaign's body: triggers and steps.
    Campaign,
    /// An `if`, `else` or `split` body: steps.
    Steps,
    /// A webhook's settings.
    Webhook,
    /// A `json` body (or an object inside one).
    Json,
}

/// The innermost lexical state at the place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Between tokens.
    Code,
    /// Inside a string literal opened at this byte (its `"`).
    String(usize),
    /// Inside a `//` comment.
    Comment,
    /// Inside a bare `[...]` (a merge, or a JSON array) opened at this byte.
    Bracket(usize),
}

/// What encloses a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Open braces, outermost first; never empty (`File` at the bottom).
    pub blocks: Vec<Block>,
    /// The state at the place.
    pub state: State,
}

impl Scan {
    /// The innermost open block.
    pub fn block(&self) -> Block {
        *self.blocks.last().unwrap_or(&Block::File)
    }
}

/// Words that decide what the next `{` opens.
fn opener(word: &[u8]) -> Option<Block> {
    match word {
        b"campaign" => Some(Block::Campaign),
        b"webhook" => Some(Block::Webhook),
        b"json" => Some(Block::Json),
        b"if" | b"else" | b"split" => Some(Block::Steps),
        _ => None,
    }
}

/// Scans `text[..end]`.
pub fn scan(text: &str, end: usize) -> Scan {
    let bytes = &text.as_bytes()[..end.min(text.len())];
    let mut blocks = vec![Block::File];
    let mut state = State::Code;
    let mut next_block: Option<Block> = None;
    // Inside a bracket: whether in a single-quoted filter argument.
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match state {
            State::Code => match b {
                b'"' => state = State::String(i),
                b'/' if bytes.get(i + 1) == Some(&b'/') => state = State::Comment,
                b'[' => {
                    state = State::Bracket(i);
                    quoted = false;
                }
                b'{' => {
                    let top = *blocks.last().unwrap_or(&Block::File);
                    let kind = if top == Block::Json {
                        Block::Json
                    } else {
                        next_block.unwrap_or(Block::Steps)
                    };
                    blocks.push(kind);
                    next_block = None;
                }
                b'}' => {
                    if blocks.len() > 1 {
                        blocks.pop();
                    }
                    next_block = None;
                }
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                    let start = i;
                    while i + 1 < bytes.len()
                        && (bytes[i + 1].is_ascii_alphanumeric() || bytes[i + 1] == b'_')
                    {
                        i += 1;
                    }
                    if let Some(kind) = opener(&bytes[start..=i]) {
                        next_block = Some(kind);
                    }
                }
                _ => {}
            },
            State::String(_) => match b {
                b'\\' => i += 1,
                b'"' | b'\n' => state = State::Code,
                _ => {}
            },
            State::Comment => {
                if b == b'\n' {
                    state = State::Code;
                }
            }
            State::Bracket(_) => match b {
                b'\\' => i += 1,
                b'\'' => quoted = !quoted,
                b']' if !quoted => state = State::Code,
                b'\n' => state = State::Code,
                // A merge holds no `"`: this is a JSON array of strings.
                b'"' if !quoted => state = State::String(i),
                _ => {}
            },
        }
        i += 1;
    }
    Scan { blocks, state }
}

/// A merge being typed or pointed at: its text from after `[`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergePlace<'a> {
    /// In the field name; `typed` runs from the name's first character
    /// (at byte `start`) to the place.
    Field {
        /// Where the name starts.
        start: usize,
        /// What is typed of it.
        typed: &'a str,
    },
    /// In a filter's name after `|`.
    Filter {
        /// Where the name starts.
        start: usize,
        /// What is typed of it.
        typed: &'a str,
    },
    /// In a filter's arguments.
    Arguments,
}

/// The open merge at `end` in `text[open..end]`, where `open` is the byte
/// of its `[`.
pub fn merge_place(text: &str, open: usize, end: usize) -> MergePlace<'_> {
    let inner = &text[open + 1..end];
    let mut quoted = false;
    let mut last_pipe = None;
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'\'' => quoted = !quoted,
            b'|' if !quoted => last_pipe = Some(i),
            _ => {}
        }
        i += 1;
    }
    match last_pipe {
        None => {
            let typed = inner.trim_start();
            MergePlace::Field {
                start: end - typed.len(),
                typed,
            }
        }
        Some(pipe) => {
            let after = &inner[pipe + 1..];
            if after.contains(':') || quoted {
                return MergePlace::Arguments;
            }
            let typed = after.trim_start();
            MergePlace::Filter {
                start: end - typed.len(),
                typed,
            }
        }
    }
}

/// In a string's text (`text[quote + 1..end]`), the byte of the `[` of a
/// merge still open at `end`.
pub fn open_merge_in_string(text: &str, quote: usize, end: usize) -> Option<usize> {
    let bytes = &text.as_bytes()[quote + 1..end];
    let mut open = None;
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], open) {
            (b'\\', _) => i += 1,
            (b'[', None) => {
                open = Some(quote + 1 + i);
                quoted = false;
            }
            (b'\'', Some(_)) => quoted = !quoted,
            (b']', Some(_)) if !quoted => open = None,
            _ => {}
        }
        i += 1;
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_marker(source: &str) -> (String, usize) {
        let at = source.find('¦').unwrap();
        (source.replacen('¦', "", 1), at)
    }

    #[test]
    fn blocks_strings_comments_and_brackets() {
        let (text, at) = at_marker(
            "campaign \"x\" {\n  webhook \"w {\" {\n    json { \"a\": { \"b\": ¦ } }\n  }\n}\n",
        );
        assert_eq!(
            scan(&text, at).blocks,
            [
                Block::File,
                Block::Campaign,
                Block::Webhook,
                Block::Json,
                Block::Json
            ]
        );
        let (text, at) = at_marker("campaign \"x\" {\n  if [A] == \"b\" {\n  ¦\n");
        assert_eq!(scan(&text, at).block(), Block::Steps);
        let (text, at) = at_marker("campaign \"x\" {\n  note \"a [F¦");
        let s = scan(&text, at);
        assert!(matches!(s.state, State::String(q) if &text[q..q + 3] == "\"a "));
        let (text, at) = at_marker("campaign \"x\" { // webhook {\n ¦");
        assert_eq!(scan(&text, at).block(), Block::Campaign);
        let (text, at) = at_marker("campaign \"x\" {\n if [Score | default: ']{'¦");
        assert!(matches!(scan(&text, at).state, State::Bracket(_)));
    }

    #[test]
    fn merges_being_typed() {
        let text = "note \"Hi [ First Na";
        let open = open_merge_in_string(text, 5, text.len()).unwrap();
        assert_eq!(
            merge_place(text, open, text.len()),
            MergePlace::Field {
                start: 11,
                typed: "First Na"
            }
        );
        let text = "note \"[A] and [B | default: 'x|y' | up";
        let open = open_merge_in_string(text, 5, text.len()).unwrap();
        assert_eq!(&text[open..open + 2], "[B");
        assert_eq!(
            merge_place(text, open, text.len()),
            MergePlace::Filter {
                start: text.len() - 2,
                typed: "up"
            }
        );
        let text = "note \"[A] done";
        assert_eq!(open_merge_in_string(text, 5, text.len()), None);
        let text = "[B | truncate: ";
        assert_eq!(merge_place(text, 0, text.len()), MergePlace::Arguments);
    }
}
