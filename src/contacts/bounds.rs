//! Limits, resynchronisation, unclosed quotes, numbers as written and
//! duplicate ids: each tested against an independent reference for whole
//! classes of inputs, not just examples.

use super::csv::CsvRecords;
use super::ids::{integer_id, SeenIds};
use super::tests::read_with;
use super::*;
use proptest::prelude::*;

/// Small limits, so tests reach them with small inputs.
const SMALL: Limits = Limits {
    record_bytes: 64,
    field_bytes: 16,
    fields: 8,
};

fn invalid(row: &Result<Contact, RowError>) -> &RowError {
    row.as_ref().expect_err("an invalid record")
}

fn valid(row: &Result<Contact, RowError>) -> &Contact {
    row.as_ref().expect("a valid record")
}

// --- CSV against the csv crate --------------------------------------

/// Where csv-core's quoting leaves a file that ends now: inside a
/// quoted cell or not. An independent model of the dialect.
fn reference_in_quotes(input: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum S {
        Start,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut s = S::Start;
    let input = input.strip_prefix(b"\xef\xbb\xbf").unwrap_or(input);
    for &b in input {
        s = match (s, b) {
            (S::Quoted, b'"') => S::QuoteInQuoted,
            (S::Quoted, _) => S::Quoted,
            (S::QuoteInQuoted, b'"') => S::Quoted,
            (S::Start, b'"') => S::Quoted,
            (_, b',' | b'\n' | b'\r') => S::Start,
            _ => S::Unquoted,
        };
    }
    s == S::Quoted
}

fn csv_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'a'),
            Just(b'b'),
            Just(b','),
            Just(b'"'),
            Just(b'\n'),
            Just(b'\r'),
            Just(b' '),
        ],
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Within the limits, records and cells are exactly what the csv
    /// crate reads, and an unclosed quote is seen exactly when the file
    /// ends inside one.
    #[test]
    fn csv_records_match_the_csv_crate(input in csv_bytes()) {
        let mut want = Vec::new();
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&input[..]);
        for record in reader.byte_records() {
            let record = record.unwrap();
            want.push(record.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
        }
        let limits = Limits { record_bytes: 1 << 20, field_bytes: 1 << 20, fields: 1000 };
        let mut records = CsvRecords::new(&input[..], limits);
        let mut got = Vec::new();
        let mut last_unclosed = false;
        while let Some(record) = records.next(1000).unwrap() {
            prop_assert!(record.too_long.is_none());
            prop_assert_eq!(record.kept, record.cells);
            got.push((0..record.kept).map(|i| records.cell(i).to_vec()).collect::<Vec<_>>());
            last_unclosed = record.unclosed_quote;
        }
        prop_assert_eq!(got.len(), want.len());
        if last_unclosed {
            // The unclosed record is refused whole; its text is not used.
            got.pop();
            want.pop();
        }
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(last_unclosed, reference_in_quotes(&input));
    }

    /// Records past a limit are reported and skipped, and the reader
    /// resumes at exactly the next record: every other record reads as
    /// written, whatever the quoting and line breaks inside the long ones.
    #[test]
    fn csv_resumes_after_records_past_a_limit(
        rows in proptest::collection::vec(
            (proptest::collection::vec("[a-c\",\n ]{0,40}", 1..4), any::<bool>()),
            1..12,
        )
    ) {
        let mut writer = ::csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
        writer.write_record(["a", "b", "c"]).unwrap();
        for (cells, _) in &rows {
            writer.write_record(cells).unwrap();
        }
        let mut data = writer.into_inner().unwrap();
        if !rows[rows.len() - 1].1 {
            // The last record ends the file without a line break.
            data.pop();
        }
        let limits = Limits { record_bytes: 48, field_bytes: 24, fields: 8 };
        let slots = vec!["a", "b", "c"];
        let got = read_with(&data, ContactsFormat::Csv, &slots, &limits).unwrap();
        // A row of only an empty cell is a blank line: not a record.
        prop_assert_eq!(got.len(), rows.len());
        for ((cells, _), got) in rows.iter().zip(&got) {
            let mut line = ::csv::WriterBuilder::new().from_writer(Vec::new());
            line.write_record(cells.iter()).unwrap();
            let raw = line.into_inner().unwrap().len() - 1;
            let over = raw > limits.record_bytes
                || cells.iter().any(|c| c.len() > limits.field_bytes);
            match got {
                Ok(c) => {
                    prop_assert!(!over, "{cells:?} is over a limit but read");
                    for (i, cell) in cells.iter().enumerate() {
                        prop_assert_eq!(c.fields[i].as_deref(), Some(cell.as_str()));
                    }
                }
                Err(e) => {
                    prop_assert!(over, "{cells:?}: {}", e.message);
                    prop_assert!(e.message.contains("longer than the limit"), "{}", e.message);
                }
            }
        }
    }
}

#[test]
fn csv_record_and_cell_limits() {
    let slots = vec!["Contact ID", "Name"];
    let long_cell = "x".repeat(17);
    let many_cells = ["y"; 40].join(",");
    let input = format!(
        "Contact ID,Name\n1,ok\n2,{long_cell}\n3,\"q\n{many_cells}\"\n4,{many_cells}\n5,fine\n"
    );
    let got = read_with(input.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(valid(&got[0]).fields[1].as_deref(), Some("ok"));
    let cell = invalid(&got[1]);
    assert_eq!(cell.id.as_deref(), Some("2"));
    assert_eq!(
        cell.message,
        "column 2 (`Name`) is longer than the limit of 16 bytes (record starts at line 3)"
    );
    // A quoted cell past the limit with a line break inside: one record.
    let quoted = invalid(&got[2]);
    assert_eq!(quoted.id.as_deref(), Some("3"));
    assert!(
        quoted.message.contains("is longer than the limit"),
        "{}",
        quoted.message
    );
    assert!(quoted.message.contains("line 4"), "{}", quoted.message);
    let record = invalid(&got[3]);
    assert_eq!(
        record.message,
        "the record is longer than the limit of 64 bytes and was skipped up to its end \
         at line 6 (record starts at line 6)"
    );
    assert_eq!(record.id.as_deref(), Some("4"));
    let last = valid(&got[4]);
    assert_eq!((last.row, last.id.as_str()), (5, "5"));
    assert_eq!(last.fields[1].as_deref(), Some("fine"));
}

#[test]
fn csv_unclosed_quote_names_the_record_and_its_line() {
    let slots = vec!["Name"];
    let input = "Contact ID,Name\n1,Ann\n\n2,\"Bob\n3,Cy\n4,Di\n";
    let got = read_with(
        input.as_bytes(),
        ContactsFormat::Csv,
        &slots,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(valid(&got[0]).fields[0].as_deref(), Some("Ann"));
    let e = invalid(&got[1]);
    assert_eq!(
        (e.row, e.id.as_deref(), e.kind),
        (2, Some("2"), RowErrorKind::Invalid)
    );
    assert_eq!(
        e.message,
        "column 2 (`Name`) opens a quote that is never closed, so the rest of the file \
         (up to line 6) was read as this one record; close the quote, and write a quote \
         inside a quoted cell as \"\" (record starts at line 4)"
    );
    // Past the record limit too: still one record, still said.
    let tail: String = (0..50).map(|i| format!("{i},name {i}\n")).collect();
    let input = format!("Contact ID,Name\n1,\"Ann\n{tail}");
    let got = read_with(input.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap();
    assert_eq!(got.len(), 1);
    let e = invalid(&got[0]);
    assert!(e.message.contains("never closed"), "{}", e.message);
    assert!(e.message.contains("more than 64 bytes"), "{}", e.message);
    assert!(e.message.contains("up to line 52"), "{}", e.message);
    // A closed quote at the very end is fine, with or without a line break.
    for end in ["", "\n", "\r\n"] {
        let input = format!("Name\n\"a\nb\"{end}");
        let got = read_with(input.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap();
        assert_eq!(valid(&got[0]).fields[0].as_deref(), Some("a\nb"), "{end:?}");
    }
}

#[test]
fn csv_header_past_the_limits_is_fatal() {
    let slots = vec!["a"];
    let wide = ["c"; 9].join(",") + "\n1\n";
    let err = read_with(wide.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap_err();
    assert_eq!(err.to_string(), "contacts CSV header: more than 8 columns");
    let long = format!("{}\n1\n", "n".repeat(17));
    let err = read_with(long.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap_err();
    assert!(
        err.to_string()
            .contains("column 1 is longer than the limit of 16 bytes"),
        "{err}"
    );
    let unclosed = "a,\"b\n1,2\n";
    let err = read_with(unclosed.as_bytes(), ContactsFormat::Csv, &slots, &SMALL).unwrap_err();
    assert!(
        err.to_string()
            .contains("column 2 opens a quote that is never closed"),
        "{err}"
    );
    assert!(matches!(
        field_names_with(wide.as_bytes(), ContactsFormat::Csv, &SMALL),
        Err(ContactsError::Header(_))
    ));
}

// --- NDJSON and JSON ---------------------------------------------------

/// A JSON value of random shape: strings with quotes, backslashes,
/// brackets and line breaks (escaped, as JSON requires), numbers as text.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        "[a-c\"\\\\\\[\\]{},\n ]{0,30}".prop_map(serde_json::Value::from),
        any::<i32>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::vec(("[a-c]{1,3}", inner), 0..3)
                .prop_map(|kv| { serde_json::Value::Object(kv.into_iter().collect()) }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// JSON arrays and NDJSON: elements past a limit are reported and
    /// skipped; every other one reads exactly, so the reader resumed at
    /// the right place whatever the strings and nesting inside.
    #[test]
    fn json_resumes_after_records_past_a_limit(
        values in proptest::collection::vec(json_value(), 1..10),
        pretty in any::<bool>(),
    ) {
        let limits = Limits { record_bytes: 120, field_bytes: 60, fields: 8 };
        let slots = vec!["v"];
        let objects: Vec<String> = values
            .iter()
            .map(|v| serde_json::json!({ "v": v }).to_string())
            .collect();
        let array = if pretty {
            serde_json::to_string_pretty(
                &values.iter().map(|v| serde_json::json!({ "v": v })).collect::<Vec<_>>(),
            ).unwrap()
        } else {
            format!("[{}]", objects.join(", "))
        };
        let ndjson = objects.join("\n");
        for (format, input) in [(ContactsFormat::Json, &array), (ContactsFormat::Ndjson, &ndjson)] {
            let got = read_with(input.as_bytes(), format, &slots, &limits).unwrap();
            prop_assert_eq!(got.len(), values.len());
            for ((value, object), got) in values.iter().zip(&objects).zip(&got) {
                let text = value.to_string();
                let over = object.len() > limits.record_bytes || text.len() > limits.field_bytes;
                let pretty_over = format == ContactsFormat::Json && pretty;
                match got {
                    Ok(c) => {
                        prop_assert!(!over || pretty_over, "{object} is over a limit but read");
                        let want = match value {
                            serde_json::Value::Null => None,
                            serde_json::Value::String(s) => Some(s.clone()),
                            other => Some(other.to_string()),
                        };
                        prop_assert_eq!(&c.fields[0], &want);
                    }
                    Err(e) => {
                        // Pretty printing makes elements longer than
                        // their compact text; only a limit may refuse one.
                        prop_assert!(over || pretty_over, "{object}: {}", e.message);
                        prop_assert!(e.message.contains("longer than the limit"), "{}", e.message);
                    }
                }
            }
        }
    }
}

#[test]
fn json_record_and_field_limits() {
    let slots = vec!["a"];
    let long_string = format!("\"{}\"", "s".repeat(20));
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let input = format!(
        "[{{\"a\": \"ok\"}},\n {{\"a\": {long_string}}},\n {{\"a\": 1, \"b\": {deep}}},\n \
         {{\"a\": \"] , [ \\\" {{\"}}, {{\"a\": \"next\"}}]"
    );
    let got = read_with(input.as_bytes(), ContactsFormat::Json, &slots, &SMALL).unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(valid(&got[0]).fields[0].as_deref(), Some("ok"));
    assert_eq!(
        invalid(&got[1]).message,
        "array element 2: field `a` is longer than the limit of 16 bytes"
    );
    // 200 brackets deep: past the record limit, skipped without recursing.
    assert_eq!(
        invalid(&got[2]).message,
        "array element 3 (line 3) is longer than the limit of 64 bytes and was skipped"
    );
    assert_eq!(valid(&got[3]).fields[0].as_deref(), Some("] , [ \" {"));
    assert_eq!(valid(&got[4]).fields[0].as_deref(), Some("next"));

    let input =
        format!("{{\"a\": \"ok\"}}\n{{\"a\": {deep}}}\n{{\"a\": {long_string}}}\n{{\"a\": 2}}");
    let got = read_with(input.as_bytes(), ContactsFormat::Ndjson, &slots, &SMALL).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(
        invalid(&got[1]).message,
        "line 2 is longer than the limit of 64 bytes and was skipped"
    );
    assert_eq!(
        invalid(&got[2]).message,
        "line 3: field `a` is longer than the limit of 16 bytes"
    );
    assert_eq!(valid(&got[3]).fields[0].as_deref(), Some("2"));
    // A blank line past the limit is still blank.
    let blank = format!("{}\n{{\"a\": 1}}\n", " ".repeat(200));
    let got = read_with(blank.as_bytes(), ContactsFormat::Ndjson, &slots, &SMALL).unwrap();
    assert_eq!((got.len(), valid(&got[0]).row), (1, 1));
}

#[test]
fn json_array_syntax_errors_stay_fatal_and_placed() {
    let slots = vec!["a"];
    let cases = [
        ("[1,]", "trailing comma after array element 1", 1, 4),
        (
            "[{\"a\": 1}\n {\"a\": 2}]",
            "expected `,` or `]` after array element 1",
            2,
            2,
        ),
        ("[{\"a\": 1},\n  {\"a\" 2}]", "expected `:`", 2, 8),
        (
            "[{\"a\": 1}",
            "EOF while parsing the array after 1 element(s)",
            1,
            10,
        ),
        ("[{\"a\": \"x]", "EOF while parsing array element 1", 1, 11),
        ("[,]", "expected a value (array element 1)", 1, 2),
        ("[1,}]", "expected a value (array element 2)", 1, 4),
        ("[trux]", "expected ident", 1, 5),
        ("  {}", "expected a JSON array of contact objects", 1, 3),
        ("[] x", "trailing characters after the array", 1, 4),
    ];
    for (input, message, line, column) in cases {
        let err = read_with(input.as_bytes(), ContactsFormat::Json, &slots, &SMALL).unwrap_err();
        match &err {
            ContactsError::Json {
                line: l,
                column: c,
                message: m,
            } => {
                assert!(m.contains(message), "{input:?}: {m}");
                assert_eq!((*l, *c), (line, column), "{input:?}: {m}");
            }
            other => panic!("{input:?}: {other}"),
        }
    }
}

#[test]
fn json_numbers_keep_their_text() {
    let slots = vec!["n", "nested", "Tags"];
    let numbers = [
        "12345678901234567890123",
        "-0",
        "1e400",
        "0.1",
        "1.50",
        "1E+2",
        "-3",
    ];
    for n in numbers {
        let ndjson = format!(
            "{{\"Contact ID\": {n}, \"n\": {n}, \"nested\": {{\"x\": [ {n} , \"\\u00e9\" ]}}, \"Tags\": [{n}, \"a\"]}}\n"
        );
        let array = format!("[{}]", ndjson.trim());
        for (format, input) in [
            (ContactsFormat::Ndjson, &ndjson),
            (ContactsFormat::Json, &array),
        ] {
            let got = read_with(input.as_bytes(), format, &slots, &Limits::default()).unwrap();
            let c = valid(&got[0]);
            assert_eq!(c.id, n, "{format}");
            assert_eq!(c.fields[0].as_deref(), Some(n), "{format}");
            assert_eq!(
                c.fields[1],
                Some(format!("{{\"x\":[{n},\"é\"]}}")),
                "{format}"
            );
            assert_eq!(c.tags, vec![n.to_string(), "a".into()], "{format}");
        }
    }
}

// --- Duplicate ids -------------------------------------------------------

#[test]
fn a_repeated_id_is_refused_and_names_the_first_record() {
    let slots = vec!["Name"];
    let csv = "Contact ID,Name\n7,Ann\n8,Bob\n 7 ,Eve\n,Dan\n4,Fay\n\u{ff},x\n";
    let got = read_with(
        csv.as_bytes(),
        ContactsFormat::Csv,
        &slots,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(got.len(), 6);
    let dup = invalid(&got[2]);
    assert_eq!(
        (dup.row, dup.id.as_deref(), dup.kind),
        (3, Some("7"), RowErrorKind::DuplicateId)
    );
    assert_eq!(dup.kind.code(), "campaign::contacts::duplicate_id");
    assert_eq!(dup.message, "Contact ID `7` is already the id of record 1");
    // Record 4 has no Contact ID: its id is 4, which record 5 then uses.
    assert_eq!(valid(&got[3]).id, "4");
    assert_eq!(
        invalid(&got[4]).message,
        "Contact ID `4` is already the id of record 4"
    );
    assert_eq!(valid(&got[5]).id, "\u{ff}");

    // An implicit id that an earlier record took explicitly, and an
    // unreadable record that still claims its id.
    let ndjson = "{\"Contact ID\": \"2\"}\n{}\n{\"Contact ID\": \"x\", \"Tags\": {}}\n{\"Contact ID\": \"x\"}\n";
    let got = read_with(
        ndjson.as_bytes(),
        ContactsFormat::Ndjson,
        &slots,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        invalid(&got[1]).message,
        "this record has no Contact ID, so its id is its record number, 2, which is already \
         the id of record 1"
    );
    assert_eq!(invalid(&got[2]).kind, RowErrorKind::Invalid);
    let again = invalid(&got[3]);
    assert_eq!(
        (again.kind, again.id.as_deref()),
        (RowErrorKind::DuplicateId, Some("x"))
    );
    // Both unreadable and repeated: both said.
    let csv = "Contact ID,Name\n5,a\n5,\u{ff}\n";
    let mut bytes = csv.as_bytes().to_vec();
    bytes.splice(bytes.len() - 3..bytes.len() - 1, [0xffu8]);
    let got = read_with(&bytes, ContactsFormat::Csv, &slots, &Limits::default()).unwrap();
    let both = invalid(&got[1]);
    assert_eq!(both.kind, RowErrorKind::DuplicateId);
    assert!(
        both.message
            .contains("also unreadable: column 2 (`Name`) is not valid UTF-8"),
        "{}",
        both.message
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// For any sequence of ids (integers in and out of order, with and
    /// without leading zeros, text, absent ones that become the record
    /// number), a record is refused exactly when an exact reference has
    /// seen its id, and the message names the first record.
    #[test]
    fn duplicates_match_an_exact_reference(
        ids in proptest::collection::vec(
            prop_oneof![
                4 => (0u64..40).prop_map(|n| Some(n.to_string())),
                2 => (0u64..40).prop_map(|n| Some(format!("0{n}"))),
                1 => "[a-c]{1,2}".prop_map(Some),
                2 => Just(None),
            ],
            0..120,
        ),
        ascending in any::<bool>(),
    ) {
        let ids: Vec<Option<String>> = if ascending {
            // Long runs of increasing integers, as exports have.
            ids.iter().enumerate().map(|(i, id)| id.as_ref().map(|_| (i * 2 + 100).to_string())).collect()
        } else {
            ids
        };
        let mut csv = String::from("Contact ID\n");
        for id in &ids {
            csv.push_str(id.as_deref().unwrap_or(""));
            csv.push_str(",\n");
        }
        let slots: Vec<&str> = Vec::new();
        let got = read_with(csv.as_bytes(), ContactsFormat::Csv, &slots, &Limits::default()).unwrap();
        prop_assert_eq!(got.len(), ids.len());
        let mut first: std::collections::HashMap<String, usize> = Default::default();
        for (i, (id, got)) in ids.iter().zip(&got).enumerate() {
            let row = i + 1;
            let id = id.clone().unwrap_or_else(|| row.to_string());
            match first.get(&id) {
                Some(&at) => {
                    let e = invalid(got);
                    prop_assert_eq!(e.kind, RowErrorKind::DuplicateId);
                    let record = format!("already the id of record {at}");
                    prop_assert!(e.message.contains(&record), "{}", e.message);
                }
                None => {
                    prop_assert_eq!(&valid(got).id, &id);
                    first.insert(id, row);
                }
            }
        }
    }
}

#[test]
fn integer_ids_are_canonical_decimals_only() {
    assert_eq!(integer_id("0"), Some(0));
    assert_eq!(integer_id("18446744073709551615"), None); // 20 digits
    assert_eq!(
        integer_id("9999999999999999999"),
        Some(9_999_999_999_999_999_999)
    );
    for text in ["", "00", "07", "+7", "-7", "7 ", "1e3", "٣"] {
        assert_eq!(integer_id(text), None, "{text:?}");
    }
}

#[test]
fn increasing_integer_ids_cost_no_table_space() {
    let mut ids = SeenIds::new();
    for row in 1..=10_000u64 {
        // Consecutive, then with a gap every 1,000.
        let id = row + 100_000 + row / 1000;
        assert_eq!(ids.insert(&id.to_string(), row), None);
    }
    assert_eq!((ids.runs.len(), ids.hashed), (11, 0));
    assert_eq!(ids.insert("100500", 10_001), Some(500));
    // Out of order: hashed, and still found in both places.
    assert_eq!(ids.insert("5", 10_002), None);
    assert_eq!(ids.insert("5", 10_003), Some(10_002));
    assert_eq!(ids.insert("100001", 10_004), Some(1));
    assert_eq!(ids.insert("110011", 10_005), None);
    assert_eq!(ids.hashed, 1);
}
