//! The formatter's promises on arbitrary text: whatever parses is formatted
//! without a panic or an internal error, and the result parses, formats to
//! itself, compiles to the same program (the `disasm` listing) or fails with
//! the same diagnostics, and keeps every comment (the same multiset of
//! texts) and every `//`. What does not parse is refused with its syntax
//! diagnostics, never formatted.
//!
//! Run (from fuzz/): `RUSTC_BOOTSTRAP=1 cargo fuzz run -O -s none fmt
//! corpus/fmt seeds ../examples ../tests/fmt -- -dict=campaign.dict`; see
//! fuzz/README.md.
#![no_main]

use libfuzzer_sys::fuzz_target;

use campaign::fmt::format_source;
use campaign::syntax::parser::parse_lossless;
use campaign::syntax::tokens::{tokens, TokenKind};

/// The comment texts, sorted, trailing whitespace aside (the formatter
/// trims it with every line's).
fn comments(source: &str) -> Vec<String> {
    let (_, leaves) = parse_lossless(source).expect("parses");
    let mut out: Vec<String> = tokens(source, &leaves)
        .expect("tokens")
        .iter()
        .filter(|t| t.kind == TokenKind::Comment)
        .map(|t| t.text(source).trim_end().to_string())
        .collect();
    out.sort();
    out
}

/// The program's listing, or the diagnostics' codes and messages.
fn meaning(source: &str) -> String {
    match campaign::compile(source, None) {
        Ok(c) => c.program.listing(),
        Err(d) => {
            let mut all: Vec<_> = d.iter().map(|d| (d.code, d.message.clone())).collect();
            all.sort();
            format!("{all:?}")
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let once = match format_source(source) {
        Ok(text) => text,
        Err(diagnostics) => {
            // Refused only because it does not parse, never for a bug.
            assert!(parse_lossless(source).is_err(), "{diagnostics:?}");
            assert!(
                diagnostics.iter().all(|d| d.code != "campaign::internal::format"),
                "{diagnostics:?}"
            );
            return;
        }
    };
    let twice = format_source(&once).unwrap_or_else(|d| panic!("{d:?}\n{once}"));
    assert_eq!(twice, once, "formatting twice differs");
    assert_eq!(meaning(source), meaning(&once), "the meaning changed:\n{once}");
    assert_eq!(comments(source), comments(&once), "the comments changed:\n{once}");
    assert_eq!(
        source.matches("//").count(),
        once.matches("//").count(),
        "a `//` was lost or made:\n{once}"
    );
});
