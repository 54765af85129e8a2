//! Arbitrary bytes through the contacts reader, as each of CSV, JSON and
//! NDJSON, with the limits lowered so the fuzzer reaches them: no panic,
//! every record numbered in order, nothing kept past a limit, and
//! `field_names` bounded the same way.
//!
//! Run: `cargo fuzz run contacts fuzz/corpus/contacts fuzz/seeds/contacts -- -dict=fuzz/contacts.dict`
//! (from the repository root; see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

use campaign::contacts::{
    field_names_with, for_each_contact_with, ContactsError, ContactsFormat, Limits, Row,
};

/// Small enough that short inputs go past every limit.
const LIMITS: Limits = Limits {
    record_bytes: 256,
    field_bytes: 64,
    fields: 16,
};

fuzz_target!(|data: &[u8]| {
    let slots = ["Contact ID", "Tags", "First Name", "a", "b"];
    for format in [
        ContactsFormat::Csv,
        ContactsFormat::Json,
        ContactsFormat::Ndjson,
    ] {
        let mut records = 0u64;
        let _ = for_each_contact_with(data, format, &slots, &LIMITS, |row| {
            records += 1;
            match row {
                Row::Contact(c) => {
                    assert_eq!(c.row, records, "{format}: records out of order");
                    assert_eq!(c.fields.len(), slots.len());
                    assert!(!c.id.is_empty() && c.id.len() <= LIMITS.field_bytes.max(20));
                    for field in c.fields.iter().flatten() {
                        assert!(field.len() <= LIMITS.field_bytes, "{format}: {field:?}");
                    }
                    let tags: usize = c.tags.iter().map(|t| t.len() + 1).sum();
                    assert!(tags <= LIMITS.field_bytes + 1, "{format}: {:?}", c.tags);
                }
                Row::Invalid(e) => {
                    assert_eq!(e.row, records, "{format}: records out of order");
                    assert!(!e.message.is_empty());
                    assert!(e.message.len() < 2048, "{format}: {}", e.message);
                }
            }
            Ok::<(), ContactsError>(())
        });
        // A record takes at least a byte (a CSV header is not a record).
        assert!(records <= data.len() as u64, "{format}: {records} records");

        if let Ok(names) = field_names_with(data, format, &LIMITS) {
            assert!(names.len() <= LIMITS.fields);
            let bytes: usize = names.iter().map(String::len).sum();
            assert!(bytes <= LIMITS.record_bytes);
            assert!(names.iter().all(|n| !n.is_empty()));
        }
    }
});
