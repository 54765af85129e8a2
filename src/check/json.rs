//! JSON bodies: a key written twice in one object. The body would carry it
//! twice, and receivers disagree on which value wins (most keep the last,
//! some the first, some refuse the body), as `post` labels written twice do.

use std::collections::HashSet;

use super::walk_webhooks;
use crate::diagnostics::{codes, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{
    literal_text, literal_tokens_in, Campaign, Json, JsonKind, LiteralRole, Member, Setting,
};

pub(super) fn check(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    walk_webhooks(campaign, &mut |w| {
        for s in &w.settings {
            if let Setting::Json(json) = &s.node {
                duplicate_keys(json, out);
            }
        }
    });
}

fn duplicate_keys(json: &Json, out: &mut Vec<Diagnostic>) {
    // An explicit stack: nesting is bounded by the parser, but a walk
    // should not rely on it.
    let mut stack = vec![json];
    while let Some(json) = stack.pop() {
        match &json.kind {
            JsonKind::Object(members) => {
                let mut seen = HashSet::with_capacity(members.len());
                for member in members {
                    match member {
                        Member::One(key, value) => {
                            if !seen.insert(key.node.as_str()) {
                                out.push(duplicate(&key.node, key.span));
                            }
                            stack.push(value);
                        }
                        Member::Run(run) => {
                            literal_duplicates(&run.node, run.span, Some(&mut seen), out)
                        }
                    }
                }
            }
            JsonKind::Array(items) => stack.extend(items.iter()),
            JsonKind::Literal(text) | JsonKind::Run(text) => {
                literal_duplicates(text, json.span, None, out)
            }
            _ => {}
        }
    }
}

/// The duplicate keys in literal JSON text written at `at`; the keys of
/// the object it stands in go to `outer` (a [`Member::Run`]'s).
fn literal_duplicates<'a>(
    text: &'a str,
    at: Span,
    mut outer: Option<&mut HashSet<&'a str>>,
    out: &mut Vec<Diagnostic>,
) {
    // The keys of each object open at this point.
    let mut open: Vec<Option<HashSet<&str>>> = Vec::new();
    let start = at.start as usize;
    for t in literal_tokens_in(text, outer.is_some()) {
        match t.role {
            LiteralRole::Open => open.push((t.text == "{").then(HashSet::new)),
            LiteralRole::Close => drop(open.pop()),
            LiteralRole::Key => {
                let key = literal_text(t.text);
                let seen = match open.last_mut() {
                    Some(top) => top.as_mut(),
                    None => outer.as_deref_mut(),
                };
                if let Some(seen) = seen {
                    if !seen.insert(key) {
                        let at = start + t.at;
                        out.push(duplicate(key, Span::new(at, at + t.text.len())));
                    }
                }
            }
            LiteralRole::Value => {}
        }
    }
}

fn duplicate(key: &str, at: Span) -> Diagnostic {
    Diagnostic::error(
        codes::JSON_DUPLICATE_KEY,
        at,
        format!("key `{key}` appears twice in this JSON object"),
    )
    .label("duplicate key")
    .help("receivers disagree on which value wins, and some refuse the body: remove one")
}
