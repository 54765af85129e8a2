use super::*;
use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;

/// Every record as an owned value, for comparing.
fn read_all(
    input: &[u8],
    format: ContactsFormat,
    slots: &dyn FieldSlots,
) -> Result<Vec<Result<Contact, RowError>>, ContactsError> {
    read_with(input, format, slots, &Limits::default())
}

/// [`read_all`] within `limits`.
pub(super) fn read_with(
    input: &[u8],
    format: ContactsFormat,
    slots: &dyn FieldSlots,
    limits: &Limits,
) -> Result<Vec<Result<Contact, RowError>>, ContactsError> {
    let mut out = Vec::new();
    for_each_contact_with(input, format, slots, limits, |row| {
        out.push(match row {
            Row::Contact(c) => Ok(c.clone()),
            Row::Invalid(e) => Err(e),
        });
        Ok::<(), ContactsError>(())
    })?;
    Ok(out)
}

fn contacts(input: &[u8], format: ContactsFormat, slots: &dyn FieldSlots) -> Vec<Contact> {
    read_all(input, format, slots)
        .expect("no fatal error")
        .into_iter()
        .map(|r| r.expect("valid row"))
        .collect()
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn format_from_path_and_name() {
    assert_eq!(
        ContactsFormat::from_path(Path::new("a/b.CSV")),
        Some(ContactsFormat::Csv)
    );
    assert_eq!(
        ContactsFormat::from_path(Path::new("x.json")),
        Some(ContactsFormat::Json)
    );
    assert_eq!(
        ContactsFormat::from_path(Path::new("x.Ndjson")),
        Some(ContactsFormat::Ndjson)
    );
    assert_eq!(
        ContactsFormat::from_path(Path::new("x.jsonl")),
        Some(ContactsFormat::Ndjson)
    );
    assert_eq!(ContactsFormat::from_path(Path::new("x.txt")), None);
    assert_eq!(ContactsFormat::from_path(Path::new("csv")), None);
    assert_eq!("CSV".parse::<ContactsFormat>(), Ok(ContactsFormat::Csv));
    assert_eq!(
        "ndjson".parse::<ContactsFormat>(),
        Ok(ContactsFormat::Ndjson)
    );
    assert_eq!("json".parse::<ContactsFormat>(), Ok(ContactsFormat::Json));
    let err = "xml".parse::<ContactsFormat>().unwrap_err();
    assert!(err.to_string().contains("`xml`"), "{err}");
    for f in [
        ContactsFormat::Csv,
        ContactsFormat::Json,
        ContactsFormat::Ndjson,
    ] {
        assert_eq!(f.to_string().parse::<ContactsFormat>(), Ok(f));
    }
}

#[test]
fn csv_quotes_commas_newlines_bom_and_short_rows() {
    let input = "\u{feff}First Name , Email,Note\n\
                 \"Ann, Jr.\",ann@x.com,\"said \"\"hi\"\"\nthen left\"\n\
                 Bob\n\
                 \n\
                 Cy,,x,extra,cells\n";
    let slots = vec!["First Name", "Email", "Note", "Missing"];
    let got = contacts(input.as_bytes(), ContactsFormat::Csv, &slots);
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0].fields,
        vec![
            some("Ann, Jr."),
            some("ann@x.com"),
            some("said \"hi\"\nthen left"),
            None
        ]
    );
    assert_eq!((got[0].row, got[0].id.as_str()), (1, "1"));
    // Short row: missing columns are absent; blank lines are not records.
    assert_eq!(got[1].fields, vec![some("Bob"), None, None, None]);
    // Empty cell is present but empty; extra cells ignored.
    assert_eq!(got[2].fields, vec![some("Cy"), some(""), some("x"), None]);
    assert_eq!((got[2].row, got[2].id.as_str()), (3, "3"));
    assert!(got.iter().all(|c| c.tags.is_empty()));
}

#[test]
fn csv_invalid_utf8_row_is_reported_and_reading_goes_on() {
    let mut input = b"Name,Contact ID\nAnn,1\n".to_vec();
    input.extend_from_slice(b"B\xffb,2\n");
    input.extend_from_slice(b"Cy,3\n");
    let slots = vec!["Name"];
    let got = read_all(&input, ContactsFormat::Csv, &slots).expect("not fatal");
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0].as_ref().map(|c| c.fields.clone()),
        Ok(vec![some("Ann")])
    );
    let err = got[1].as_ref().expect_err("invalid row");
    assert_eq!(err.row, 2);
    assert_eq!(err.id.as_deref(), Some("2"));
    assert!(err.message.contains("`Name`"), "{}", err.message);
    assert!(err.message.contains("line 3"), "{}", err.message);
    assert!(
        err.to_string()
            .starts_with("contact row 2 (Contact ID 2): "),
        "{err}"
    );
    let cy = got[2].as_ref().expect("valid row");
    assert_eq!((cy.row, cy.id.as_str()), (3, "3"));
    assert_eq!(cy.fields, vec![some("Cy")]);
}

#[test]
fn csv_header_problems() {
    let slots = vec!["a"];
    for empty in ["", "\n\n", "\u{feff}"] {
        let err = read_all(empty.as_bytes(), ContactsFormat::Csv, &slots).unwrap_err();
        assert!(matches!(err, ContactsError::NoHeader), "{empty:?}: {err}");
    }
    let err = read_all(b"a,\xff\n1,2\n", ContactsFormat::Csv, &slots).unwrap_err();
    assert!(matches!(err, ContactsError::Header(_)), "{err}");
    assert!(err.to_string().contains("column 2"), "{err}");
    // A header alone is fine and yields nothing.
    assert!(read_all(b"a,b", ContactsFormat::Csv, &slots)
        .unwrap()
        .is_empty());
}

#[test]
fn csv_duplicate_header_first_wins() {
    let slots = vec!["a", "Contact ID"];
    let got = contacts(
        b"a,Contact ID,a,Contact ID\n1,x,2,y\n",
        ContactsFormat::Csv,
        &slots,
    );
    assert_eq!(got[0].fields, vec![some("1"), some("x")]);
    assert_eq!(got[0].id, "x");
}

#[test]
fn ids_come_from_contact_id_or_the_row_number() {
    let slots: Vec<&str> = Vec::new();
    let csv = "Contact ID,Name\n 42 ,a\n,b\n   ,c\nabc-1,d\n";
    let ids: Vec<String> = contacts(csv.as_bytes(), ContactsFormat::Csv, &slots)
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, strings(&["42", "2", "3", "abc-1"]));

    let json = r#"[{"Contact ID": 17}, {"Contact ID": null}, {"Contact ID": ""}, {}, {"Contact ID": "x7"}]"#;
    let ids: Vec<String> = contacts(json.as_bytes(), ContactsFormat::Json, &slots)
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, strings(&["17", "2", "3", "4", "x7"]));

    let ndjson = "{\"Contact ID\": \"9\"}\n\n{}\n";
    let got = contacts(ndjson.as_bytes(), ContactsFormat::Ndjson, &slots);
    assert_eq!(
        (got[0].id.as_str(), got[1].id.as_str(), got[1].row),
        ("9", "2", 2)
    );
}

#[test]
fn csv_tags_are_trimmed_deduplicated_and_ordered() {
    let input = "Tags,Name\n\" vip, new ,,vip,  old \",a\n,b\n";
    let slots = vec!["Tags"];
    let got = contacts(input.as_bytes(), ContactsFormat::Csv, &slots);
    assert_eq!(got[0].tags, strings(&["vip", "new", "old"]));
    // The slot holds the text as written.
    assert_eq!(got[0].fields, vec![some(" vip, new ,,vip,  old ")]);
    assert!(got[1].tags.is_empty());
    assert_eq!(got[1].fields, vec![some("")]);
}

#[test]
fn many_tags_are_deduplicated_too() {
    let list: Vec<String> = (0..300).map(|i| format!("t{}", i % 100)).collect();
    let input = format!("Tags\n\"{}\"\nx\n", list.join(","));
    let slots: Vec<&str> = Vec::new();
    let got = contacts(input.as_bytes(), ContactsFormat::Csv, &slots);
    let want: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    assert_eq!(got[0].tags, want);
    // Buffers from the long row are reused, not leaked into the next.
    assert_eq!(got[1].tags, strings(&["x"]));
}

#[test]
fn reused_contact_drops_values_of_earlier_rows() {
    let input = "a,b,Tags\n1,2,\"x,y\"\n3\n";
    let slots = vec!["a", "b"];
    let mut seen = Vec::new();
    for_each_contact(input.as_bytes(), ContactsFormat::Csv, &slots, |row| {
        if let Row::Contact(c) = row {
            seen.push((c.fields.clone(), c.tags.clone()));
        }
        Ok::<(), ContactsError>(())
    })
    .unwrap();
    assert_eq!(seen[1], (vec![some("3"), None], Vec::<String>::new()));
}

#[test]
fn json_values_become_text() {
    let json = r#"[
        {"Contact ID": "c1", "n": 50, "f": 2.5, "neg": -3, "big": 1e20, "t": true,
         "fl": false, "nul": null, "s": "héllo \"q\"",
         "nested": {"b": 1, "a": [1, "x\"y\n", null, 1.5]},
         "Tags": [" vip ", "new", "vip", "", 7],
         "unused": {"deep": [[[]]]}}
    ]"#;
    let slots = vec![
        "n", "f", "neg", "big", "t", "fl", "nul", "s", "nested", "Tags", "absent",
    ];
    let got = contacts(json.as_bytes(), ContactsFormat::Json, &slots);
    assert_eq!(got.len(), 1);
    let c = &got[0];
    assert_eq!(c.id, "c1");
    assert_eq!(
        c.fields,
        vec![
            some("50"),
            some("2.5"),
            some("-3"),
            some("1e20"),
            some("true"),
            some("false"),
            None,
            some("héllo \"q\""),
            some(r#"{"b":1,"a":[1,"x\"y\n",null,1.5]}"#),
            some("vip,new,7"),
            None,
        ]
    );
    assert_eq!(c.tags, strings(&["vip", "new", "7"]));
}

#[test]
fn nested_json_text_is_escaped_like_serde_json() {
    let text: String = (0u8..0x20)
        .map(char::from)
        .chain("\"\\/é\u{2028}😀".chars())
        .collect();
    let value = serde_json::json!([text, {"k\n": [1, -2, 0.5, true, null]}]);
    let json = format!("[{{\"v\": {value}}}]");
    let slots = vec!["v"];
    let got = contacts(json.as_bytes(), ContactsFormat::Json, &slots);
    assert_eq!(got[0].fields, vec![Some(value.to_string())]);
}

#[test]
fn json_tags_string_and_bad_tags() {
    let json =
        r#"[{"Tags": "a, b,a"}, {"Tags": {"x": 1}}, {"Tags": ["a", ["b"]]}, {"Tags": null}]"#;
    let slots = vec!["Tags"];
    let got = read_all(json.as_bytes(), ContactsFormat::Json, &slots).unwrap();
    let first = got[0].as_ref().unwrap();
    assert_eq!(first.tags, strings(&["a", "b"]));
    assert_eq!(first.fields, vec![some("a, b,a")]);
    let err = got[1].as_ref().unwrap_err();
    assert!(err.message.contains("`Tags` must be"), "{}", err.message);
    assert!(err.message.contains("array element 2"), "{}", err.message);
    assert!(got[2].as_ref().unwrap_err().message.contains("not arrays"));
    let last = got[3].as_ref().unwrap();
    assert!(last.tags.is_empty());
    assert_eq!(last.fields, vec![None]);
}

#[test]
fn json_non_object_elements_are_invalid_rows() {
    let json = r#"[{"a": "1"}, 5, "s", [1, {"a": 2}], null, true, {"a": "6", "Contact ID": 60}]"#;
    let slots = vec!["a"];
    let got = read_all(json.as_bytes(), ContactsFormat::Json, &slots).unwrap();
    assert_eq!(got.len(), 7);
    let kinds = ["a number", "a string", "an array", "null", "a boolean"];
    for (i, kind) in kinds.iter().enumerate() {
        let err = got[i + 1].as_ref().unwrap_err();
        assert_eq!(err.row, i as u64 + 2);
        assert_eq!(err.id, None);
        assert_eq!(
            err.message,
            format!("array element {} is {kind}, not an object", i + 2)
        );
    }
    let last = got[6].as_ref().unwrap();
    assert_eq!((last.row, last.id.as_str()), (7, "60"));
    assert_eq!(last.fields, vec![some("6")]);
}

#[test]
fn json_fatal_errors_say_where() {
    let slots = vec!["a"];
    let err = read_all(b"{\"a\": 1}", ContactsFormat::Json, &slots).unwrap_err();
    match &err {
        ContactsError::Json {
            line,
            column,
            message,
        } => {
            assert_eq!(*line, 1);
            assert!(*column > 0);
            assert!(
                message.contains("expected a JSON array of contact objects"),
                "{message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = read_all(b"[{\"a\": 1},\n {\"a\" 2}]", ContactsFormat::Json, &slots).unwrap_err();
    assert!(matches!(err, ContactsError::Json { line: 2, .. }), "{err}");
    let err = read_all(b"[] []", ContactsFormat::Json, &slots).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
    let err = read_all(b"", ContactsFormat::Json, &slots).unwrap_err();
    assert!(matches!(err, ContactsError::Json { .. }), "{err}");
    // Fine: an empty array, with a BOM and surrounding whitespace.
    assert!(
        read_all(b"\xef\xbb\xbf \n[ ]\n", ContactsFormat::Json, &slots)
            .unwrap()
            .is_empty()
    );
}

/// Counts the bytes a reader has handed out.
struct Counting<R> {
    inner: R,
    read: Rc<Cell<usize>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n);
        Ok(n)
    }
}

#[test]
fn json_array_is_streamed() {
    const N: usize = 200_000;
    let mut json = String::from("[");
    for i in 0..N {
        if i > 0 {
            json.push_str(",\n");
        }
        json.push_str(&format!(
            r#"{{"Contact ID": {i}, "Email": "user{i}@example.com", "Score": {}, "Tags": ["t{}"]}}"#,
            i % 97,
            i % 5
        ));
    }
    json.push(']');
    let total = json.len();
    let read = Rc::new(Cell::new(0));
    let input = Counting {
        inner: json.as_bytes(),
        read: Rc::clone(&read),
    };
    let slots = vec!["Email", "Score"];
    let mut count = 0usize;
    let mut read_at_first = None;
    for_each_contact(input, ContactsFormat::Json, &slots, |row| {
        let Row::Contact(c) = row else {
            panic!("unexpected {row:?}")
        };
        if count == 0 {
            read_at_first = Some(read.get());
        }
        assert_eq!(c.id, count.to_string());
        assert_eq!(
            c.fields[1].as_deref(),
            Some((count % 97).to_string().as_str())
        );
        count += 1;
        Ok::<(), ContactsError>(())
    })
    .unwrap();
    assert_eq!(count, N);
    let at_first = read_at_first.unwrap();
    assert!(
        at_first < total / 10,
        "read {at_first} of {total} bytes before the first contact"
    );
    assert_eq!(read.get(), total);
}

#[test]
fn ndjson_blank_and_bad_lines() {
    let input = "\u{feff}{\"a\": \"1\"}\r\n\n   \n{\"a\": 2,}\n[1]\n{\"a\": \"b\u{e9}\", \"Contact ID\": \"c4\"}\n{\"a\": null}";
    let slots = vec!["a"];
    let got = read_all(input.as_bytes(), ContactsFormat::Ndjson, &slots).unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].as_ref().unwrap().fields, vec![some("1")]);
    let bad = got[1].as_ref().unwrap_err();
    assert_eq!(bad.row, 2);
    assert!(
        bad.message.starts_with("line 4, column "),
        "{}",
        bad.message
    );
    let arr = got[2].as_ref().unwrap_err();
    assert_eq!(arr.message, "line 5 is an array, not a JSON object");
    let c4 = got[3].as_ref().unwrap();
    assert_eq!((c4.row, c4.id.as_str()), (4, "c4"));
    assert_eq!(c4.fields, vec![some("bé")]);
    let last = got[4].as_ref().unwrap();
    assert_eq!((last.row, last.id.as_str()), (5, "5"));
    assert_eq!(last.fields, vec![None]);

    assert!(read_all(b" \n\n\t\r\n", ContactsFormat::Ndjson, &slots)
        .unwrap()
        .is_empty());
    assert!(read_all(b"", ContactsFormat::Ndjson, &slots)
        .unwrap()
        .is_empty());
}

#[test]
fn ndjson_invalid_utf8_line_is_invalid() {
    let slots = vec!["a"];
    let got = read_all(
        b"{\"a\": \"\xff\"}\n{\"a\": \"ok\"}\n",
        ContactsFormat::Ndjson,
        &slots,
    )
    .unwrap();
    assert!(got[0].as_ref().unwrap_err().message.starts_with("line 1"));
    assert_eq!(got[1].as_ref().unwrap().fields, vec![some("ok")]);
}

#[derive(Debug)]
enum TestError {
    Contacts(ContactsError),
    Stop(u64),
}

impl From<ContactsError> for TestError {
    fn from(e: ContactsError) -> Self {
        TestError::Contacts(e)
    }
}

#[test]
fn callback_error_stops_reading_in_every_format() {
    let inputs = [
        (ContactsFormat::Csv, "a\n1\n2\n3\n"),
        (ContactsFormat::Json, r#"[{"a": 1}, {"a": 2}, {"a": 3}]"#),
        (
            ContactsFormat::Ndjson,
            "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n",
        ),
    ];
    let slots = vec!["a"];
    for (format, input) in inputs {
        let mut rows = 0;
        let result = for_each_contact(input.as_bytes(), format, &slots, |row| {
            rows += 1;
            match row {
                Row::Contact(c) if c.row == 2 => Err(TestError::Stop(c.row)),
                _ => Ok(()),
            }
        });
        assert!(
            matches!(result, Err(TestError::Stop(2))),
            "{format}: {result:?}"
        );
        assert_eq!(rows, 2, "{format}");
        // Fatal errors arrive through From<ContactsError>.
        let result = for_each_contact(&b""[..], ContactsFormat::Csv, &slots, |_| Ok(()));
        assert!(matches!(
            result,
            Err(TestError::Contacts(ContactsError::NoHeader))
        ));
    }
}

#[test]
fn field_names_for_each_format() {
    let csv = "\u{feff} Contact ID ,Email,,Email,Tags\n1,2\n";
    assert_eq!(
        field_names(csv.as_bytes(), ContactsFormat::Csv).unwrap(),
        strings(&["Contact ID", "Email", "Tags"])
    );
    assert!(matches!(
        field_names(&b""[..], ContactsFormat::Csv),
        Err(ContactsError::NoHeader)
    ));

    let json = r#"[{"b": 1, "a": {"nested": 1}}, 3, {"c": null, "a": 2}, {}]"#;
    assert_eq!(
        field_names(json.as_bytes(), ContactsFormat::Json).unwrap(),
        strings(&["b", "a", "c"])
    );
    assert!(field_names(&b"{}"[..], ContactsFormat::Json).is_err());
    assert!(field_names(&b"[]"[..], ContactsFormat::Json)
        .unwrap()
        .is_empty());

    let ndjson = "{\"x\": 1, \"y\": 2}\n\n{\"bad\": 1, \n{\"z\": 3, \"x\": 0}\n";
    assert_eq!(
        field_names(ndjson.as_bytes(), ContactsFormat::Ndjson).unwrap(),
        strings(&["x", "y", "z"])
    );
}

#[test]
fn out_of_range_slots_are_ignored() {
    struct Bad;
    impl FieldSlots for Bad {
        fn slot(&self, _: &str) -> Option<usize> {
            Some(5)
        }
        fn len(&self) -> usize {
            1
        }
    }
    let got = contacts(b"a\n1\n", ContactsFormat::Csv, &Bad);
    assert_eq!(got[0].fields, vec![None]);
    let got = contacts(br#"[{"a": 1}]"#, ContactsFormat::Json, &Bad);
    assert_eq!(got[0].fields, vec![None]);
}

proptest::proptest! {
    #[test]
    fn csv_round_trips_any_values(
        rows in proptest::collection::vec(proptest::collection::vec("(?s).{0,24}", 3), 0..20)
    ) {
        let mut writer = ::csv::Writer::from_writer(Vec::new());
        writer.write_record(["a", "b", "c"]).unwrap();
        for row in &rows {
            writer.write_record(row).unwrap();
        }
        let data = writer.into_inner().unwrap();
        let slots = vec!["c", "a", "b"];
        let got = contacts(&data, ContactsFormat::Csv, &slots);
        proptest::prop_assert_eq!(got.len(), rows.len());
        for (i, (contact, row)) in got.iter().zip(&rows).enumerate() {
            proptest::prop_assert_eq!(contact.row, i as u64 + 1);
            let want = vec![Some(row[2].clone()), Some(row[0].clone()), Some(row[1].clone())];
            proptest::prop_assert_eq!(&contact.fields, &want);
        }
    }
}

/// Not a timed test: `cargo test --release -- --ignored --nocapture csv_throughput`.
#[test]
#[ignore]
fn csv_throughput() {
    const N: u64 = 1_000_000;
    let mut data = String::from("Contact ID,First Name,Email,Tags\n");
    for i in 0..N {
        data.push_str(&format!(
            "{i},Name{i},user{i}@example.com,\"vip,t{}\"\n",
            i % 7
        ));
    }
    let slots = vec!["First Name", "Email"];
    let start = std::time::Instant::now();
    let mut bytes = 0usize;
    for_each_contact(data.as_bytes(), ContactsFormat::Csv, &slots, |row| {
        if let Row::Contact(c) = row {
            bytes += c.id.len() + c.fields.iter().flatten().map(String::len).sum::<usize>();
        }
        Ok::<(), ContactsError>(())
    })
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{N} CSV rows ({} MB) in {secs:.3} s: {:.0} rows/s (checksum {bytes})",
        data.len() / 1_000_000,
        N as f64 / secs
    );
}

/// Nested values keep what `serde_json::Value` would lose: keys in file
/// order, repeated keys, and numbers as written; only whitespace goes and
/// escapes are rewritten.
#[test]
fn nested_json_keeps_key_order_repeats_and_number_text() {
    let slots = vec!["v"];
    let line =
        "{\"v\": {\"b\" : [ 1.50 , \"x\\u0041\\/\" , {\"k\":1,\t\"k\":2} ] ,\n \"a\": 1e400}}";
    let want = r#"{"b":[1.50,"xA/",{"k":1,"k":2}],"a":1e400}"#;
    for (format, input) in [
        (ContactsFormat::Ndjson, line.replace('\n', " ")),
        (ContactsFormat::Json, format!("[{line}]")),
    ] {
        let got = contacts(input.as_bytes(), format, &slots);
        assert_eq!(got[0].fields, vec![some(want)], "{format}");
    }
}

/// `check --contacts` sees the fields a run would: a record the reader
/// refuses (a field past its limit, unusable `Tags`, a repeated id, bad
/// JSON) names nothing, in both JSON formats.
#[test]
fn field_names_leave_out_records_a_run_refuses() {
    let limits = Limits {
        record_bytes: 200,
        field_bytes: 10,
        fields: 8,
    };
    let records = [
        r#"{"a": 1}"#,
        r#"{"long": "0123456789abc"}"#,
        r#"{"t": 1, "Tags": {}}"#,
        r#"{"Contact ID": 5, "first": 1}"#,
        r#"{"Contact ID": 5, "again": 1}"#,
        r#"{"b": 2}"#,
    ];
    let want = strings(&["a", "Contact ID", "first", "b"]);
    let ndjson = format!("{}\n{{\"bad\": \n", records.join("\n"));
    let got = field_names_with(ndjson.as_bytes(), ContactsFormat::Ndjson, &limits).unwrap();
    assert_eq!(got, want);
    let json = format!("[{}]", records.join(","));
    let got = field_names_with(json.as_bytes(), ContactsFormat::Json, &limits).unwrap();
    assert_eq!(got, want);
}

/// More distinct names than the limit stop sampling with an error, unless
/// they came from a record that is refused anyway.
#[test]
fn field_names_past_the_limit_are_an_error() {
    let limits = Limits {
        record_bytes: 200,
        field_bytes: 100,
        fields: 3,
    };
    let fits = "{\"a\": 1, \"b\": 2}\n{\"c\": 3, \"d\": 4, \"e\": \n{\"c\": 3}\n";
    let got = field_names_with(fits.as_bytes(), ContactsFormat::Ndjson, &limits).unwrap();
    assert_eq!(got, strings(&["a", "b", "c"]));
    for format in [ContactsFormat::Ndjson, ContactsFormat::Json] {
        let over = "{\"a\": 1, \"b\": 2}\n{\"c\": 3, \"d\": 4}\n";
        let input = match format {
            ContactsFormat::Json => format!("[{}]", over.trim().replace('\n', ",")),
            _ => over.to_owned(),
        };
        let err = field_names_with(input.as_bytes(), format, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                ContactsError::Fields {
                    names: 3,
                    bytes: 200
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "contacts: more than 3 distinct field names (or more than 200 bytes of them)"
        );
    }
}
