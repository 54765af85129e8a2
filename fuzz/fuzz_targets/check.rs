//! Parsing and checking only, as `campaign check` does them before
//! rendering: arbitrary bytes (valid UTF-8 only) through
//! `campaign::diagnose`, with and without a schema. Thousands of runs a
//! second, where `compile` (which renders every diagnostic and runs the VM)
//! does about a hundred.
//!
//! Run (from fuzz/): `RUSTC_BOOTSTRAP=1 cargo fuzz run check corpus/check
//! seeds ../examples ../tests/diagnostics`; see fuzz/README.md.
#![no_main]

use libfuzzer_sys::fuzz_target;

use campaign::check::Schema;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Half the inputs also against a schema (unknown-field checks), so
    // each run parses once.
    let schema = Schema {
        fields: vec!["First Name".into(), "Email".into(), "Contact ID".into()],
        origin: "the schema".into(),
    };
    let schema = (data.len() % 2 == 1).then_some(&schema);
    {
        let diagnostics = campaign::diagnose(text, schema);
        let mut last = (0, 0);
        for d in &diagnostics {
            // Every span lies in the text, and they come in source order.
            assert!(
                d.span.start <= d.span.end && d.span.end as usize <= text.len(),
                "span {:?} outside a {}-byte source: {d:?}",
                d.span,
                text.len()
            );
            assert!((d.span.start, d.span.end) >= last, "out of order: {d:?}");
            last = (d.span.start, d.span.end);
            assert!(
                d.code.starts_with("campaign::") && !d.message.is_empty(),
                "{d:?}"
            );
        }
    }
});
