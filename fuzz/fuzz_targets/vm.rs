//! The VM alone, on programs compiled once: the examples, the fuzz seeds,
//! the dry-run fixtures of tests/run/ and fuzz/fixtures/growth.campaign,
//! run for one contact whose data comes from the input. Thousands of runs
//! a second.
//!
//! Input: the first byte picks the program; the rest, split on 0xFF bytes,
//! is the contact id, its tags (comma-separated), then one value per field
//! of the program in order (lossy UTF-8; missing ones are absent). A value
//! starting with 0xFE is repeated 2^k times (k from its next byte, up to
//! 64 KiB in all), so small inputs reach the 1 MiB merge limit through the
//! growing filters of `growth.campaign`.
//!
//! Asserted: no panic; every text the VM hands out (URL, headers, body,
//! tag, note, field value) is at most `MAX_VALUE_BYTES`; a failed contact
//! fails with a `campaign::run::` code; a contact ends within a bounded
//! number of events. The README's command also caps every allocation
//! (`-malloc_limit_mb`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use campaign::compile::Program;
use campaign::contacts::Contact;
use campaign::vm::filters::MAX_VALUE_BYTES;
use campaign::vm::{Event, Run, Secrets, Vm};

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;

const SOURCES: &[&str] = &[
    include_str!("../../examples/new-lead-welcome.campaign"),
    include_str!("../../examples/seed-webhooks.campaign"),
    include_str!("../seeds/all-constructs.campaign"),
    include_str!("../seeds/small.campaign"),
    include_str!("../fixtures/growth.campaign"),
    include_str!("../../tests/run/comparisons_with_empty_and_text.txt"),
    include_str!("../../tests/run/goals_jump_at_entry_and_after_waits.txt"),
    include_str!("../../tests/run/header_injection_is_refused.txt"),
    include_str!("../../tests/run/number_filter_errors_fail_one_contact.txt"),
    include_str!("../../tests/run/split_is_stable_per_contact.txt"),
    include_str!("../../tests/run/tags_fields_and_escaping.txt"),
    include_str!("../../tests/run/wait_until_dates.txt"),
];

fn programs() -> &'static [Program] {
    static PROGRAMS: OnceLock<Vec<Program>> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|source| {
                // A dry-run fixture is contacts, `---`, then the campaign.
                let source = source.split_once("\n---\n").map_or(*source, |(_, s)| s);
                match campaign::compile(source, None) {
                    Ok(compiled) => compiled.program,
                    Err(d) => panic!("a fixture does not compile: {d:?}"),
                }
            })
            .collect()
    })
}

fn value(piece: &[u8]) -> String {
    match piece {
        [0xFE, k, rest @ ..] if !rest.is_empty() => {
            let unit = String::from_utf8_lossy(rest);
            // 64 KiB at most: the growth fixture's filters multiply it past
            // the limit, and each run stays fast.
            let times = (1usize << (k % 17)).min((64 << 10) / unit.len());
            unit.repeat(times)
        }
        _ => String::from_utf8_lossy(piece).into_owned(),
    }
}

fn texts<'e>(event: &'e Event<'_>) -> Vec<&'e str> {
    match event {
        Event::Webhook(r) => std::iter::once(r.url.as_str())
            .chain(r.header_values.iter().map(String::as_str))
            .chain([r.body.as_str()])
            .collect(),
        Event::TagAdd(t) | Event::TagRemove(t) | Event::Note(t) | Event::Goal(t) => vec![t],
        Event::FieldSet { value, .. } => vec![value],
        _ => vec![],
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let programs = programs();
    let program = &programs[pick as usize % programs.len()];
    let mut pieces = rest.split(|&b| b == 0xFF);
    let id = pieces.next().map(value).unwrap_or_default();
    let mut tags: Vec<String> = Vec::new();
    for tag in pieces.next().map(value).unwrap_or_default().split(',') {
        let tag = tag.trim();
        if !tag.is_empty() && !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    let fields = (0..program.fields.len())
        .map(|_| pieces.next().map(value))
        .collect();
    let contact = Contact {
        id,
        row: 1,
        fields,
        tags,
    };
    let mut vm = Vm::new(program, Secrets::Masked);
    let mut run = Run::new(contact, NOW);
    let mut events = 0usize;
    loop {
        let event = vm.next(&mut run);
        for text in texts(&event) {
            assert!(text.len() <= MAX_VALUE_BYTES, "{} bytes", text.len());
        }
        match event {
            Event::Done | Event::Stop => break,
            Event::Error(e) => {
                assert!(e.code.starts_with("campaign::run::"), "{e:?}");
                break;
            }
            _ => {}
        }
        events += 1;
        // Every event moves the program forward.
        assert!(
            events <= program.code.len() * 2 + 16,
            "the contact never ends"
        );
    }
});
