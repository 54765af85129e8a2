//! Property tests through the whole pipeline: whatever a contact's fields
//! hold, decoding what the VM built gives back exactly the merged values.

use campaign::contacts::Contact;
use campaign::vm::{Event, Run, Secrets, Vm};
use proptest::prelude::*;

const SOURCE: &str = r#"campaign "P" {
    webhook "Form" {
        url "https://app.example.com/p/[First Name]?email=[Email]"
        post "First_Name=[First Name]&Email=[Email]&fixed=a b&c"
    }
    webhook "Json" {
        url "https://app.example.com/j"
        json { "name": "[First Name]", "email": [Email], "both": ["[First Name] <[Email]>"] }
    }
}
"#;

fn requests(first: &str, email: &str) -> Vec<(String, String)> {
    let program = campaign::compile(SOURCE, None).unwrap().program;
    let mut vm = Vm::new(&program, Secrets::Masked);
    let mut fields = vec![None; program.fields.len()];
    fields[program.field_id("First Name").unwrap() as usize] = Some(first.to_string());
    fields[program.field_id("Email").unwrap() as usize] = Some(email.to_string());
    let contact = Contact {
        id: "1".into(),
        row: 1,
        fields,
        tags: vec![],
    };
    let mut run = Run::new(contact, 0);
    let mut out = Vec::new();
    loop {
        match vm.next(&mut run) {
            Event::Webhook(r) => out.push((r.url.clone(), r.body.clone())),
            Event::Done | Event::Error(_) => return out,
            other => panic!("unexpected {other:?}"),
        }
    }
}

proptest! {
    #[test]
    fn form_body_decodes_to_the_merged_values(first in any::<String>(), email in any::<String>()) {
        prop_assume!(first != "." && first != "..");
        let reqs = requests(&first, &email);
        let pairs: Vec<(String, String)> = form_urlencoded::parse(reqs[0].1.as_bytes()).into_owned().collect();
        prop_assert_eq!(pairs, vec![
            ("First_Name".to_string(), first.clone()),
            ("Email".to_string(), email.clone()),
            ("fixed".to_string(), "a b".to_string()),
            ("c".to_string(), String::new()),
        ]);
        // Byte-exact against the WHATWG serializer.
        let expected = form_urlencoded::Serializer::new(String::new())
            .append_pair("First_Name", &first)
            .append_pair("Email", &email)
            .append_pair("fixed", "a b")
            .append_pair("c", "")
            .finish();
        prop_assert_eq!(&reqs[0].1, &expected);
    }

    #[test]
    fn url_merges_decode_and_never_change_the_host(first in any::<String>(), email in any::<String>()) {
        // `.` and `..` would be dot segments: the VM refuses them (tested below).
        prop_assume!(first != "." && first != "..");
        let reqs = requests(&first, &email);
        let url = url::Url::parse(&reqs[0].0).unwrap();
        prop_assert_eq!(url.host_str(), Some("app.example.com"));
        let segment = url.path_segments().unwrap().nth(1).unwrap().to_string();
        let decoded = percent_encoding::percent_decode_str(&segment).decode_utf8().unwrap();
        prop_assert_eq!(decoded.as_ref(), first.as_str());
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        prop_assert_eq!(query, vec![("email".to_string(), email.clone())]);
    }

    #[test]
    fn json_body_parses_to_the_merged_values(first in any::<String>(), email in any::<String>()) {
        prop_assume!(first != "." && first != "..");
        let reqs = requests(&first, &email);
        let body: serde_json::Value = serde_json::from_str(&reqs[1].1).unwrap();
        prop_assert_eq!(&body["name"], &serde_json::Value::String(first.clone()));
        prop_assert_eq!(&body["email"], &serde_json::Value::String(email.clone()));
        prop_assert_eq!(&body["both"][0], &serde_json::Value::String(format!("{first} <{email}>")));
    }
}

#[test]
fn a_merged_dot_segment_fails_the_contact_instead_of_moving_the_request() {
    for first in [".", ".."] {
        assert!(
            requests(first, "e").is_empty(),
            "{first:?} must not be sent"
        );
    }
    assert_eq!(requests("...", "e").len(), 2);
}
