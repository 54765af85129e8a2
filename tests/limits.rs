//! What one contact's data can make the VM allocate: every merged value and
//! every merged text stays under 1 MiB, whatever the filters and values,
//! and nothing near the runaway sizes is ever allocated; past the limit the
//! contact fails with `campaign::run::too_large`.
//!
//! Class: values that grow through filters (`replace`, case mapping,
//! `default`, `date`), through many merges in one text, and through huge
//! field values. An allocator that records the largest allocation checks
//! the "never allocated" half.

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;

use campaign::contacts::Contact;
use campaign::filters::FilterOp;
use campaign::vm::filters::{apply, FilterError, MAX_VALUE_BYTES};
use campaign::vm::value::Value;
use campaign::vm::{Event, Run, Secrets, Vm};
use proptest::prelude::*;

/// Records the largest allocation made on this thread while armed.
struct Largest;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with`: the thread may be tearing its locals down.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// Runs `f` and returns its result with the largest allocation it made.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    (out, LARGEST.with(Cell::get))
}

/// Amortized growth may double a buffer once: that much, and no more.
const MAX_FILTER_ALLOCATION: usize = 2 * MAX_VALUE_BYTES;

fn op() -> impl Strategy<Value = FilterOp> {
    let piece = prop_oneof![
        Just("a".to_string()),
        Just("aa".to_string()),
        Just("ß".to_string()),
        Just(" ".to_string()),
        Just(String::new()),
        "[a-cß ΐ]{0,6}",
    ];
    prop_oneof![
        3 => (piece.clone(), piece.clone()).prop_map(|(f, t)| FilterOp::Replace(f, t)),
        1 => (piece.clone(), piece.clone()).prop_map(|(f, t)| FilterOp::Replace(f, t.repeat(64))),
        1 => Just(FilterOp::Upper),
        1 => Just(FilterOp::Lower),
        1 => Just(FilterOp::Title),
        1 => Just(FilterOp::Trim),
        1 => (0usize..3_000_000).prop_map(FilterOp::Truncate),
        1 => (piece, 0usize..700_000).prop_map(|(p, n)| FilterOp::Default(p.repeat(n.min(2_000_000 / p.len().max(1))))),
        1 => Just(FilterOp::Number),
        1 => (1usize..400_000).prop_map(|n| FilterOp::Date("%A ".repeat(n))),
        1 => Just(FilterOp::Date("%Y-%m-%d".into())),
        1 => Just(FilterOp::Raw),
    ]
}

fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a ßΐ1-9.-]{0,40}",
        ("[aßΐ ]{1,4}", 0usize..400_000).prop_map(|(unit, n)| unit.repeat(n)),
        Just("1795771800".to_string()),
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// Random chains of every filter on random values: each step gives a
    /// value under the limit or says it would not fit; nothing allocates
    /// more than twice the limit.
    #[test]
    fn filter_chains_stay_under_the_limit(
        text in input(),
        chain in proptest::collection::vec(op(), 0..70),
    ) {
        // The VM refuses a field over the limit before any filter runs.
        let mut cut = text.len().min(MAX_VALUE_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut value = Value::Text(Cow::Borrowed(&text[..cut]));
        for op in &chain {
            let (out, largest) = largest_allocation(|| apply(op, value.clone()));
            prop_assert!(
                largest <= MAX_FILTER_ALLOCATION,
                "{op:?} allocated {largest} bytes"
            );
            match out {
                Ok(v) => {
                    prop_assert!(v.to_text().len() <= MAX_VALUE_BYTES);
                    value = v;
                }
                Err(FilterError::TooLarge(bytes)) => {
                    prop_assert!(bytes > MAX_VALUE_BYTES);
                    break;
                }
                Err(FilterError::Unreadable(_)) => break,
            }
        }
    }
}

/// The issue's reproduction: `replace: 'a', 'aa'` sixty times would want
/// 2^60 bytes; it stops at the first step past 1 MiB.
#[test]
fn doubling_sixty_times_stops_at_the_limit() {
    let op = FilterOp::Replace("a".into(), "aa".into());
    let mut value = Value::Text(Cow::Borrowed("a"));
    let mut steps = 0;
    let (err, largest) = largest_allocation(|| loop {
        match apply(&op, value.clone()) {
            Ok(v) => {
                value = v;
                steps += 1;
            }
            Err(e) => break e,
        }
    });
    assert_eq!(steps, 20, "2^20 bytes is the last value that fits");
    assert_eq!(err, FilterError::TooLarge(2 * MAX_VALUE_BYTES));
    assert!(largest <= MAX_FILTER_ALLOCATION, "{largest}");
}

/// Every place a merge can go, each value through a growing filter, and
/// one text made of many merges.
const SCRIPT: &str = r#"campaign "Limits" {
    webhook "W" {
        url "https://x.example.com/[A | replace: 'a', 'aa']?b=[B]"
        header "X-A" = "[A | upper][A | upper]"
        post "a=[A]&b=[B | replace: 'x', 'xyz']&c=[A][A][A][A][A][A]"
    }
    webhook "J" {
        url "https://x.example.com/j"
        json { "a": "[A | title]", "b": [B], "n": [A | default: 'none'] }
    }
    note "[A][B][A][B][A][B][A]"
    tag add "[B | replace: 'y', 'yyyyyyyy']"
    field set [C] = "[A][A]"
    if [C | lower] contains "zz" { stop }
    note "[Tags][Tags][Tags]"
}"#;

fn text_of(event: &Event<'_>) -> Vec<usize> {
    match event {
        Event::Webhook(r) => std::iter::once(r.url.len())
            .chain(r.header_values.iter().map(String::len))
            .chain([r.body.len()])
            .collect(),
        Event::TagAdd(t) | Event::TagRemove(t) | Event::Note(t) | Event::Goal(t) => vec![t.len()],
        Event::FieldSet { value, .. } => vec![value.len()],
        _ => vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The whole VM over values from empty to several MiB: every text it
    /// hands out is under the limit, a contact it stops stops with a
    /// runtime error (`too_large` among them), and no allocation passes 8 MiB
    /// (a buffer at the limit plus one merge escaped, then grown once).
    #[test]
    fn merged_texts_stay_under_the_limit(
        a in ("[a-z\"\\\\&\n ]{1,3}", 0usize..600_000).prop_map(|(u, n)| u.repeat(n)),
        b in ("[xy %]{1,3}", 0usize..300_000).prop_map(|(u, n)| u.repeat(n)),
        tags in proptest::collection::vec("[a-z]{1,2000}", 0..600),
    ) {
        let compiled = campaign::compile(SCRIPT, None).expect("the script compiles");
        let program = &compiled.program;
        let mut fields = vec![None; program.fields.len()];
        for (name, value) in [("A", &a), ("B", &b)] {
            if let Some(id) = program.field_id(name) {
                fields[id as usize] = Some(value.clone());
            }
        }
        let contact = Contact { id: "1".into(), row: 1, fields, tags };
        let mut vm = Vm::new(program, Secrets::Masked);
        let mut run = Run::default();
        run.restart(&contact, 0);
        loop {
            let (ended, largest) = largest_allocation(|| {
                let event = vm.next(&mut run);
                for len in text_of(&event) {
                    assert!(len <= MAX_VALUE_BYTES, "a text of {len} bytes");
                }
                match event {
                    Event::Done | Event::Stop => Some(None),
                    Event::Error(e) => Some(Some(e.code)),
                    _ => None,
                }
            });
            prop_assert!(largest <= 8 * MAX_VALUE_BYTES, "allocated {largest} bytes");
            match ended {
                None => {}
                Some(None) => break,
                Some(Some(code)) => {
                    // Too large, or what else a value can do (a line break
                    // in a header, an unreadable number).
                    prop_assert!(code.starts_with("campaign::run::"), "{code}");
                    break;
                }
            }
        }
    }
}

/// Through the real binary: the contact that grows too much fails with the
/// documented code, the others go on.
#[test]
fn the_binary_fails_only_the_contact_that_grows() {
    let dir = tempfile::tempdir().unwrap();
    let chain = vec!["replace: 'a', 'aa'"; 60].join(" | ");
    let script = dir.path().join("grow.campaign");
    std::fs::write(
        &script,
        format!("campaign \"X\" {{\n    note \"[A | {chain}]\"\n    tag add \"ok\"\n}}\n"),
    )
    .unwrap();
    let contacts = dir.path().join("c.csv");
    std::fs::write(&contacts, "Contact ID,A\n1,a\n2,b\n").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_campaign"))
        .args(["run", script.to_str().unwrap(), "--contacts"])
        .arg(&contacts)
        .args(["--dry-run", "--format", "ndjson"])
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["contact"], "1");
    assert_eq!(lines[0]["code"], "campaign::run::too_large");
    assert!(lines[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("[A]: the merged value would be 2097152 bytes"));
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[2]["tag"], "ok");
    assert_eq!(o.status.code(), Some(1));
}

/// chrono builds a formatted date in a String of its own: a format of
/// 400,000 `%A` is formatted piece by piece and stops at the limit.
#[test]
fn a_huge_date_format_stops_at_the_limit() {
    let op = FilterOp::Date("%A ".repeat(400_000));
    let value = Value::Text(Cow::Borrowed("1795771800"));
    let (out, largest) = largest_allocation(|| apply(&op, value));
    assert_eq!(out, Err(FilterError::TooLarge(MAX_VALUE_BYTES + 1)));
    assert!(largest <= MAX_FILTER_ALLOCATION, "{largest}");
}
