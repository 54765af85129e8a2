//! Arbitrary text through the `--env-file` parser: no panic, and what it
//! accepts is sound: names are `[A-Za-z_][A-Za-z0-9_]*`, values stay on
//! their line, an error names a line of the file.
//!
//! Run: `cargo fuzz run env_file fuzz/corpus/env_file fuzz/seeds/env_file -- -dict=fuzz/env_file.dict`
//! (from the repository root; see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

use campaign::deliver::secrets::parse_env;

fuzz_target!(|data: &[u8]| {
    // The binary refuses a file that is not UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_env(text) {
        Ok(entries) => {
            assert!(entries.len() <= text.lines().count());
            for (name, value) in &entries {
                let mut chars = name.chars();
                assert!(
                    chars
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad name {name:?}"
                );
                assert!(!value.contains('\n'), "value {value:?} spans lines");
                assert!(text.contains(name.as_str()) && text.contains(value.as_str()));
            }
        }
        Err((line, reason)) => {
            assert!(line >= 1 && line <= text.lines().count(), "line {line}");
            assert!(!reason.is_empty());
        }
    }
});
