//! Foreign text (contact data, server replies, a script's own bytes) on its
//! way to a terminal: characters a terminal would act on instead of showing
//! are escaped, so a field value cannot clear the screen, set the window
//! title, write the clipboard (OSC 52), plant a link (OSC 8) or reorder what
//! the user reads (bidi overrides).

use std::borrow::Cow;

/// Characters a terminal must not receive as they are: control characters
/// (C0, DEL and C1, whose U+009B is a one-byte CSI), the bidi marks,
/// embeddings, overrides and isolates that reorder text, and the Unicode
/// line and paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `text` with every [`is_unsafe`] character written as its Rust escape
/// (`\n`, `\t`, `\u{1b}`, `\u{202e}`), so it stays on one line and inert.
/// Other text is untouched, backslashes included.
pub fn escape(text: &str) -> Cow<'_, str> {
    // Printable ASCII, as most text is, checked byte by byte first.
    if text.bytes().all(|b| (b' '..=b'~').contains(&b)) || !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape`], but keeping `\n` line breaks, for text shown over several
/// lines.
pub fn escape_keep_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.split('\n')
            .map(|line| escape(line))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(escape("plain é 日本 \\ \""), "plain é 日本 \\ \"");
        assert_eq!(escape("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(escape("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        assert_eq!(escape("\u{1b}]52;c;aGk=\u{7}"), "\\u{1b}]52;c;aGk=\\u{7}");
        assert_eq!(escape_keep_lines("a\u{1b}\nb"), "a\\u{1b}\nb");
    }

    proptest! {
        /// Whatever goes in, nothing a terminal acts on comes out (only
        /// `\n` with `escape_keep_lines`), and plain text is unchanged.
        #[test]
        fn nothing_unsafe_survives(text in any::<String>()) {
            let one = escape(&text).into_owned();
            prop_assert!(!one.chars().any(is_unsafe));
            let kept = escape_keep_lines(&text);
            prop_assert!(!kept.chars().any(|c| c != '\n' && is_unsafe(c)));
            prop_assert_eq!(kept.matches('\n').count(), text.matches('\n').count());
            if !text.chars().any(is_unsafe) {
                prop_assert_eq!(one, text.clone());
            }
        }
    }
}
