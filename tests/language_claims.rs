//! What docs/language.md says about the cases a newcomer found it wrong on,
//! held to the binary: numbers with exponents, the built-in fields under
//! `field set`, the id of a contact, `rate` units, quoted dates and where
//! `| raw` warns.

mod support;

use support::{campaign, ndjson, script, stderr, stdout, write};

/// The dry run's effects for `body` over `contacts` (CSV).
fn effects(body: &str, contacts: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.campaign", script(body));
    write(dir.path(), "c.csv", contacts);
    let o = campaign(
        dir.path(),
        &["run", "c.campaign", "-c", "c.csv", "-n", "-f", "ndjson"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    ndjson(&stdout(&o))
}

/// `check`'s stderr and exit status for `body`.
fn check(body: &str) -> (String, Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.campaign", script(body));
    let o = campaign(dir.path(), &["check", "c.campaign"]);
    (stderr(&o), o.status.code())
}

fn texts(effects: &[serde_json::Value]) -> Vec<&str> {
    effects.iter().filter_map(|e| e["text"].as_str()).collect()
}

#[test]
fn numbers_take_an_exponent_in_conditions_and_json() {
    let e = effects(
        "    webhook \"W\" {\n        url \"https://a.example/x\"\n        json { \"a\": 1e3, \"b\": [1e3], \"c\": 2.5E-1 }\n    }\n    if [A | number] > 1e3 { note \"big\" }\n",
        "Contact ID,A\n1,2000\n2,999\n",
    );
    assert_eq!(e[0]["body"], "{\"a\":1000,\"b\":[1000],\"c\":0.25}");
    assert_eq!(texts(&e), ["big"]);
}

#[test]
fn field_set_keeps_the_id_and_replaces_the_tags() {
    let e = effects(
        "    field set [Contact ID] = \"other\"\n    note \"id [Contact ID]\"\n    field set [Tags] = \" a , ,b,a\"\n    note \"[Tags]\"\n    if has tag \"b\" { note \"has b\" }\n    if has tag \"old\" { note \"still old\" }\n",
        "Contact ID,Tags\n7,old\n",
    );
    assert_eq!(texts(&e), ["id 7", "a,b", "has b"]);
    assert!(e.iter().all(|x| x["contact"] == "7"));
}

#[test]
fn the_id_is_trimmed_and_an_empty_one_is_the_record_number() {
    let e = effects(
        "    note \"[Contact ID]\"\n",
        "Contact ID,A\n  7  ,x\n,y\n   ,z\n",
    );
    let pairs: Vec<(&str, &str)> = e
        .iter()
        .map(|x| (x["contact"].as_str().unwrap(), x["text"].as_str().unwrap()))
        .collect();
    assert_eq!(pairs, [("7", "7"), ("2", "2"), ("3", "3")]);
}

#[test]
fn rate_takes_the_duration_units_and_quoted_dates_are_checked() {
    for rate in ["5/s", "5/second", "5/seconds", "600/m", "10/hours"] {
        let (err, code) = check(&format!(
            "    webhook \"W\" {{\n        url \"https://a.example/x\"\n        rate {rate}\n    }}\n"
        ));
        assert_eq!(code, Some(0), "{rate}: {err}");
    }
    let (err, code) = check("    webhook \"W\" {\n        url \"https://a.example/x\"\n        rate 5/fortnight\n    }\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("campaign::webhook::rate"), "{err}");
    let (err, code) = check("    wait until \"tomorrow\"\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("campaign::wait::date"), "{err}");
}

#[test]
fn raw_warns_where_it_turns_encoding_off_and_nowhere_else() {
    let (err, code) = check("    note \"[A | raw]\"\n    tag add \"[A | raw]\"\n    field set [B] = \"[A | raw]\"\n    if [A | raw] == \"x\" { stop }\n");
    assert_eq!(code, Some(0));
    assert!(!err.contains("campaign::filter::raw"), "{err}");
    for setting in [
        "post \"a=[A | raw]\"",
        "url \"https://a.example/[A | raw]\"",
        "json { \"a\": \"[A | raw]\" }",
    ] {
        let url = if setting.starts_with("url") {
            ""
        } else {
            "        url \"https://a.example/x\"\n"
        };
        let (err, _) = check(&format!(
            "    webhook \"W\" {{\n{url}        {setting}\n    }}\n"
        ));
        assert!(err.contains("campaign::filter::raw"), "{setting}: {err}");
    }
}
