//! JSON bodies: a key written twice in one object. The body would carry it
//! twice, and receivers disagree on which value wins (most keep the last,
//! some the first, some refuse the body), as `post` labels written twice do.

use std::collections::HashSet;

use super::walk_webhooks;
use crate::diagnostics::{codes, Diagnostic};
use crate::syntax::ast::{Campaign, Json, JsonKind, Setting};

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
                for (key, value) in members {
                    if !seen.insert(key.node.as_str()) {
                        out.push(
                            Diagnostic::error(
                                codes::JSON_DUPLICATE_KEY,
                                key.span,
                                format!("key `{}` appears twice in this JSON object", key.node),
                            )
                            .label("duplicate key")
                            .help("receivers disagree on which value wins, and some refuse the body: remove one"),
                        );
                    }
                    stack.push(value);
                }
            }
            JsonKind::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
}
