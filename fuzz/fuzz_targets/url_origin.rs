//! Differential: the URL check against the sender's parser. The input is a
//! URL template and three field values; when `check` accepts the template,
//! the VM merges the values and the URL it would send must keep the
//! template's origin (with `dynamic host`: its scheme and user name) and
//! the literal path before the first merge, or fail the contact.
//!
//! Input: `[\x05]template\x01value\x01value\x01value` (lossy UTF-8). In the
//! template `\x02` is `[F0]`, `\x03` is `[F1 | raw]`, `\x04` is `[F2]`, and
//! everything else is literal text; a leading `\x05` adds `dynamic host`.
//!
//! The template goes through the real template lexer, checks, code
//! generator and VM; only the file grammar (pest) is skipped, by building
//! the one-webhook campaign around it directly, so the target runs at
//! thousands of executions per second. tests/url_origin.rs runs the same
//! properties through `campaign::compile` and the dry run.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run url_origin seeds-url
//! -- -dict=campaign.dict` (see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

use campaign::contacts::Contact;
use campaign::syntax::ast::{Campaign, Setting, Step, StepKind, Webhook};
use campaign::span::{Span, Spanned};
use campaign::vm::{Event, Run, Secrets, Vm};

/// Literal text as the contents of a campaign string literal.
fn escape(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '"' => out.push_str("\\\""),
        '[' => out.push_str("\\["),
        ']' => out.push_str("\\]"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        c => out.push(c),
    }
}

/// The URL the VM builds for one contact, or `None` if the contact failed.
fn sent(program: &campaign::compile::Program, values: [&str; 3]) -> Option<String> {
    let mut fields = vec![None; program.fields.len()];
    for (name, value) in ["F0", "F1", "F2"].iter().zip(values) {
        if let Some(id) = program.field_id(name) {
            fields[id as usize] = Some(value.to_string());
        }
    }
    let contact = Contact {
        id: "1".into(),
        row: 1,
        fields,
        tags: Vec::new(),
    };
    let mut vm = Vm::new(program, Secrets::Masked);
    let mut run = Run::new(contact, 0);
    match vm.next(&mut run) {
        Event::Webhook(request) => {
            let url = request.url.clone();
            // The sender checks the URL it sends the same way.
            let parsed = url::Url::parse(&url).expect("the VM only sends URLs that parse");
            assert_eq!(parsed.as_str(), url, "the dry run shows what is sent");
            if let Some(shape) = &program.webhooks[0].url_shape {
                assert_eq!(shape.check_parsed(&parsed, None), Ok(()), "{url}");
            }
            Some(url)
        }
        Event::Error(_) => None,
        other => panic!("unexpected event {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{1}');
    let template = parts.next().unwrap_or("");
    let values = [
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    ];
    let (dynamic_host, template) = match template.strip_prefix('\u{5}') {
        Some(rest) => (true, rest),
        None => (false, template),
    };
    let mut url = String::new();
    for c in template.chars() {
        match c {
            '\u{2}' => url.push_str("[F0]"),
            '\u{3}' => url.push_str("[F1 | raw]"),
            '\u{4}' => url.push_str("[F2]"),
            c => escape(&mut url, c),
        }
    }
    let span = Span::new(0, url.len());
    let Ok(parsed) = campaign::syntax::template::parse_template(&url, 0, span) else {
        return;
    };
    let mut settings = vec![Spanned::new(Setting::Url(parsed), span)];
    if dynamic_host {
        settings.push(Spanned::new(Setting::DynamicHost, span));
    }
    let ast = Campaign {
        name: Spanned::new("F".into(), span),
        triggers: Vec::new(),
        steps: vec![Step {
            kind: StepKind::Webhook(Box::new(Webhook {
                name: Spanned::new("W".into(), span),
                settings,
            })),
            span,
            keyword: span,
        }],
        span,
    };
    if campaign::check::check(&ast, None)
        .iter()
        .any(|d| d.is_error())
    {
        return; // `check` refused the template
    }
    let compiled = campaign::compile::generate(&ast);
    let source = &url;
    let program = &compiled;
    let neutral = if dynamic_host {
        ["nva.example", "nvb", "nvc"]
    } else {
        ["nva", "nvb", "nvc"]
    };
    let reference = sent(program, neutral);
    if !dynamic_host {
        assert!(reference.is_some(), "neutral values failed for {source}");
    }
    let (Some(reference), Some(got)) = (reference, sent(program, values)) else {
        return;
    };
    let (reference, got) = (
        url::Url::parse(&reference).unwrap(),
        url::Url::parse(&got).unwrap(),
    );
    let fixed = if dynamic_host {
        url::Position::BeforeHost
    } else {
        url::Position::BeforePath
    };
    assert_eq!(&got[..fixed], &reference[..fixed], "{source}\n{values:?}");
    if dynamic_host {
        assert!(got.host_str().is_some_and(|h| !h.is_empty()), "{got}");
    }
    let first_merge = ["nva", "nvb", "nvc"]
        .iter()
        .filter_map(|v| reference.path().find(v))
        .min()
        .unwrap_or(reference.path().len());
    let prefix = &reference.path()[..first_merge];
    assert!(
        got.path().starts_with(prefix),
        "{got} lost the literal path prefix {prefix:?}\n{source}\n{values:?}"
    );
    if !template.contains('\u{3}') {
        // Without raw merges no value adds or removes a segment.
        assert_eq!(
            got.path().matches('/').count(),
            reference.path().matches('/').count(),
            "{got} vs {reference}\n{source}\n{values:?}"
        );
    }
});
