//! JSON bodies are read two ways: literal stretches (no merge, no escape,
//! no comment) as one pest pair walked later as text, the rest piece by
//! piece (grammar/campaign.pest, "Literal JSON"). Both must mean the same:
//! for generated bodies, the body written plainly (mostly literal) and the
//! same body with a comment after every bracket and comma (never literal)
//! compile to the same program with the same diagnostics, and a body
//! without merges is sent as the JSON it was written as.

mod support;

use campaign::compile::instructions::{Instruction, Program, Target};
use proptest::prelude::*;
use serde_json::Value;
use support::meaning;

#[derive(Debug, Clone)]
enum Body {
    /// A scalar as written: a number, `true`, `false`, `null` or a string
    /// with its quotes.
    Scalar(String),
    /// `[Email]`, which no literal may hold.
    Merge,
    Array(Vec<Body>, bool),
    Object(Vec<(String, Body)>, bool),
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
        Just("true".to_string()),
        Just("false".to_string()),
        Just("null".to_string()),
        // Plain strings, with what a tokenizer might split on inside.
        "[a-z ,:{}\\]é\t]{0,6}".prop_map(|s| format!("\"{s}\"")),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    let leaf = prop_oneof![
        9 => scalar().prop_map(Body::Scalar),
        1 => Just(Body::Merge),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), any::<bool>())
                .prop_map(|(items, comma)| Body::Array(items, comma)),
            (prop::collection::vec(("[a-d]", inner), 0..6), any::<bool>())
                .prop_map(|(members, comma)| Body::Object(members, comma)),
        ]
    })
}

/// The body as campaign source; with `comments`, a comment after every
/// opening bracket and comma, so that no part of it is literal.
fn source(body: &Body, comments: bool, out: &mut String) {
    let gap = if comments { " // c\n" } else { " " };
    let list =
        |out: &mut String, n: usize, comma: bool, each: &mut dyn FnMut(&mut String, usize)| {
            for i in 0..n {
                each(out, i);
                if i + 1 < n || comma {
                    out.push(',');
                    out.push_str(gap);
                }
            }
        };
    match body {
        Body::Scalar(s) => out.push_str(s),
        Body::Merge => out.push_str("[Email]"),
        Body::Array(items, comma) => {
            out.push('[');
            out.push_str(gap);
            list(
                out,
                items.len(),
                *comma && !items.is_empty(),
                &mut |out, i| source(&items[i], comments, out),
            );
            out.push(']');
        }
        Body::Object(members, comma) => {
            out.push('{');
            out.push_str(gap);
            list(
                out,
                members.len(),
                *comma && !members.is_empty(),
                &mut |out, i| {
                    out.push_str(&format!("\"{}\": ", members[i].0));
                    source(&members[i].1, comments, out);
                },
            );
            out.push('}');
        }
    }
}

fn campaign_with(body: &Body, comments: bool) -> String {
    let mut json = String::new();
    match body {
        // A body is an object or an array.
        Body::Scalar(_) | Body::Merge => {
            source(&Body::Array(vec![body.clone()], false), comments, &mut json)
        }
        _ => source(body, comments, &mut json),
    }
    format!(
        "campaign \"J\" {{\n    webhook \"W\" {{\n        url \"https://api.example.com/x\"\n        json {json}\n    }}\n}}\n"
    )
}

/// The body text a program sends, when it merges nothing.
fn body_text(program: &Program) -> String {
    let mut text = String::new();
    let mut in_body = false;
    for ins in &program.code {
        match ins {
            Instruction::Begin(target) => in_body = *target == Target::Body,
            Instruction::EmitText(i) if in_body => text.push_str(&program.texts[*i as usize]),
            _ => {}
        }
    }
    text
}

fn has_merge(body: &Body) -> bool {
    match body {
        Body::Merge => true,
        Body::Scalar(_) => false,
        Body::Array(items, _) => items.iter().any(has_merge),
        Body::Object(members, _) => members.iter().any(|(_, v)| has_merge(v)),
    }
}

/// Numbers compared as values (`1e2` is sent as `100`, `-0` as `0`), to
/// twelve significant digits: serde_json's own float parser may be a unit
/// in the last place off for one spelling of a value and not for another.
fn numbers_as_floats(v: Value) -> Value {
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN) + 0.0;
            Value::String(format!("{x:.11e}"))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_floats).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, numbers_as_floats(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The body as standard JSON (no trailing commas), for serde_json.
fn standard(body: &Body, out: &mut String) {
    match body {
        Body::Scalar(s) => out.push_str(&s.replace('\t', "\\t")),
        Body::Merge => out.push_str("null"),
        Body::Array(items, _) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                standard(item, out);
            }
            out.push(']');
        }
        Body::Object(members, _) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("\"{k}\":"));
                standard(v, out);
            }
            out.push('}');
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn literal_and_piecewise_bodies_mean_the_same(body in body()) {
        let plain = campaign_with(&body, false);
        let commented = campaign_with(&body, true);
        prop_assert_eq!(meaning(&plain), meaning(&commented), "\n{}\n{}", plain, commented);
        let body = match body {
            Body::Scalar(_) | Body::Merge => Body::Array(vec![body], false),
            body => body,
        };
        if let (false, Ok(compiled)) = (has_merge(&body), campaign::compile(&plain, None)) {
            let sent: Value = serde_json::from_str(&body_text(&compiled.program))
                .map_err(|e| TestCaseError::fail(format!("{e}: {plain}")))?;
            let mut json = String::new();
            standard(&body, &mut json);
            let written: Value = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(numbers_as_floats(sent), numbers_as_floats(written), "{}", plain);
        }
    }
}

/// A duplicate key inside a literal body is found, at its exact place, as
/// it is in a body read piece by piece.
#[test]
fn a_duplicate_key_in_a_literal_body_is_placed_exactly() {
    let source = "campaign \"J\" {\n    webhook \"W\" {\n        url \"https://api.example.com/x\"\n        json { \"a\": [1, {\"b\": 2, \"b\": 3}], \"api_key\": \"k1\" }\n    }\n}\n";
    let errors = campaign::compile(source, None).unwrap_err();
    let dup: Vec<_> = errors
        .iter()
        .filter(|d| d.code == "campaign::json::duplicate_key")
        .map(|d| &source[d.span.start as usize..d.span.end as usize])
        .collect();
    assert_eq!(dup, ["\"b\""]);
    let at = source.find("\"b\": 3").unwrap();
    let d = errors
        .iter()
        .find(|d| d.code == "campaign::json::duplicate_key")
        .unwrap();
    assert_eq!(d.span.start as usize, at);
    let diagnostics = campaign::diagnose(source, None);
    let credential = diagnostics
        .iter()
        .find(|d| d.code == "campaign::credential::literal")
        .expect("a credential warning");
    assert_eq!(
        &source[credential.span.start as usize..credential.span.end as usize],
        "\"k1\""
    );
}

/// A syntax error just after a literal stretch is placed where the body
/// went wrong, not at the start of the body: pest does not see inside the
/// atomic literal rules, so a file that does not parse is parsed again
/// without them (grammar/json_strict.pest). Each case marks with `^` the
/// value pest names (the last one it read before the error, as for any
/// body).
#[test]
fn a_syntax_error_after_a_literal_stretch_is_placed_in_the_body() {
    for (body, at) in [
        (r#"{ "a": 1 "b": 2 }"#, r#"1 "b""#),
        (r#"[1, 2 3]"#, "2 3"),
        (r#"[{"a": 1}, {"a": 2} {"a": 3}]"#, r#"2} {"#),
        (r#"{ "k": [1, 2], "x": [Email] "d": 2 }"#, r#"Email] "d""#),
        (r#"[[[[1]]]"#, "1]]]"),
    ] {
        let source = format!(
            "campaign \"J\" {{\n    webhook \"W\" {{\n        url \"https://api.example.com/x\"\n        json {body}\n    }}\n}}\n"
        );
        let errors = campaign::compile(&source, None).unwrap_err();
        let first = &errors[0];
        assert!(
            first.code.starts_with("campaign::syntax::"),
            "{body}: {first:?}"
        );
        let expected = source.find(at).unwrap();
        assert_eq!(first.span.start as usize, expected, "{body}: {first:?}");
    }
}
